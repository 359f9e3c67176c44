package adaptertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// FaultKind is a failure the exchange is made to answer with (Env.Inject).
type FaultKind int

const (
	// FaultRateLimit: the exchange refuses requests as over its request-rate limit and says
	// how long to wait (Binance: 429 -1003 with Retry-After).
	FaultRateLimit FaultKind = iota + 1
	// FaultServerError: the exchange answers a 5xx without doing anything (Binance: 503).
	FaultServerError
	// FaultUnknownOutcome: the exchange applies the request, then answers that its outcome is
	// unknown (Binance: -1007 "... Send status unknown; execution status unknown.").
	FaultUnknownOutcome
	// FaultLostAnswer: the exchange applies the request and the answer never arrives (the
	// connection is closed, as on a timeout).
	FaultLostAnswer
)

// Fault is what Env.Inject makes the exchange do.
type Fault struct {
	Kind FaultKind
	// Placements limits the fault to order placements; otherwise it hits every request.
	Placements bool
	// RetryAfter is the wait a FaultRateLimit announces (whole seconds).
	RetryAfter time.Duration
}

// rateLimitWait is the Retry-After the suite asks for: longer than a request's time budget
// (the scheduler's default is 30s), so a conforming scheduler gives up at once instead of
// resending before it ends, and the subtest takes no wall time.
const rateLimitWait = 10 * time.Minute

// needFaults skips a failure subtest unless the harness can both inject faults and count
// what reached the exchange: a class alone, without "nothing was resent", is half the check.
func needFaults(t *testing.T, env *Env) {
	t.Helper()
	if env.Inject == nil || env.Requests == nil {
		t.Skip("the harness cannot inject faults and count requests (Env.Inject, Env.Requests)")
	}
}

// testRateLimited: a read refused for the request rate comes back classified rate_limit with
// the exchange's Retry-After, is not resent before it ends, and the next call waits it out
// (fails fast) instead of being sent.
func testRateLimited(ctx context.Context, t *testing.T, env *Env) {
	needFaults(t, env)
	ex := env.Exchange
	must(ex.Ticker(ctx, env.Symbol))
	clear := env.Inject(t, Fault{Kind: FaultRateLimit, RetryAfter: rateLimitWait})
	defer clear()
	all0, _ := env.Requests()

	_, err := ex.Ticker(ctx, env.Symbol)
	wantClass(t, err, scheduler.ClassRateLimit)
	var se *scheduler.Error
	// Exchanges state the wait in whole seconds, some as an instant (Kraken's "Throttled:
	// <unix ts>"), so the wait read on arrival may be a second off the one asked for.
	if !errors.As(err, &se) || (se.Outcome.RetryAfter-rateLimitWait).Abs() > time.Second || se.Attempts != 1 {
		t.Fatalf("want one attempt carrying Retry-After %v (±1s), got %v", rateLimitWait, err)
	}
	_, err = ex.Ticker(ctx, env.Symbol)
	wantClass(t, err, scheduler.ClassRateLimit)
	if all, _ := env.Requests(); all-all0 != 1 {
		t.Fatalf("%d requests reached the exchange inside its Retry-After, want 1", all-all0)
	}
}

// testTransientRead: a read answered 5xx is retried, and when every try fails it comes back
// classified transient.
func testTransientRead(ctx context.Context, t *testing.T, env *Env) {
	needFaults(t, env)
	ex := env.Exchange
	must(ex.Ticker(ctx, env.Symbol))
	clear := env.Inject(t, Fault{Kind: FaultServerError})
	defer clear()
	all0, _ := env.Requests()

	_, err := ex.Ticker(ctx, env.Symbol)
	wantClass(t, err, scheduler.ClassTransient)
	var se *scheduler.Error
	if !errors.As(err, &se) || se.Attempts < 2 {
		t.Fatalf("want a read retried after a 5xx, got %v", err)
	}
	if all, _ := env.Requests(); all-all0 != int64(se.Attempts) {
		t.Fatalf("%d requests reached the exchange for %d attempts", all-all0, se.Attempts)
	}
}

// testPlacementUnknown: a placement answered by kind comes back as an unknown outcome
// (scheduler.ErrUnknownOutcome), is sent once and never resent (on an exchange with lasting
// client ids, Env.LastingClientIDs, it may be resent identically, and each resend failed the
// same way), and querying it by its client order id (what reconciliation does) finds it when
// the exchange applied it (lands), or finds at most that one order.
func testPlacementUnknown(kind FaultKind, lands bool) func(ctx context.Context, t *testing.T, env *Env) {
	return func(ctx context.Context, t *testing.T, env *Env) {
		needFaults(t, env)
		ex := env.Exchange
		m := loadMarket(ctx, t, env)
		must(ex.Balances(ctx)) // whatever signed calls need first (a clock sync) is done
		req := m.restingBuy(env.Symbol)
		_, placed0 := env.Requests()

		clear := env.Inject(t, Fault{Kind: kind, Placements: true})
		_, err := ex.PlaceOrder(ctx, req)
		clear()
		if !errors.Is(err, scheduler.ErrUnknownOutcome) {
			t.Fatalf("got %v, want an unknown outcome", err)
		}
		wantClass(t, err, scheduler.ClassUnknown)
		var se *scheduler.Error
		_, placed := env.Requests()
		switch {
		case env.LastingClientIDs:
			if !errors.As(err, &se) || placed-placed0 != int64(se.Attempts) {
				t.Fatalf("%d placements reached the exchange for the attempts of %v", placed-placed0, err)
			}
		case placed-placed0 != 1:
			t.Fatalf("%d placements reached the exchange, want 1: an unknown outcome is never resent", placed-placed0)
		}

		o, err := ex.QueryOrder(ctx, env.Symbol, req.ClientOrderID)
		switch {
		case err == nil:
			if o.ClientOrderID != req.ClientOrderID || o.Status != adapters.StatusNew {
				t.Fatalf("reconciling query: %+v", o)
			}
			if _, n := findOrder(must(ex.OpenOrders(ctx, env.Symbol)), req.ClientOrderID); n != 1 {
				t.Fatalf("%d open orders under the client order id, want 1", n)
			}
			must(ex.CancelOrder(ctx, env.Symbol, req.ClientOrderID))
		case lands:
			t.Fatalf("the exchange applied the placement, but the query says %v", err)
		case !errors.Is(err, adapters.ErrOrderNotFound):
			t.Fatalf("reconciling query: %v", err)
		}
	}
}
