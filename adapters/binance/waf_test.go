package binance_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestWAFBlockHoldsEverythingAndResumes: Binance answers 403 when "a WAF rule has been
// violated. This can indicate a rate limit violation or a security block" (rest-api.md "HTTP
// Return Codes"): the IP is blocked, the key is fine. Through a real scheduler the adapter
// gets a rate_limit-class failure after one request, nothing is retried, the auth-failure hook
// (what trips the kill switch) never runs, every request of the IP is held for the ban pause
// (unsent), and after it a read goes through again.
func TestWAFBlockHoldsEverythingAndResumes(t *testing.T) {
	const pause = 3 * time.Second
	var mu sync.Mutex
	var escalated []scheduler.Outcome
	f := newFixture(t, sim.Config{}, fixtureOpts{
		schedCfg: func(c *scheduler.Config) {
			c.Backoff.BanPause, c.Backoff.BanPauseCap = pause, 4*pause
			c.Breakers.RateLimit.OpenFor = time.Second
		},
		schedOpts: []scheduler.Option{scheduler.WithAuthFailureHook(func(o scheduler.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			escalated = append(escalated, o)
		})},
	})
	ctx := testCtx(t)
	if err := f.client.SyncTime(ctx); err != nil { // so that the signed call below sends one request
		t.Fatal(err)
	}
	f.sim.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusForbidden})
	sent := func() int64 { return f.sim.Stats().Total.Requests }
	before := sent()

	_, err := f.client.Balances(ctx)
	if c := scheduler.ClassOf(err); c != scheduler.ClassRateLimit {
		t.Fatalf("class %s (%v), want rate_limit", c, err)
	}
	var se *scheduler.Error
	if !errors.As(err, &se) || se.Attempts != 1 || se.Outcome.Status != http.StatusForbidden {
		t.Fatalf("want one attempt answered 403, got %#v", se)
	}
	if n := sent() - before; n != 1 {
		t.Fatalf("%d requests reached the exchange, want 1 (no retry)", n)
	}
	mu.Lock()
	hooked := len(escalated)
	mu.Unlock()
	if hooked != 0 {
		t.Fatalf("the auth-failure hook (kill switch) ran %d times for a WAF block", hooked)
	}

	// During the hold, a public read that cannot wait it out is refused unsent.
	f.sim.SetFaults(sim.Faults{})
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err = f.client.Ping(short)
	cancel()
	if err == nil {
		t.Fatal("a read went through during the WAF hold")
	}
	if n := sent() - before; n != 1 {
		t.Fatalf("%d requests reached the exchange during the hold, want still 1", n)
	}

	// Once the hold (and the rate_limit breaker it opened) is over, a read goes out: the
	// breaker's refusal says until when, and nothing is sent before.
	for {
		err := f.client.Ping(ctx)
		var bo *scheduler.BreakerOpenError
		if err == nil {
			break
		}
		if !errors.As(err, &bo) || bo.Class != scheduler.ClassRateLimit {
			t.Fatalf("after the hold: %v", err)
		}
		if n := sent() - before; n != 1 {
			t.Fatalf("%d requests reached the exchange while the breaker was open, want still 1", n)
		}
		time.Sleep(time.Until(bo.Until))
	}
	if n := sent() - before; n != 2 {
		t.Fatalf("%d requests reached the exchange, want 2", n)
	}
}
