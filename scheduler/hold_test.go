package scheduler_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// newOrder, cancel and read are requests of bucket in the three roles the holds tell apart.
func newOrder(bucket string, attempt scheduler.AttemptFunc) *scheduler.Request {
	r := req("order", bucket, scheduler.PriorityOrders, 1, attempt)
	r.Method, r.Write = "POST", true
	return r
}

func cancel(bucket string, attempt scheduler.AttemptFunc) *scheduler.Request {
	r := req("cancel", bucket, scheduler.PriorityCritical, 1, attempt)
	r.Method, r.Write, r.Cancel = "DELETE", true, true
	return r
}

func read(bucket string, attempt scheduler.AttemptFunc) *scheduler.Request {
	return req("read", bucket, scheduler.PriorityAccount, 1, attempt)
}

// answer returns an attempt function that answers o and records that it was sent.
func answer(sent *bool, o scheduler.Outcome) scheduler.AttemptFunc {
	return func(context.Context, int) scheduler.Outcome {
		*sent = true
		return o
	}
}

// wantHeld checks that err is a hold of class c until until, and that nothing was sent.
func wantHeld(t *testing.T, what string, err error, sent bool, c scheduler.Class, until time.Time, orderLimit bool) {
	t.Helper()
	var open *scheduler.BreakerOpenError
	if !errors.As(err, &open) || open.Class != c || !open.Until.Equal(until) || open.OrderLimit != orderLimit {
		t.Fatalf("%s: err = %v, want %s held until %v (order limit %v)", what, err, c, until, orderLimit)
	}
	if sent {
		t.Fatalf("%s: sent through the hold", what)
	}
}

// TestCancelPassesAuthBreaker: after an auth failure the auth breaker refuses new orders and
// reads of private buckets, but a cancel goes out (the kill switch cancels right after an auth
// trip); it does not close the breaker, and a cancel's own auth failure is counted: it reaches
// the auth hook, is logged, and keeps the breaker open.
func TestCancelPassesAuthBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hooks := 0
		var events []scheduler.AttemptEvent
		s, clk := newScheduler(t, breakerConfig(),
			scheduler.WithAuthFailureHook(func(scheduler.Outcome) { hooks++ }),
			scheduler.WithObserver(func(e scheduler.AttemptEvent) { events = append(events, e) }))
		var sent bool
		if _, err := s.Do(context.Background(), newOrder("private", answer(&sent, scheduler.Outcome{Status: 401, Code: -2015}))); scheduler.ClassOf(err) != scheduler.ClassAuth {
			t.Fatalf("trip: %v", err)
		}
		until := clk.Now().Add(time.Minute)

		sent = false
		_, err := s.Do(context.Background(), newOrder("private", answer(&sent, scheduler.Outcome{Status: 200})))
		wantHeld(t, "new order", err, sent, scheduler.ClassAuth, until, false)
		sent = false
		_, err = s.Do(context.Background(), read("private", answer(&sent, scheduler.Outcome{Status: 200})))
		wantHeld(t, "read", err, sent, scheduler.ClassAuth, until, false)

		clk.Advance(10 * time.Second)
		sent = false
		if _, err := s.Do(context.Background(), cancel("private", answer(&sent, scheduler.Outcome{Status: 200}))); err != nil || !sent {
			t.Fatalf("cancel: err = %v, sent %v; want it through the open auth breaker", err, sent)
		}
		if st := breakerState(s, scheduler.ClassAuth); st.State != "open" || !st.Until.Equal(until) {
			t.Fatalf("after a good cancel: auth breaker %+v, want still open until %v", st, until)
		}

		// A cancel that fails auth too is counted: hook, log event, and a fresh minute open.
		sent = false
		_, err = s.Do(context.Background(), cancel("private", answer(&sent, scheduler.Outcome{Status: 401, Code: -2015})))
		if scheduler.ClassOf(err) != scheduler.ClassAuth || !sent {
			t.Fatalf("failing cancel: err = %v, sent %v", err, sent)
		}
		if hooks != 2 {
			t.Fatalf("auth hook called %d times, want 2", hooks)
		}
		if last := events[len(events)-1]; last.Endpoint != "/api/cancel" || last.Class != scheduler.ClassAuth || last.Attempt != 1 {
			t.Fatalf("last event %+v, want the cancel's auth failure", last)
		}
		if st := breakerState(s, scheduler.ClassAuth); st.State != "open" || !st.Until.Equal(clk.Now().Add(time.Minute)) {
			t.Fatalf("after a failed cancel: auth breaker %+v, want open until %v", st, clk.Now().Add(time.Minute))
		}
		sent = false
		_, err = s.Do(context.Background(), newOrder("private", answer(&sent, scheduler.Outcome{Status: 200})))
		wantHeld(t, "new order after the failed cancel", err, sent, scheduler.ClassAuth, clk.Now().Add(time.Minute), false)
		s.Close()
	})
}

