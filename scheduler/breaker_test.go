package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// These tests run outside a synctest bubble: gobreaker reads the wall clock, which must move
// (by its 1ns timeout) between a trip and the probe. Nothing in them waits on the fake clock.

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

func TestBreakers(t *testing.T) {
	ok := scheduler.Outcome{Status: 200}
	tests := []struct {
		name    string
		class   scheduler.Class
		trip    []scheduler.Outcome // one request each, buckets b0, b1, ... in turn
		openFor time.Duration
		fail    scheduler.Outcome // a failing probe
	}{
		{"auth opens on the first failure", scheduler.ClassAuth, []scheduler.Outcome{{Status: 401}}, time.Minute, scheduler.Outcome{Status: 401}},
		{"rate_limit opens after 3 consecutive 429s", scheduler.ClassRateLimit, []scheduler.Outcome{{Status: 429}, {Status: 429}, {Status: 429}}, 10 * time.Second, scheduler.Outcome{Status: 429}},
		{"a 418 opens rate_limit for its whole Retry-After", scheduler.ClassRateLimit, []scheduler.Outcome{{Status: 418, Ban: true, RetryAfter: 3 * time.Minute}}, 3 * time.Minute, scheduler.Outcome{Status: 429}},
		{"transient opens after 5 consecutive failures", scheduler.ClassTransient, []scheduler.Outcome{{Status: 503}, {Status: 500}, {Err: context.DeadlineExceeded}, {Status: 502}, {Status: 504}}, 15 * time.Second, scheduler.Outcome{Status: 503}},
		{"transient opens at 50% failures over 10 calls", scheduler.ClassTransient, []scheduler.Outcome{ok, {Status: 503}, ok, {Status: 503}, ok, {Status: 503}, ok, {Status: 503}, ok, {Status: 503}}, 15 * time.Second, scheduler.Outcome{Status: 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newScheduler(t, breakerConfig())
			for i, o := range tt.trip {
				if st := breakerState(s, tt.class).State; st != "closed" {
					t.Fatalf("before request %d: %s breaker %s, want closed", i, tt.class, st)
				}
				do(s, fmt.Sprint("b", i%4), o)
			}
			// Opening.
			until := clk.Now().Add(tt.openFor)
			wantOpen(t, s, "private", tt.class, until)
			if tt.class == scheduler.ClassAuth {
				if err := do(s, "public", ok); err != nil {
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
			wantOpen(t, s, "private", tt.class, clk.Now().Add(min(tt.openFor, map[scheduler.Class]time.Duration{
				scheduler.ClassAuth: time.Minute, scheduler.ClassRateLimit: 10 * time.Second, scheduler.ClassTransient: 15 * time.Second}[tt.class])))
			// Half-open again; a good probe closes it.
			clk.Advance(time.Minute)
			if err := do(s, "private", ok); err != nil {
				t.Fatalf("probe: %v", err)
			}
			if st := breakerState(s, tt.class).State; st != "closed" {
				t.Fatalf("after a good probe: %s, want closed", st)
			}
			if err := do(s, "private", ok); err != nil {
				t.Fatalf("after closing: %v", err)
			}
		})
	}
}

// TestHalfOpenOneProbe: while the half-open probe is in flight, other requests wait for it
// instead of going out; its success lets them go.
func TestHalfOpenOneProbe(t *testing.T) {
	s, clk := newScheduler(t, breakerConfig())
	for range 5 {
		do(s, "private", scheduler.Outcome{Status: 503})
	}
	clk.Advance(15 * time.Second)
	probing, release := make(chan struct{}), make(chan struct{})
	probe := make(chan error, 1)
	go func() {
		_, err := s.Do(context.Background(), req("probe", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
			close(probing)
			<-release
			return scheduler.Outcome{Status: 200}
		}))
		probe <- err
	}()
	<-probing
	sent := make(chan struct{}, 1)
	other := make(chan error, 1)
	go func() {
		_, err := s.Do(context.Background(), req("other", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
			sent <- struct{}{}
			return scheduler.Outcome{Status: 200}
		}))
		other <- err
	}()
	for s.Snapshot().Queued["orders"] != 1 {
		select {
		case <-sent:
			t.Fatal("a second request went out during the half-open probe")
		default:
			runtime.Gosched()
		}
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := <-other; err != nil {
		t.Fatalf("other: %v", err)
	}
	if st := breakerState(s, scheduler.ClassTransient).State; st != "closed" {
		t.Fatalf("breaker %s, want closed", st)
	}
}

// TestBucketHoldFailsFast: a request whose budget cannot cover its bucket's pause fails at
// once, naming the bucket and until when.
func TestBucketHoldFailsFast(t *testing.T) {
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
	if err := do(s, "b1", scheduler.Outcome{Status: 200}); err != nil {
		t.Fatalf("another bucket: %v", err)
	}
}
