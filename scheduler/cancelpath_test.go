package scheduler_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// TestCancelsProbeThroughHolds: whatever holds a bucket for long (an outage's transient
// breaker, a far-future 418 ban, a 429 with an hour's Retry-After, a usage header saying the
// window is spent until it rolls), the kill switch's and the shutdown's cancels still have a
// path: one cancel per bucket goes at once, the next 2s later (backoff.cancel_probe), and
// so on; none is refused. Reads and new orders stay held. Each bucket has its own probe.
func TestCancelsProbeThroughHolds(t *testing.T) {
	tests := []struct {
		name        string
		trip        []scheduler.Outcome // answers to reads of bucket private, one per read
		readsRefuse bool                // a read after the trip fails fast (else it waits)
	}{
		{name: "transient breaker (outage)", trip: []scheduler.Outcome{{Status: 503}, {Status: 503}, {Status: 503}, {Status: 503}, {Status: 503}}, readsRefuse: true},
		{name: "418 ban for 72h", trip: []scheduler.Outcome{{Status: 418, Ban: true, RetryAfter: 72 * time.Hour}}, readsRefuse: true},
		{name: "429 with an hour's Retry-After", trip: []scheduler.Outcome{{Status: 429, Code: -1003, RetryAfter: time.Hour}}, readsRefuse: true},
		{name: "usage header: the window is spent", trip: []scheduler.Outcome{{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 999_999_999}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := breakerConfig()
				s, clk := newScheduler(t, cfg)
				for _, o := range tt.trip {
					s.Do(context.Background(), read("private", func(context.Context, int) scheduler.Outcome { return o }))
				}
				start := clk.Now()
				if tt.readsRefuse {
					var sent bool
					_, err := s.Do(context.Background(), read("private", answer(&sent, scheduler.Outcome{Status: 200})))
					var open *scheduler.BreakerOpenError
					if !errors.As(err, &open) || sent {
						t.Fatalf("read after the trip: err = %v, sent %v; want it held", err, sent)
					}
				}
				rec := &recorder{clk: clk}
				var reqs []*scheduler.Request
				for _, b := range []string{"private", "private", "private", "public"} {
					r := cancel(b, rec.scripted(b))
					r.Budget = time.Minute
					reqs = append(reqs, r)
				}
				for i, res := range doAll(t, s, clk, reqs...) {
					if res.err != nil {
						t.Fatalf("cancel %d: %v, want it through as a spaced probe", i, res.err)
					}
				}
				var private []time.Duration
				for _, c := range rec.snapshot() {
					at := c.at.Sub(start)
					if c.name == "public" {
						if at != 0 {
							t.Errorf("the other bucket's cancel went at +%v, want at once (its own probe)", at)
						}
						continue
					}
					private = append(private, at)
				}
				want := []time.Duration{0, 2 * time.Second, 4 * time.Second}
				if len(private) != len(want) {
					t.Fatalf("private cancels sent at %v, want %v", private, want)
				}
				for i := range want {
					if private[i] != want[i] {
						t.Fatalf("private cancels sent at %v, want %v: one per bucket per cancel_probe", private, want)
					}
				}
			})
		})
	}
}

// TestCancelWaitsOutAShortHold: a hold that ends within one probe interval is waited out, as
// before: a 1s 429 pause is no reason to send into it.
func TestCancelWaitsOutAShortHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		s.Do(context.Background(), read("private", func(context.Context, int) scheduler.Outcome {
			return scheduler.Outcome{Status: 429, Code: -1003, RetryAfter: time.Second}
		}))
		start := clk.Now()
		rec := &recorder{clk: clk}
		if res := doAll(t, s, clk, cancel("private", rec.scripted("cancel"))); res[0].err != nil {
			t.Fatal(res[0].err)
		}
		if at := rec.snapshot()[0].at.Sub(start); at < time.Second {
			t.Fatalf("cancel sent at +%v into a 1s hold, want it to wait the hold out", at)
		}
	})
}

// TestMalformedAnswersAreAnEndpointFault: 2xx answers that cannot be read, however many,
// never open the transient breaker (which would hold every endpoint, cancels included):
// after a run of five, that endpoint alone is held for the breaker's open_for, saying why;
// other endpoints and cancels go on. A good answer from the endpoint after the hold ends the
// run.
func TestMalformedAnswersAreAnEndpointFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		malformed := scheduler.Outcome{Status: 200, Malformed: true, Err: errors.New("malformed answer: ticker")}
		ticker := func(o scheduler.Outcome) *scheduler.Request {
			r := req("ticker", "public", scheduler.PriorityMarket, 1, func(context.Context, int) scheduler.Outcome { return o })
			return r
		}
		for i := range 12 {
			_, err := s.Do(context.Background(), ticker(malformed))
			var open *scheduler.BreakerOpenError
			switch {
			case i < 5 && scheduler.ClassOf(err) != scheduler.ClassTransient:
				t.Fatalf("malformed answer %d: err = %v, want a transient failure", i, err)
			case i >= 5 && (!errors.As(err, &open) || open.Endpoint != "GET /api/ticker" || !open.Until.Equal(clk.Now().Add(15*time.Second))):
				t.Fatalf("request %d after five malformed answers: err = %v, want the endpoint held for 15s", i, err)
			}
		}
		if st := breakerState(s, scheduler.ClassTransient); st.State != "closed" {
			t.Fatalf("transient breaker %+v after 12 malformed answers, want closed", st)
		}
		snap := s.Snapshot()
		if len(snap.Endpoints) != 1 || snap.Endpoints[0].Endpoint != "/api/ticker" || snap.Endpoints[0].Malformed != 5 || snap.Endpoints[0].HeldUntil.IsZero() {
			t.Fatalf("snapshot endpoints %+v, want /api/ticker held after 5", snap.Endpoints)
		}
		// Other endpoints, and cancels, are not held.
		if err := do(s, "private", scheduler.Outcome{Status: 200}); err != nil {
			t.Fatalf("another endpoint: %v", err)
		}
		var sent bool
		if _, err := s.Do(context.Background(), cancel("private", answer(&sent, scheduler.Outcome{Status: 200}))); err != nil || !sent {
			t.Fatalf("cancel: err = %v, sent %v", err, sent)
		}
		// After the hold the endpoint is tried again; a good answer ends the run.
		clk.Advance(15 * time.Second)
		if _, err := s.Do(context.Background(), ticker(scheduler.Outcome{Status: 200})); err != nil {
			t.Fatalf("after the hold: %v", err)
		}
		if eps := s.Snapshot().Endpoints; len(eps) != 0 {
			t.Fatalf("endpoints %+v after a good answer, want none", eps)
		}
		// Malformed answers to a write are unknown outcomes, and still not an outage.
		for range 6 {
			s.Do(context.Background(), newOrder("private", func(context.Context, int) scheduler.Outcome { return malformed }))
		}
		if st := breakerState(s, scheduler.ClassTransient); st.State != "closed" {
			t.Fatalf("transient breaker %+v after malformed order answers, want closed", st)
		}
	})
}