// TestAuthCancelsOneAtATime: while the auth breaker is open, a bucket has at most one cancel
// in flight; the next waits for it (it is not refused), and when the first failed on auth
// again, for a jittered CancelProbe more, then goes.
func TestAuthCancelsOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		do(s, "private", scheduler.Outcome{Status: 401})
		first, release := make(chan struct{}), make(chan struct{})
		results := make(chan error, 2)
		go func() {
			_, err := s.Do(context.Background(), cancel("private", func(context.Context, int) scheduler.Outcome {
				close(first)
				<-release
				return scheduler.Outcome{Status: 401}
			}))
			results <- err
		}()
		<-first
		var mu sync.Mutex
		secondSent := false
		go func() {
			_, err := s.Do(context.Background(), cancel("private", func(context.Context, int) scheduler.Outcome {
				mu.Lock()
				defer mu.Unlock()
				secondSent = true
				return scheduler.Outcome{Status: 200}
			}))
			results <- err
		}()
		synctest.Wait()
		mu.Lock()
		sent := secondSent
		mu.Unlock()
		if q := s.Snapshot().Queued["critical"]; q != 1 || sent {
			t.Fatalf("second cancel: queued %d, sent %v; want it waiting while the first is in flight through the open auth breaker", q, sent)
		}
		// Another bucket has its own cancel slot.
		if _, err := s.Do(context.Background(), cancel("b0", func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} })); err != nil {
			t.Fatalf("cancel in another bucket: %v", err)
		}
		if q := s.Snapshot().Queued["critical"]; q != 1 {
			t.Fatalf("%d cancels queued after the other bucket's, want the second still waiting for the first", q)
		}
		close(release)
		if err := <-results; scheduler.ClassOf(err) != scheduler.ClassAuth {
			t.Fatalf("first cancel: %v, want its auth failure", err)
		}
		// The first failed on auth again: the second is spaced, not sent on its heels.
		synctest.Wait()
		mu.Lock()
		sent = secondSent
		mu.Unlock()
		if sent {
			t.Fatal("second cancel sent right after the first failed on auth; want it spaced")
		}
		clk.Advance(3 * time.Second) // 1.5 CancelProbe: the longest jittered spacing
		if err := <-results; err != nil {
			t.Fatalf("second cancel: %v, want its success after the spacing", err)
		}
		s.Close()
	})
}

