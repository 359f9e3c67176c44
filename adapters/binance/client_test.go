package binance_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// usedWeight is the weight the simulator counts for the test's IP in the current window.
func usedWeight(s *sim.Server) int64 { return s.Stats().UsedWeightTotal }

// TestEndpointWeights calls every endpoint the adapter declares over real HTTP and holds the
// REQUEST_WEIGHT the adapter reserves with the scheduler — what it actually put in the
// scheduler.Request, not a number copied here — to what the exchange (the simulator)
// charged, so a drift between the two fails; and both to rest-api.md's number.
func TestEndpointWeights(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	c := f.client
	if err := c.SyncTime(ctx); err != nil { // signed calls would sync on their own
		t.Fatal(err)
	}
	info, err := c.ExchangeInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	si, _ := info.Symbol("BTCUSDT")
	tk, err := c.Ticker(ctx, "BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	price := tk.Price.Mul(decimal.RequireFromString("0.8")).Div(si.TickSize).Floor().Mul(si.TickSize)
	resting := adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: decimal.RequireFromString("0.001"), Price: price, ClientOrderID: adaptertest.NewClientOrderID()}

	// Successful placements and cancels (one order or all of a symbol's) weigh 0 since
	// 2026-04-02 (CHANGELOG 2026-03-27); the adapter reserves the failure charge (1), and the
	// exchange must charge nothing.
	tests := []struct {
		name string
		doc  int64 // rest-api.md's weight
		free bool  // successful calls weigh 0
		call func() error
	}{
		{"ping", 1, false, func() error { return c.Ping(ctx) }},
		{"time", 1, false, func() error { return c.SyncTime(ctx) }},
		{"exchangeInfo", 20, false, func() error { _, err := c.ExchangeInfo(ctx); return err }},
		{"ticker/price", 2, false, func() error { _, err := c.Ticker(ctx, "BTCUSDT"); return err }},
		{"ticker/bookTicker", 2, false, func() error { _, err := c.BookTicker(ctx, "BTCUSDT"); return err }},
		{"klines", 2, false, func() error { _, err := c.Candles(ctx, "BTCUSDT", "1m", adapters.CandleQuery{Limit: 1000}); return err }},
		{"depth default", 5, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 0); return err }},
		{"depth 100", 5, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 100); return err }},
		{"depth 101", 25, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 101); return err }},
		{"depth 500", 25, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 500); return err }},
		{"depth 501", 50, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 501); return err }},
		{"depth 1000", 50, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 1000); return err }},
		{"depth 1001", 250, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 1001); return err }},
		{"depth 5000", 250, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 5000); return err }},
		{"depth 9000", 250, false, func() error { _, err := c.Depth(ctx, "BTCUSDT", 9000); return err }},
		{"account (balances)", 20, false, func() error { _, err := c.Balances(ctx); return err }},
		{"account (standing)", 20, false, func() error { _, err := c.Account(ctx); return err }},
		{"account/commission", 20, false, func() error { _, err := c.TradingFees(ctx, "BTCUSDT"); return err }},
		{"POST order", 1, true, func() error { _, err := c.PlaceOrder(ctx, resting); return err }},
		{"GET order", 4, false, func() error { _, err := c.QueryOrder(ctx, "BTCUSDT", resting.ClientOrderID); return err }},
		{"GET openOrders symbol", 6, false, func() error { _, err := c.OpenOrders(ctx, "BTCUSDT"); return err }},
		{"GET openOrders all", 80, false, func() error { _, err := c.OpenOrders(ctx, ""); return err }},
		{"DELETE order", 1, true, func() error { _, err := c.CancelOrder(ctx, "BTCUSDT", resting.ClientOrderID); return err }},
		{"DELETE order unknown (charged)", 1, false, func() error {
			_, err := c.CancelOrder(ctx, "BTCUSDT", resting.ClientOrderID)
			if !errors.Is(err, adapters.ErrOrderNotFound) {
				return fmt.Errorf("want ErrOrderNotFound, got %w", err)
			}
			return nil
		}},
		{"POST order failed (charged)", 1, false, func() error {
			r := resting
			r.ClientOrderID = adaptertest.NewClientOrderID()
			r.Price = r.Price.Add(si.TickSize.Div(decimal.NewFromInt(3))) // off the tick grid: -1013
			if _, err := c.PlaceOrder(ctx, r); scheduler.ClassOf(err) != scheduler.ClassValidation {
				return fmt.Errorf("want a validation failure, got %v", err)
			}
			return nil
		}},
		{"DELETE openOrders", 1, true, func() error {
			r := resting
			r.ClientOrderID = adaptertest.NewClientOrderID()
			if _, err := c.PlaceOrder(ctx, r); err != nil {
				return err
			}
			cancelled, err := c.CancelAllOpenOrders(ctx, "BTCUSDT")
			if err != nil {
				return err
			}
			if len(cancelled) != 1 || cancelled[0].ClientOrderID != r.ClientOrderID || cancelled[0].Status != adapters.StatusCanceled {
				return fmt.Errorf("cancelled %+v", cancelled)
			}
			return nil
		}},
		{"myTrades", 20, false, func() error { _, err := c.Trades(ctx, "BTCUSDT", 0); return err }},
		{"apiRestrictions", 1, false, func() error {
			p, err := c.KeyPermissions(ctx)
			if err == nil && (!p.CanTrade || p.CanWithdraw || p.KeyType == "") {
				err = fmt.Errorf("the simulator's default key: %+v, want trading, no withdrawals, a key type", p)
			}
			return err
		}},
	}
	exercised := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := len(f.sched.Requests())
			before := usedWeight(f.sim)
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			charged := usedWeight(f.sim) - before
			reqs := f.sched.Requests()[from:]
			var reserved int64
			for _, r := range reqs {
				reserved += r.cost(binance.WindowRequestWeight)
				exercised[r.endpoint] = true // declared weights are checked below even if the charge cannot be
			}
			if charged < 0 {
				t.Skip("the weight window rolled over during the call")
			}
			last := reqs[len(reqs)-1].cost(binance.WindowRequestWeight)
			switch {
			case tt.free && charged != 0:
				t.Fatalf("the exchange charged %d for a successful call that weighs 0", charged)
			case !tt.free && charged != reserved:
				t.Fatalf("the exchange charged %d, the adapter reserved %d (%d requests)", charged, reserved, len(reqs))
			}
			if last != tt.doc {
				t.Fatalf("the adapter reserves %d for %s, rest-api.md says %d", last, reqs[len(reqs)-1].endpoint, tt.doc)
			}
		})
	}
	for _, ep := range binance.DeclaredEndpoints() {
		if !exercised[ep] {
			t.Errorf("%s is declared but no row checks its weight", ep)
		}
	}
}

