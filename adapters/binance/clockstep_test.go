package binance_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestClockStepIsRemeasuredNotAnAuthFailure: the exchange's clock steps 3 s back after the
// offset was measured (Binance answers -1021 "1000ms ahead of the server's time"). That
// request is refused (validation: not retried, nothing placed) and the kill switch's hook does
// not run; the next signed call measures the clock again and goes through. When the clock
// steps again before a request signed with the new offset is accepted, measuring did not
// help: that -1021 is an auth failure (the host's clock needs an operator).
func TestClockStepIsRemeasuredNotAnAuthFailure(t *testing.T) {
	var mu sync.Mutex
	hooked := 0
	f := newFixture(t, sim.Config{}, fixtureOpts{
		// A wide recvWindow keeps every offset below within the adapter's drift refusal.
		cfg: func(c *binance.Config) { c.RecvWindow = 20000 },
		schedOpts: []scheduler.Option{
			scheduler.WithAuthFailureHook(func(scheduler.Outcome) { mu.Lock(); hooked++; mu.Unlock() }),
		}})
	ctx := testCtx(t)
	if err := f.client.SyncTime(ctx); err != nil {
		t.Fatal(err)
	}
	times := func() int64 { return f.sim.Stats().Endpoints["GET /api/v3/time"].Requests }
	hooks := func() int { mu.Lock(); defer mu.Unlock(); return hooked }

	f.sim.SetClockOffset(-3 * time.Second)
	_, err := f.client.Balances(ctx)
	var se *scheduler.Error
	if !errors.As(err, &se) || se.Outcome.Code != -1021 {
		t.Fatalf("after the step: %v, want the exchange's -1021", err)
	}
	if c := scheduler.ClassOf(err); c != scheduler.ClassValidation {
		t.Fatalf("class %s, want validation (a refused request, not an auth failure)", c)
	}
	if se.Attempts != 1 || hooks() != 0 {
		t.Fatalf("%d attempts, %d auth hooks; want 1 and 0", se.Attempts, hooks())
	}
	before := times()
	if _, err := f.client.Balances(ctx); err != nil {
		t.Fatalf("the next signed call: %v, want it to re-measure the clock and succeed", err)
	}
	if n := times() - before; n != 1 {
		t.Fatalf("%d server-time requests before it, want 1", n)
	}

	// Proven: a later step is again met with a new measurement.
	f.sim.SetClockOffset(-6 * time.Second)
	if _, err := f.client.Balances(ctx); scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("a later step: %v, want a refusal again", err)
	}
	// The clock steps again between that measurement and the next signed request: measuring
	// did not help, so this -1021 is an auth failure.
	if err := f.client.SyncTime(ctx); err != nil {
		t.Fatal(err)
	}
	f.sim.SetClockOffset(-9 * time.Second)
	_, err = f.client.Balances(ctx)
	if c := scheduler.ClassOf(err); c != scheduler.ClassAuth {
		t.Fatalf("a -1021 right after re-measuring for one: class %s (%v), want auth", c, err)
	}
	if hooks() != 1 {
		t.Fatalf("%d auth hooks, want 1", hooks())
	}
}