// TestCancelAndRateLimitHolds: a hold from an order-count limit (429 -1015) stops new orders
// but not cancels (nor reads), which do not count against it; an IP-wide one (429 -1003 on
// request weight) holds reads and orders for its whole Retry-After, and a ban (418) refuses
// them until it ends; a cancel goes through either as its bucket's spaced cancel probe (one
// per backoff.cancel_probe; TestCancelsProbeThroughHolds), so the kill switch and the
// shutdown can always cancel. Cancels still pay their weight.
func TestCancelAndRateLimitHolds(t *testing.T) {
	const ra = 5 * time.Second
	tests := []struct {
		name                 string
		refusal              scheduler.Outcome
		cancelAt, orderAt    time.Duration // -1: refused, not sent
		readAt               time.Duration
		held, ordersHeld     bool // the snapshot's HeldUntil, OrdersHeldUntil
		refusedUntil         time.Duration
		refusedByOrdersLimit bool
	}{
		{name: "order-count 429", refusal: scheduler.Outcome{Status: 429, Code: -1015, OrderLimit: true, RetryAfter: ra},
			cancelAt: 0, readAt: 0, orderAt: ra, ordersHeld: true},
		{name: "request-weight 429", refusal: scheduler.Outcome{Status: 429, Code: -1003, RetryAfter: ra},
			cancelAt: 0, readAt: ra, orderAt: ra, held: true},
		{name: "418 ban", refusal: scheduler.Outcome{Status: 418, Code: -1003, Ban: true, RetryAfter: 2 * time.Minute},
			cancelAt: 0, readAt: -1, orderAt: -1, held: true, refusedUntil: 2 * time.Minute},
		{name: "418 marked order-count is still a ban", refusal: scheduler.Outcome{Status: 418, Ban: true, OrderLimit: true, RetryAfter: 2 * time.Minute},
			cancelAt: 0, readAt: -1, orderAt: -1, held: true, refusedUntil: 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := baseConfig()
				cfg.Retries.RateLimit = -1
				s, clk := newScheduler(t, cfg)
				rec := &recorder{clk: clk}
				if _, err := s.Do(context.Background(), newOrder("private", rec.scripted("refused", tt.refusal))); scheduler.ClassOf(err) != scheduler.ClassRateLimit {
					t.Fatalf("refusal: %v", err)
				}
				for _, b := range s.Snapshot().Buckets {
					if b.Name == "private" && (b.HeldUntil.IsZero() == tt.held || b.OrdersHeldUntil.IsZero() == tt.ordersHeld) {
						t.Fatalf("bucket %+v: want held %v, orders held %v", b, tt.held, tt.ordersHeld)
					}
				}
				used := windowUsed(s, "W")
				reqs := []*scheduler.Request{cancel("private", rec.scripted("cancel")), newOrder("private", rec.scripted("order")), read("private", rec.scripted("read"))}
				want := []time.Duration{tt.cancelAt, tt.orderAt, tt.readAt}
				for _, r := range reqs {
					r.Budget, r.MaxWait = time.Minute, time.Minute
				}
				res := doAll(t, s, clk, reqs...)
				sentAt := map[string]time.Duration{}
				for _, c := range rec.snapshot()[1:] {
					sentAt[c.name] = c.at.Sub(t0)
				}
				for i, r := range reqs {
					name := r.Endpoint[len("/api/"):]
					at, sent := sentAt[name]
					if want[i] < 0 {
						if sent {
							t.Errorf("%s sent at +%v during the ban", name, at)
						}
						var open *scheduler.BreakerOpenError
						if !errors.As(res[i].err, &open) || open.Class != scheduler.ClassRateLimit || !open.Until.Equal(t0.Add(tt.refusedUntil)) || open.OrderLimit {
							t.Errorf("%s: err = %v, want refused until the ban ends", name, res[i].err)
						}
						continue
					}
					if res[i].err != nil || !sent {
						t.Errorf("%s: err = %v, sent %v", name, res[i].err, sent)
						continue
					}
					// Sent at the hold's end, within its resume spread (0.1·5s); a cancel probe at once.
					if at < want[i] || at > want[i]+ra/10 || (want[i] == 0 && at != 0) {
						t.Errorf("%s sent at +%v, want in [+%v, +%v]", name, at, want[i], want[i]+ra/10)
					}
				}
				if got, want := windowUsed(s, "W"), used+int64(len(sentAt)); got != want {
					t.Errorf("window used %d, want %d: every request sent pays its weight", got, want)
				}
				s.Close()
			})
		})
	}
}