// TestDocumentedExampleAcceptedBySimulator sends the exact request of rest-api.md's HMAC
// example (apiKey vmPUZE6..., timestamp 1499827319559) to a simulator whose clock is set to
// that instant, and checks the adapter's own signing with the same key is accepted too.
func TestDocumentedExampleAcceptedBySimulator(t *testing.T) {
	const (
		apiKey = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
		secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
		body   = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
	)
	s := startSim(t, sim.Config{
		Accounts: []sim.Account{{APIKey: apiKey, HMACSecret: secret, Balances: map[string]string{"BTC": "10", "LTC": "10"}}},
		Symbols: []sim.Symbol{{Name: "LTCBTC", Base: "LTC", Quote: "BTC", Price: "0.2",
			MinPrice: "0.000001", MaxPrice: "100000", TickSize: "0.000001", MinQty: "0.001", MaxQty: "100000", StepSize: "0.001",
			MinNotional: "0.0001"}},
	})
	s.SetClockOffset(time.UnixMilli(1499827319559 + 200).Sub(time.Now()))
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/v3/order", strings.NewReader(body))
	req.Header.Set("X-MBX-APIKEY", apiKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("documented request: %d %s", resp.StatusCode, raw)
	}
	var o struct{ Symbol, Status string }
	if err := json.Unmarshal(raw, &o); err != nil || o.Symbol != "LTCBTC" || o.Status != "NEW" {
		t.Fatalf("documented request answered %s", raw)
	}

	s.SetClockOffset(0)
	f := newClientOn(t, s, fixtureOpts{cfg: func(c *binance.Config) { c.APIKey, c.APISecret = apiKey, secret }})
	if _, err := f.client.Balances(testCtx(t)); err != nil {
		t.Fatalf("the adapter signing with the documented key: %v", err)
	}
}

// TestClockDriftRefusedBeforeSending: with the exchange's clock two minutes ahead, a signed
// call is refused before anything signed reaches the exchange, classified auth.
func TestClockDriftRefusedBeforeSending(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	f.sim.SetClockOffset(2 * time.Minute)
	_, err := f.client.Balances(testCtx(t))
	if !errors.Is(err, binance.ErrClockDrift) {
		t.Fatalf("got %v, want ErrClockDrift", err)
	}
	if c := scheduler.ClassOf(err); c != scheduler.ClassAuth {
		t.Fatalf("class %s, want auth", c)
	}
	var de *binance.ClockDriftError
	if !errors.As(err, &de) || de.Offset < time.Minute || de.Window != 5*time.Second {
		t.Fatalf("drift error: %#v", de)
	}
	st := f.sim.Stats()
	if n := st.Endpoints["GET /api/v3/account"].Requests; n != 0 {
		t.Fatalf("%d account requests reached the exchange", n)
	}
	if st.Total.AuthFailures != 0 {
		t.Fatalf("the exchange saw %d auth failures", st.Total.AuthFailures)
	}
	if n := st.Endpoints["GET /api/v3/time"].Requests; n != 1 {
		t.Fatalf("time requests: %d, want 1 (the sync that found the drift)", n)
	}
}

