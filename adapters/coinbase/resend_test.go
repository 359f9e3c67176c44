package coinbase_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// loseFirstAnswer delivers the first create to the exchange, then loses its answer (the
// connection reset after the exchange applied it); every later request goes through. It
// records each create's body and Authorization.
type loseFirstAnswer struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies []string
	auths  []string
}

func (l *loseFirstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v3/brokerage/orders" {
		return l.base.RoundTrip(r)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	l.mu.Lock()
	l.bodies = append(l.bodies, string(b))
	l.auths = append(l.auths, r.Header.Get("Authorization"))
	first := len(l.bodies) == 1
	l.mu.Unlock()
	resp, err := l.base.RoundTrip(r)
	if err == nil && first {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

// TestUnknownOutcomeResolvedByIdenticalResend: a create the exchange applied but whose answer
// was lost is settled by sending the identical create again — the same body and
// client_order_id, a fresh JWT — which Coinbase answers with the original order: PlaceOrder
// returns it, and the exchange holds one order under the id.
func TestUnknownOutcomeResolvedByIdenticalResend(t *testing.T) {
	s := startSim(t, sim.Config{})
	tr := &loseFirstAnswer{base: &http.Transport{}}
	sch, err := scheduler.New(scheduler.Config{Exchange: "coinbase", InstanceID: "test", Windows: coinbase.SchedulerWindows(),
		Buckets: coinbase.SchedulerBuckets()}, scheduler.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	defer sch.Close()
	c, err := coinbase.New(coinbase.Config{BaseURL: s.URL(), APIKey: testKey, APISecret: coinbase.Secret(testPEM), Timeout: 5 * time.Second},
		sch, coinbase.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	req := adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit, TimeInForce: adapters.GTC,
		Quantity: decimal.RequireFromString("0.01"), Price: decimal.RequireFromString("1000"), ClientOrderID: "resend-1"}
	o, err := c.PlaceOrder(ctx, req)
	if err != nil {
		t.Fatalf("PlaceOrder after a lost answer: %v", err)
	}
	tr.mu.Lock()
	bodies, auths := append([]string(nil), tr.bodies...), append([]string(nil), tr.auths...)
	tr.mu.Unlock()
	if len(bodies) != 2 || bodies[0] != bodies[1] || auths[0] == auths[1] {
		t.Fatalf("creates sent: %d, identical bodies %v, distinct JWTs %v", len(bodies), len(bodies) == 2 && bodies[0] == bodies[1],
			len(auths) == 2 && auths[0] != auths[1])
	}
	n := 0
	for _, rec := range s.Orders() {
		if rec.ClientOrderID == req.ClientOrderID {
			n++
			if rec.OrderID == 0 {
				t.Fatalf("record %+v", rec)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d orders under the client order id, want 1", n)
	}
	if o.ClientOrderID != req.ClientOrderID || o.Status != adapters.StatusNew || o.ExchangeOrderID == "" {
		t.Fatalf("placed %+v", o)
	}
}

// TestClockStepIsAbsorbed: Coinbase's clock steps 3 s back after the adapter measured it; the
// next signed requests are still accepted (nbf is backdated), and no 401 reaches the auth
// breaker and the kill switch. (Forward, a step within jwt_lifetime is absorbed by exp.)
func TestClockStepIsAbsorbed(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	if _, err := f.client.Balances(ctx); err != nil {
		t.Fatal(err)
	}
	for _, step := range []time.Duration{-3 * time.Second, 3 * time.Second} {
		f.sim.SetClockOffset(step)
		for range 3 {
			if _, err := f.client.Balances(ctx); err != nil {
				t.Fatalf("after Coinbase's clock stepped %s: %v", step, err)
			}
		}
	}
	if n := f.sim.Stats().Total.AuthFailures; n != 0 {
		t.Fatalf("%d 401s after 3 s steps", n)
	}
}

// TestLastingClientIDsDeclared: the adapter declares lasting client order ids
// (adapters.LastingClientIDs), which is what lets the orders manager's restart reconciliation
// resend an unknown create; the in-process simulator (exchange.name sim, dialect coinbase),
// which forwards every create to this adapter, declares it too.
func TestLastingClientIDsDeclared(t *testing.T) {
	sch, err := scheduler.New(scheduler.Config{Exchange: "coinbase", InstanceID: "test", Windows: coinbase.SchedulerWindows(),
		Buckets: coinbase.SchedulerBuckets()}, scheduler.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	defer sch.Close()
	d, err := adapters.Lookup("sim")
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.NewConfig().(*sim.ExchangeConfig)
	cfg.Dialect = sim.DialectCoinbase
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var stops []func() error
	ex, err := d.New(cfg, adapters.Env{Scheduler: sch, OnStop: func(f func() error) { stops = append(stops, f) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, f := range stops {
			_ = f()
		}
	}()
	for name, x := range map[string]any{"embedded simulator": ex, "adapter": ex.(interface{ Unwrap() adapters.Exchange }).Unwrap()} {
		if l, ok := x.(adapters.LastingClientIDs); !ok || !l.LastingClientIDs() {
			t.Errorf("the %s does not declare lasting client order ids", name)
		}
	}
}