// TestOrderCountHoldFailsNewOrdersFast: a new order whose budget cannot cover an order-count
// pause fails at once, saying so; a cancel of the same bucket goes.
func TestOrderCountHoldFailsNewOrdersFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		do(s, "b0", scheduler.Outcome{Status: 429, Code: -1015, OrderLimit: true, RetryAfter: 2 * time.Minute})
		var sent bool
		_, err := s.Do(context.Background(), newOrder("b0", answer(&sent, scheduler.Outcome{Status: 200})))
		wantHeld(t, "new order", err, sent, scheduler.ClassRateLimit, clk.Now().Add(2*time.Minute), true)
		var open *scheduler.BreakerOpenError
		if errors.As(err, &open); open.Bucket != "b0" {
			t.Fatalf("err = %v, want bucket b0 named", err)
		}
		if _, err := s.Do(context.Background(), cancel("b0", answer(&sent, scheduler.Outcome{Status: 200}))); err != nil || !sent {
			t.Fatalf("cancel: err = %v, sent %v", err, sent)
		}
		s.Close()
	})
}

// TestOrderCountBreaker: three order-count refusals in a row open the rate_limit breaker for
// new orders only: cancels and reads pass it (without closing it). An IP-wide refusal of a
// request that passed widens it to everything but the bucket's spaced cancel probe.
func TestOrderCountBreaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		tooMany := scheduler.Outcome{Status: 429, Code: -1015, OrderLimit: true}
		for _, b := range []string{"b0", "b1", "b2"} {
			s.Do(context.Background(), newOrder(b, func(context.Context, int) scheduler.Outcome { return tooMany }))
		}
		until := clk.Now().Add(10 * time.Second)
		if st := breakerState(s, scheduler.ClassRateLimit); st.State != "open" || !st.OrderLimit || !st.Until.Equal(until) {
			t.Fatalf("rate_limit breaker %+v, want open for new orders until %v", st, until)
		}
		var sent bool
		_, err := s.Do(context.Background(), newOrder("b3", answer(&sent, scheduler.Outcome{Status: 200})))
		wantHeld(t, "new order", err, sent, scheduler.ClassRateLimit, until, true)
		for _, r := range []*scheduler.Request{cancel("b3", answer(&sent, scheduler.Outcome{Status: 200})), read("public", answer(&sent, scheduler.Outcome{Status: 200}))} {
			sent = false
			if _, err := s.Do(context.Background(), r); err != nil || !sent {
				t.Fatalf("%s: err = %v, sent %v; want it through an order-count opening", r.Endpoint, err, sent)
			}
		}
		if st := breakerState(s, scheduler.ClassRateLimit); st.State != "open" || !st.Until.Equal(until) {
			t.Fatalf("after passing requests: %+v, want still open until %v", st, until)
		}
		// A read that passed meets the IP-wide limit: now everything is held.
		clk.Advance(time.Second)
		s.Do(context.Background(), read("public", func(context.Context, int) scheduler.Outcome {
			return scheduler.Outcome{Status: 429, Code: -1003}
		}))
		until = clk.Now().Add(10 * time.Second)
		if st := breakerState(s, scheduler.ClassRateLimit); st.State != "open" || st.OrderLimit || !st.Until.Equal(until) {
			t.Fatalf("after an IP-wide refusal: %+v, want open for everything until %v", st, until)
		}
		sent = false
		_, err = s.Do(context.Background(), read("b3", answer(&sent, scheduler.Outcome{Status: 200})))
		wantHeld(t, "read", err, sent, scheduler.ClassRateLimit, until, false)
		s.Close()
	})
}

