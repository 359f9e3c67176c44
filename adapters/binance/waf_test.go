package binance_test

import (
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestWAFBlockStopsAndEscalates: when Binance's WAF answers 403, the adapter through a real
// scheduler gets an auth-class failure after one request, the auth breaker opens (and holds
// the next signed call without sending it), the auth-failure hook (what trips the kill
// switch) runs once, and nothing is retried: the simulator counts every request.
func TestWAFBlockStopsAndEscalates(t *testing.T) {
	var mu sync.Mutex
	var escalated []scheduler.Outcome
	f := newFixture(t, sim.Config{}, fixtureOpts{schedOpts: []scheduler.Option{
		scheduler.WithAuthFailureHook(func(o scheduler.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			escalated = append(escalated, o)
		}),
	}})
	ctx := testCtx(t)
	if err := f.client.SyncTime(ctx); err != nil { // so that the signed call below sends one request
		t.Fatal(err)
	}
	f.sim.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusForbidden})
	sent := func() int64 { return f.sim.Stats().Total.Requests }
	before := sent()

	_, err := f.client.Balances(ctx)
	if c := scheduler.ClassOf(err); c != scheduler.ClassAuth {
		t.Fatalf("class %s (%v), want auth", c, err)
	}
	var se *scheduler.Error
	if !errors.As(err, &se) || se.Attempts != 1 || se.Outcome.Status != http.StatusForbidden {
		t.Fatalf("want one attempt answered 403, got %#v", se)
	}
	if n := sent() - before; n != 1 {
		t.Fatalf("%d requests reached the exchange, want 1 (no retry)", n)
	}
	open := false
	for _, b := range f.sched.Snapshot().Breakers {
		open = open || (b.Class == scheduler.ClassAuth.String() && b.State == "open")
	}
	if !open {
		t.Fatalf("auth breaker not open: %+v", f.sched.Snapshot().Breakers)
	}
	mu.Lock()
	hooked := append([]scheduler.Outcome(nil), escalated...)
	mu.Unlock()
	if len(hooked) != 1 || hooked[0].Status != http.StatusForbidden {
		t.Fatalf("auth-failure hook ran %d times (%+v), want once for the 403", len(hooked), hooked)
	}

	// While the breaker is open a signed read fails fast, unsent.
	_, err = f.client.OpenOrders(ctx, "BTCUSDT")
	var bo *scheduler.BreakerOpenError
	if !errors.As(err, &bo) || bo.Class != scheduler.ClassAuth {
		t.Fatalf("signed read with the auth breaker open: %v, want the auth breaker's refusal", err)
	}
	if n := sent() - before; n != 1 {
		t.Fatalf("%d requests reached the exchange, want still 1", n)
	}
}
