package kraken_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// failure returns err's scheduler error, failing t if there is none.
func failure(t *testing.T, err error) *scheduler.Error {
	t.Helper()
	var se *scheduler.Error
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a scheduler failure", err)
	}
	return se
}

// TestLimitSignals drives each of Kraken's limit and auth signals out of the simulator and
// through a real scheduler, and checks its class end to end.
func TestLimitSignals(t *testing.T) {
	t.Run("EAPI:Rate limit exceeded", func(t *testing.T) {
		// A scheduler that believes the counter is 10 times larger overruns it.
		s := startSim(t, func(c *sim.Config) { c.TimeScale = 1 })
		f := newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.TimeScale = 1 }, sched: func(c *scheduler.Config) {
			for i := range c.Windows {
				c.Windows[i].Limit *= 10
			}
			c.Retries.RateLimit = -1
		}})
		ctx := testCtx(t)
		var err error
		for i := 0; i < 30 && err == nil; i++ {
			_, err = f.client.Balances(ctx)
		}
		se := failure(t, err)
		if se.Class != scheduler.ClassRateLimit || !strings.HasPrefix(se.Outcome.Message, "EAPI:Rate limit exceeded") {
			t.Fatalf("got %v", err)
		}
		// The exchange's verdict reaches the scheduler: the REST counter is at its maximum.
		if !hasUsage(se.Outcome.Usage, kraken.WindowREST) {
			t.Fatalf("usage %+v", se.Outcome.Usage)
		}
	})
	t.Run("EOrder:Rate limit exceeded", func(t *testing.T) {
		s := startSim(t, func(c *sim.Config) { c.TimeScale = 1 })
		n := newNaive(t, s, testKey)
		// Another client of the account fills the pair's trading counter (starter: 60).
		for i := range 60 {
			if e := n.call("AddOrder", url.Values{"pair": {"XBTUSDT"}, "type": {"buy"}, "ordertype": {"limit"},
				"price": {"50000.00"}, "volume": {"0.0002"}}); e != "" {
				t.Fatalf("order %d: %s", i, e)
			}
		}
		f := newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.TimeScale = 1 },
			sched: func(c *scheduler.Config) { c.Retries.RateLimit = -1 }})
		ctx := testCtx(t)
		_, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			Quantity: decimal.RequireFromString("0.0002"), Price: decimal.RequireFromString("50000.00"), ClientOrderID: "kl-sig-1"})
		se := failure(t, err)
		if se.Class != scheduler.ClassRateLimit || !se.Outcome.OrderLimit || !strings.HasPrefix(se.Outcome.Message, "EOrder:Rate limit exceeded") {
			t.Fatalf("got %v (order limit %v)", err, se.Outcome.OrderLimit)
		}
		// Reads are not held by the trading counter.
		if _, err := f.client.Balances(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("EService:Throttled", func(t *testing.T) {
		s := startSim(t, nil)
		f := newFixture(t, s, fixtureOpts{})
		ctx := testCtx(t)
		if _, err := f.client.ExchangeInfo(ctx); err != nil {
			t.Fatal(err)
		}
		s.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, RetryAfterS: 120})
		_, err := f.client.Ticker(ctx, "BTCUSDT")
		se := failure(t, err)
		if se.Class != scheduler.ClassRateLimit || se.Outcome.RetryAfter != 120*time.Second {
			t.Fatalf("got %v, retry after %v", err, se.Outcome.RetryAfter)
		}
	})
	t.Run("EGeneral:Temporary lockout", func(t *testing.T) {
		s := startSim(t, func(c *sim.Config) { c.Abuse.AuthFailures = 3 })
		bad := newNaive(t, s, "keel-no-such-key")
		for range 3 {
			if e := bad.call("Balance", nil); e != "EAPI:Invalid key" {
				t.Fatalf("bad key answered %q", e)
			}
		}
		f := newFixture(t, s, fixtureOpts{})
		_, err := f.client.Balances(testCtx(t))
		se := failure(t, err)
		if se.Class != scheduler.ClassAuth || se.Outcome.Message != "EGeneral:Temporary lockout" || se.Attempts != 1 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("EAPI:Invalid nonce", func(t *testing.T) {
		s := startSim(t, nil)
		f := newFixture(t, s, fixtureOpts{opts: []kraken.Option{kraken.WithNonceSource(fixedNonce(42))}})
		ctx := testCtx(t)
		if _, err := f.client.Balances(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := f.client.Balances(ctx)
		se := failure(t, err)
		if se.Class != scheduler.ClassAuth || se.Outcome.Message != "EAPI:Invalid nonce" || se.Attempts != 1 {
			t.Fatalf("got %v: an invalid nonce must stop, not be retried", err)
		}
	})
}

func hasUsage(us []scheduler.Usage, window string) bool {
	for _, u := range us {
		if u.Window == window && u.Used > 0 {
			return true
		}
	}
	return false
}

type fixedNonce uint64

func (n fixedNonce) Next(context.Context) (uint64, error) { return uint64(n), nil }

// TestCancelChargedByAge: the trading window is charged by the order's age when the cancel
// goes out — a fresh order's cancel 8, one that rested 300 s (nominal) none — so the
// adapter can cancel a whole book of old orders without hitting the pair's counter.
func TestCancelChargedByAge(t *testing.T) {
	const scale = 1000
	s := startSim(t, func(c *sim.Config) { c.TimeScale = scale })
	f := newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.TimeScale = scale }})
	ctx := testCtx(t)
	const n = 12 // 12 adds + 12 fresh cancels would cost 108 > 60
	var ids []string
	for i := range n {
		id := "kl-age-" + strconv.Itoa(i)
		if _, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			Quantity: decimal.RequireFromString("0.0002"), Price: decimal.RequireFromString("50000.00"), ClientOrderID: id}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// 300 s of nominal age: 0.3 s at TimeScale 1000. Only a real wait ages the orders on
	// the simulator, the adapter and the scheduler alike.
	<-time.After(300 * time.Second / scale)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.client.CancelOrder(ctx, "BTCUSDT", id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if st := s.Stats(); st.Total.Status429 != 0 {
		t.Fatalf("%d rate-limit answers", st.Total.Status429)
	}
}