// TestMixedRefusalsTripIPWide: a run of refusals that includes an IP-wide one opens the
// rate_limit breaker for everything (cancels pass only as their bucket's spaced probe).
func TestMixedRefusalsTripIPWide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		for _, o := range []scheduler.Outcome{
			{Status: 429, Code: -1015, OrderLimit: true}, {Status: 429, Code: -1003}, {Status: 429, Code: -1015, OrderLimit: true},
		} {
			s.Do(context.Background(), newOrder("b0", func(context.Context, int) scheduler.Outcome { return o }))
			clk.Advance(2 * time.Second) // past each bucket pause
		}
		var sent bool
		_, err := s.Do(context.Background(), newOrder("b1", answer(&sent, scheduler.Outcome{Status: 200})))
		wantHeld(t, "new order", err, sent, scheduler.ClassRateLimit, clk.Now().Add(8*time.Second), false)
		s.Close()
	})
}

// TestBanWithoutRetryAfter: a 418 without Retry-After holds everything for the ban pause (2m),
// not the 1s of a plain 429; each repeated ban doubles it up to the cap (30m); bans answered
// to requests that were in flight together are one ban; after a quiet cap-long stretch it
// starts again from 2m. A 418 status counts as a ban even unmarked.
func TestBanWithoutRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		ban := func(o scheduler.Outcome, want time.Duration) {
			t.Helper()
			start := clk.Now()
			var sent bool
			_, err := s.Do(context.Background(), read("b0", answer(&sent, o)))
			if scheduler.ClassOf(err) != scheduler.ClassRateLimit || !sent {
				t.Fatalf("ban at +%v: err = %v, sent %v", start.Sub(t0), err, sent)
			}
			until := start.Add(want)
			sent = false
			_, err = s.Do(context.Background(), read("b1", answer(&sent, scheduler.Outcome{Status: 200})))
			wantHeld(t, "read during the ban", err, sent, scheduler.ClassRateLimit, until, false)
			for _, b := range s.Snapshot().Buckets {
				if b.Name == "b0" && !b.HeldUntil.Equal(until) {
					t.Fatalf("bucket b0 held until +%v, want +%v", b.HeldUntil.Sub(t0), until.Sub(t0))
				}
			}
			clk.Set(until) // the ban ends; the next request is the breaker's probe
		}
		marked := scheduler.Outcome{Status: 418, Ban: true, Code: -1003}
		ban(marked, 2*time.Minute)
		ban(marked, 4*time.Minute)
		ban(scheduler.Outcome{Status: 418}, 8*time.Minute)
		ban(marked, 16*time.Minute)
		ban(marked, 30*time.Minute)
		ban(marked, 30*time.Minute)
		// The exchange's own Retry-After is taken as it is.
		ban(scheduler.Outcome{Status: 418, Ban: true, RetryAfter: 3 * time.Minute}, 3*time.Minute)
		clk.Advance(30 * time.Minute) // a quiet stretch as long as the cap: not a repeat
		if err := do(s, "b0", scheduler.Outcome{Status: 200}); err != nil {
			t.Fatal(err)
		}
		ban(marked, 2*time.Minute)

		// Two requests in flight together both meet the ban: one ban, not a repeat.
		clk.Advance(30 * time.Minute)
		if err := do(s, "b0", scheduler.Outcome{Status: 200}); err != nil { // the probe closes the breaker
			t.Fatal(err)
		}
		start := clk.Now()
		inFlight, release := make(chan struct{}, 2), make(chan struct{})
		done := make(chan error, 2)
		for _, b := range []string{"b2", "b3"} {
			go func() {
				_, err := s.Do(context.Background(), read(b, func(context.Context, int) scheduler.Outcome {
					inFlight <- struct{}{}
					<-release
					return marked
				}))
				done <- err
			}()
		}
		<-inFlight
		<-inFlight
		close(release)
		<-done
		<-done
		if st := breakerState(s, scheduler.ClassRateLimit); !st.Until.Equal(start.Add(2 * time.Minute)) {
			t.Fatalf("rate_limit breaker until +%v after one ban met twice, want +2m", st.Until.Sub(start))
		}
		s.Close()
	})
}
