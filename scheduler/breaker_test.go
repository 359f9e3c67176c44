package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// The breakers run on the scheduler's clock alone, so these tests run in synctest bubbles,
// where the wall clock does not move either: a breaker that needed it would hang here.

func breakerConfig() scheduler.Config {
	cfg := baseConfig()
	cfg.Retries = scheduler.RetryConfig{RateLimit: -1, Transient: -1}
	for i := range 4 {
		cfg.Buckets = append(cfg.Buckets, scheduler.BucketConfig{Name: fmt.Sprint("b", i), MaxConcurrency: 4})
	}
	return cfg
}

func breakerState(s *scheduler.Scheduler, c scheduler.Class) scheduler.BreakerState {
	for _, b := range s.Snapshot().Breakers {
		if b.Class == c.String() {
			return b
		}
	}
	return scheduler.BreakerState{}
}

// wantOpen checks that a request of bucket fails fast with the class's breaker open until
// until, without an attempt.
func wantOpen(t *testing.T, s *scheduler.Scheduler, bucket string, c scheduler.Class, until time.Time) {
	t.Helper()
	called := false
	_, err := s.Do(context.Background(), req("x", bucket, scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
		called = true
		return scheduler.Outcome{Status: 200}
	}))
	var open *scheduler.BreakerOpenError
	if !errors.As(err, &open) || open.Class != c || !open.Until.Equal(until) {
		t.Fatalf("err = %v, want %s breaker open until %v", err, c, until)
	}
	if called {
		t.Fatal("an attempt was sent through an open breaker")
	}
	if got := breakerState(s, c); got.State != "open" || !got.Until.Equal(until) {
		t.Fatalf("snapshot %+v, want open until %v", got, until)
	}
}

func do(s *scheduler.Scheduler, bucket string, o scheduler.Outcome) error {
	_, err := s.Do(context.Background(), req("x", bucket, scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome { return o }))
	return err
}

// tripCase is how each breaker is opened: one request per outcome, in buckets b0, b1, ...
// in turn (so that a 429's bucket pause does not hold the next), and how long it stays open.
type tripCase struct {
	name    string
	class   scheduler.Class
	trip    []scheduler.Outcome
	openFor time.Duration
	fail    scheduler.Outcome // a failing probe
}

var (
	okOutcome = scheduler.Outcome{Status: 200}
	tripCases = []tripCase{
		{"auth opens on the first failure", scheduler.ClassAuth, []scheduler.Outcome{{Status: 401}}, time.Minute, scheduler.Outcome{Status: 401}},
		{"rate_limit opens after 3 consecutive 429s", scheduler.ClassRateLimit, []scheduler.Outcome{{Status: 429}, {Status: 429}, {Status: 429}}, 10 * time.Second, scheduler.Outcome{Status: 429}},
		{"a 418 opens rate_limit for its whole Retry-After", scheduler.ClassRateLimit, []scheduler.Outcome{{Status: 418, Ban: true, RetryAfter: 3 * time.Minute}}, 3 * time.Minute, scheduler.Outcome{Status: 429}},
		{"transient opens after 5 consecutive failures", scheduler.ClassTransient, []scheduler.Outcome{{Status: 503}, {Status: 500}, {Err: context.DeadlineExceeded}, {Status: 502}, {Status: 504}}, 15 * time.Second, scheduler.Outcome{Status: 503}},
		{"transient opens at 50% failures over 10 calls", scheduler.ClassTransient, []scheduler.Outcome{okOutcome, {Status: 503}, okOutcome, {Status: 503}, okOutcome, {Status: 503}, okOutcome, {Status: 503}, okOutcome, {Status: 503}}, 15 * time.Second, scheduler.Outcome{Status: 503}},
	}
	// defaultOpenFor is each class's OpenFor: how long a failed probe opens it again.
	defaultOpenFor = map[scheduler.Class]time.Duration{
		scheduler.ClassAuth: time.Minute, scheduler.ClassRateLimit: 10 * time.Second, scheduler.ClassTransient: 15 * time.Second}
)

// tripBreaker opens tc's breaker, checking that it was closed before each request.
func tripBreaker(t *testing.T, s *scheduler.Scheduler, tc tripCase) {
	t.Helper()
	for i, o := range tc.trip {
		if st := breakerState(s, tc.class).State; st != "closed" {
			t.Fatalf("before request %d: %s breaker %s, want closed", i, tc.class, st)
		}
		do(s, fmt.Sprint("b", i%4), o)
	}
}

func TestBreakers(t *testing.T) {
	for _, tt := range tripCases {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, clk := newScheduler(t, breakerConfig())
				tripBreaker(t, s, tt)
				// Opening.
				until := clk.Now().Add(tt.openFor)
				wantOpen(t, s, "private", tt.class, until)
				if tt.class == scheduler.ClassAuth {
					if err := do(s, "public", okOutcome); err != nil {
						t.Fatalf("public bucket held by the auth breaker: %v", err)
					}
				}
				clk.Advance(tt.openFor - time.Millisecond)
				wantOpen(t, s, "private", tt.class, until)
				// Half-open; a failed probe opens it again.
				clk.Advance(time.Millisecond)
				if st := breakerState(s, tt.class).State; st != "half-open" {
					t.Fatalf("after %v: %s, want half-open", tt.openFor, st)
				}
				if err := do(s, "private", tt.fail); scheduler.ClassOf(err) != tt.class {
					t.Fatalf("probe: %v", err)
				}
				wantOpen(t, s, "private", tt.class, clk.Now().Add(defaultOpenFor[tt.class]))
				// Half-open again; a good probe closes it.
				clk.Advance(time.Minute)
				if err := do(s, "private", okOutcome); err != nil {
					t.Fatalf("probe: %v", err)
				}
				if st := breakerState(s, tt.class).State; st != "closed" {
					t.Fatalf("after a good probe: %s, want closed", st)
				}
				if err := do(s, "private", okOutcome); err != nil {
					t.Fatalf("after closing: %v", err)
				}
				s.Close()
			})
		})
	}
}