// TestUnknownOutcome: a placement the exchange applied but answered -1007 (or never answered)
// is an unknown outcome, not a failure; the order is found by its client order id.
func TestUnknownOutcome(t *testing.T) {
	for name, faults := range map[string]sim.Faults{
		"-1007":          {UnknownRate: 1, Paths: []string{"/api/v3/order"}},
		"connection cut": {TimeoutRate: 1, Paths: []string{"/api/v3/order"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, sim.Config{}, fixtureOpts{})
			ctx := testCtx(t)
			tk, err := f.client.Ticker(ctx, "ETHUSDT")
			if err != nil {
				t.Fatal(err)
			}
			req := adapters.OrderRequest{Symbol: "ETHUSDT", Side: adapters.Buy, Type: adapters.Limit,
				Quantity: decimal.RequireFromString("0.01"), Price: tk.Price.Mul(decimal.RequireFromString("0.5")).Round(2),
				ClientOrderID: adaptertest.NewClientOrderID()}
			f.sim.SetFaults(faults)
			_, err = f.client.PlaceOrder(ctx, req)
			if !errors.Is(err, scheduler.ErrUnknownOutcome) {
				t.Fatalf("got %v, want ErrUnknownOutcome", err)
			}
			f.sim.SetFaults(sim.Faults{})
			o, err := f.client.QueryOrder(ctx, "ETHUSDT", req.ClientOrderID)
			if err != nil || o.Status != adapters.StatusNew {
				t.Fatalf("reconciling query: %+v %v", o, err)
			}
			if n := len(f.sim.Orders()); n != 1 {
				t.Fatalf("%d orders at the exchange, want 1", n)
			}
		})
	}
}

// TestTransientReadRetried: a 5xx on a read is retried by the scheduler.
func TestTransientReadRetried(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	f.sim.SetFaults(sim.Faults{ErrorRate: 1, Paths: []string{"/api/v3/ticker/price"}})
	_, err := f.client.Ticker(ctx, "BTCUSDT")
	if c := scheduler.ClassOf(err); c != scheduler.ClassTransient {
		t.Fatalf("class %s (%v), want transient", c, err)
	}
	var se *scheduler.Error
	if !errors.As(err, &se) || se.Attempts < 2 || se.Outcome.Code != -1008 || se.Outcome.Status != 503 {
		t.Fatalf("want a retried 503 -1008, got %#v", se)
	}
}

// TestUsageAdoptedByScheduler: weight another client used is reported in the headers of the
// adapter's next answer, and the scheduler's window adopts the exchange's count.
func TestUsageAdoptedByScheduler(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	for range 10 { // 200 weight by someone else on the same IP
		resp, err := f.http.Get(f.sim.URL() + "/api/v3/exchangeInfo")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if err := f.client.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	var reported int64
	for _, u := range f.sched.Usage() {
		if u.Window == binance.WindowRequestWeight {
			reported = u.Used
		}
	}
	if reported < 201 {
		t.Fatalf("usage reported %d, want >= 201: %+v", reported, f.sched.Usage())
	}
	for _, w := range f.sched.Snapshot().Windows {
		if w.Name == binance.WindowRequestWeight && w.Used < reported {
			t.Fatalf("scheduler window used %d, exchange reported %d", w.Used, reported)
		}
	}
}

// TestLimitsLearned: exchangeInfo's (time-scaled) windows reach the scheduler.
func TestLimitsLearned(t *testing.T) {
	f := newFixture(t, sim.Config{TimeScale: 60, Limits: sim.Limits{RequestWeight: 1200}}, fixtureOpts{})
	if _, err := f.client.ExchangeInfo(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	got := map[string]scheduler.WindowState{}
	for _, w := range f.sched.Snapshot().Windows {
		got[w.Name] = w
	}
	if w := got[binance.WindowRequestWeight]; w.Limit != 1200 || w.Interval != time.Second {
		t.Fatalf("REQUEST_WEIGHT window: %+v", w)
	}
	if w := got[binance.WindowRawRequests]; w.Interval != 5*time.Second {
		t.Fatalf("RAW_REQUESTS window: %+v", w)
	}
	if a, b := got[binance.WindowOrders10s], got[binance.WindowOrders1d]; a.Limit != 50 || b.Limit != 160000 || a.Interval >= b.Interval {
		t.Fatalf("ORDERS windows: %+v %+v", a, b)
	}
}

// TestServerTimeOffsetUsedAndFedToScheduler: an exchange clock 3s ahead (inside recvWindow)
// is compensated in timestamps and handed to the scheduler for its fixed windows, with how far
// off the measurement may be, which covers how far off it is.
func TestServerTimeOffsetUsedAndFedToScheduler(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	f.sim.SetClockOffset(3 * time.Second)
	if _, err := f.client.Balances(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	offs := f.sched.Offsets()
	if len(offs) != 1 || offs[0] < 2800*time.Millisecond || offs[0] > 3200*time.Millisecond {
		t.Fatalf("offsets fed to the scheduler: %v", offs)
	}
	within := f.sched.Uncertainties()
	if len(within) != 1 || within[0] < time.Millisecond || (offs[0]-3*time.Second).Abs() > within[0] {
		t.Fatalf("uncertainty fed to the scheduler: %v, for an offset of %v (true: 3s)", within, offs[0])
	}
}