// TestTransientBreakerFailureRatio: the platform breaker opens at >= 50% failures over >= 10
// calls inside its 30s window, with never 5 failures in a row; the same calls spread over
// more than 30s, or failing at 40%, leave it closed.
func TestTransientBreakerFailureRatio(t *testing.T) {
	tests := []struct {
		name  string
		every time.Duration // between calls
		calls string        // x fails (503), . succeeds, a space is 20s without calls
		open  bool
	}{
		{"10 calls over 27s, half failing", 3 * time.Second, ".x.x.x.x.x", true},
		{"the same calls over 31.5s", 3500 * time.Millisecond, ".x.x.x.x.x", false},
		{"10 calls over 27s, 40% failing", 3 * time.Second, "..x.x.x..x", false},
		{"failures older than 30s do not count", 3 * time.Second, "xxxx ..x.x.x..x", false},
		{"9 calls over 24s, all but 4 failing", 3 * time.Second, "xx.xx.xx.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, clk := newScheduler(t, breakerConfig())
				for i, c := range tt.calls {
					if c == ' ' {
						clk.Advance(20 * time.Second)
						continue
					}
					if i > 0 {
						clk.Advance(tt.every)
					}
					o := okOutcome
					if c == 'x' {
						o = scheduler.Outcome{Status: 503}
					}
					if err := do(s, "private", o); scheduler.ClassOf(err) == scheduler.ClassTransient && c != 'x' {
						t.Fatalf("call %d: %v", i, err)
					}
				}
				if tt.open {
					wantOpen(t, s, "private", scheduler.ClassTransient, clk.Now().Add(15*time.Second))
				} else {
					if st := breakerState(s, scheduler.ClassTransient).State; st != "closed" {
						t.Fatalf("breaker %s, want closed", st)
					}
					if err := do(s, "private", okOutcome); err != nil {
						t.Fatalf("after the calls: %v", err)
					}
				}
				s.Close()
			})
		})
	}
}

// TestHalfOpenOneProbe: for every breaker, when it turns half-open with many requests
// arriving at once, exactly one goes out as the probe and the rest wait for it: its success
// closes the breaker and lets them all go; its failure opens it again and they fail fast,
// unsent.
func TestHalfOpenOneProbe(t *testing.T) {
	for _, tc := range []tripCase{tripCases[0], tripCases[1], tripCases[3]} {
		for _, probeOK := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/probe ok %v", tc.class, probeOK), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					s, clk := newScheduler(t, breakerConfig())
					tripBreaker(t, s, tc)
					clk.Advance(tc.openFor)

					var mu sync.Mutex
					sent := 0
					release := make(chan struct{})
					const n = 10
					var ps []*pending
					for range n {
						ps = append(ps, goDo(context.Background(), s, req("x", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
							mu.Lock()
							first := sent == 0
							sent++
							mu.Unlock()
							if first {
								<-release
								if !probeOK {
									return tc.fail
								}
							}
							return okOutcome
						})))
					}
					synctest.Wait()
					mu.Lock()
					probes := sent
					mu.Unlock()
					if probes != 1 {
						t.Fatalf("%d requests went out while half-open, want 1 probe", probes)
					}
					if q := s.Snapshot().Queued["orders"]; q != n-1 {
						t.Fatalf("%d requests wait for the probe, want %d", q, n-1)
					}
					if st := breakerState(s, tc.class).State; st != "half-open" {
						t.Fatalf("breaker %s during the probe, want half-open", st)
					}
					close(release)
					drivePending(t, clk, ps)

					failedFast := 0
					for _, p := range ps {
						var open *scheduler.BreakerOpenError
						switch {
						case p.res.err == nil:
						case errors.As(p.res.err, &open) && open.Class == tc.class:
							failedFast++
						case scheduler.ClassOf(p.res.err) != tc.class:
							t.Errorf("err = %v", p.res.err)
						}
					}
					want, wantState := n, "closed"
					if !probeOK {
						want, wantState = 1, "open"
						if failedFast != n-1 {
							t.Errorf("%d waiting requests failed fast after the failed probe, want %d", failedFast, n-1)
						}
					}
					if sent != want {
						t.Errorf("%d requests sent, want %d", sent, want)
					}
					if st := breakerState(s, tc.class).State; st != wantState {
						t.Errorf("breaker %s after the probe, want %s", st, wantState)
					}
					s.Close()
				})
			})
		}
	}
}

// TestBucketHoldFailsFast: a request whose budget cannot cover its bucket's pause fails at
// once, naming the bucket and until when.
func TestBucketHoldFailsFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, breakerConfig())
		do(s, "b0", scheduler.Outcome{Status: 429, RetryAfter: 2 * time.Minute})
		_, err := s.Do(context.Background(), req("x", "b0", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
			t.Error("sent into a paused bucket")
			return scheduler.Outcome{}
		}))
		var open *scheduler.BreakerOpenError
		if !errors.As(err, &open) || open.Bucket != "b0" || !open.Until.Equal(clk.Now().Add(2*time.Minute)) {
			t.Fatalf("err = %v, want bucket b0 held for 2m", err)
		}
		if err := do(s, "b1", okOutcome); err != nil {
			t.Fatalf("another bucket: %v", err)
		}
		s.Close()
	})
}
