package scheduler_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// fakeHolds is a SharedHolds kept in memory: what was published, and what "other instances"
// hold.
type fakeHolds struct {
	mu        sync.Mutex
	published []scheduler.SharedHold
	others    []scheduler.SharedHold
}

func (f *fakeHolds) Publish(h scheduler.SharedHold) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, h)
}

func (f *fakeHolds) Holds(time.Time) []scheduler.SharedHold {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.others
}

func (f *fakeHolds) set(hs ...scheduler.SharedHold) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.others = hs
}

func (f *fakeHolds) snapshot() []scheduler.SharedHold {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]scheduler.SharedHold(nil), f.published...)
}

// TestSharedBreakerAdopted: a breaker another instance opened fails requests here fast, with
// its reason, until it ends; then requests go again.
func TestSharedBreakerAdopted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		holds := &fakeHolds{}
		s, clk := newScheduler(t, breakerConfig(), scheduler.WithSharedHolds(holds))
		until := t0.Add(5 * time.Second)
		holds.set(scheduler.SharedHold{Class: scheduler.ClassAuth, Until: until, Reason: "auth http 401 (instance b)"})
		err := do(s, "private", scheduler.Outcome{Status: 200})
		var open *scheduler.BreakerOpenError
		if !errors.As(err, &open) || open.Class != scheduler.ClassAuth || !open.Until.Equal(until) || open.Reason != "auth http 401 (instance b)" {
			t.Fatalf("err = %v, want the shared auth breaker", err)
		}
		if err := do(s, "public", scheduler.Outcome{Status: 200}); err != nil {
			t.Fatalf("public bucket held by the auth breaker: %v", err)
		}
		clk.Set(until)
		if err := do(s, "private", scheduler.Outcome{Status: 200}); err != nil {
			t.Fatalf("after the shared open ended: %v", err)
		}
		s.Close()
	})
}

// TestSharedHoldPublished: a 429 with Retry-After publishes the bucket's pause, and a 418 the
// rate_limit breaker's opening, for the fleet.
func TestSharedHoldPublished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		holds := &fakeHolds{}
		s, _ := newScheduler(t, breakerConfig(), scheduler.WithSharedHolds(holds))
		_ = do(s, "b0", scheduler.Outcome{Status: 429, RetryAfter: 3 * time.Second})
		_ = do(s, "b1", scheduler.Outcome{Status: 418, Ban: true, RetryAfter: time.Minute})
		var bucket, breaker bool
		for _, h := range holds.snapshot() {
			switch {
			case h.Bucket == "b0" && h.Until.Equal(t0.Add(3*time.Second)):
				bucket = true
			case h.Bucket == "" && h.Class == scheduler.ClassRateLimit && h.Until.Equal(t0.Add(time.Minute)):
				breaker = true
			}
		}
		if !bucket || !breaker {
			t.Fatalf("published %+v: want b0 held 3s and the rate_limit breaker open 1m", holds.snapshot())
		}
		s.Close()
	})
}

// TestSharedBucketPause: a bucket paused elsewhere makes requests here wait for the pause.
func TestSharedBucketPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		holds := &fakeHolds{}
		s, clk := newScheduler(t, baseConfig(), scheduler.WithSharedHolds(holds))
		holds.set(scheduler.SharedHold{Class: scheduler.ClassRateLimit, Bucket: "private", Until: t0.Add(2 * time.Second), Reason: "rate_limit http 429"})
		rec := &recorder{clk: clk}
		res := doAll(t, s, clk, req("a", "private", scheduler.PriorityOrders, 1, rec.scripted("a")))
		if res[0].err != nil {
			t.Fatal(res[0].err)
		}
		if at := rec.snapshot()[0].at; at.Before(t0.Add(2 * time.Second)) {
			t.Fatalf("sent at %v, inside the shared pause", at)
		}
		s.Close()
	})
}

// gateCounter is a shared Counter (Reserver, Waker) that refuses until opened.
type gateCounter struct {
	mu       sync.Mutex
	open     bool
	reserved int64
	wake     func()
}

func (c *gateCounter) Used(time.Time) int64 { return 0 }
func (c *gateCounter) Add(time.Time, int64) { panic("Add on a Reserver") }
func (c *gateCounter) Remove(_, _ time.Time, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reserved -= n
}
func (c *gateCounter) Adopt(time.Time, time.Time, int64) {}
func (c *gateCounter) Next(time.Time) time.Time          { return time.Time{} }
func (c *gateCounter) SetWaker(f func())                 { c.wake = f }
func (c *gateCounter) Reserve(_ time.Time, n, limit int64) (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.open || c.reserved+n > limit {
		return false, time.Time{}
	}
	c.reserved += n
	return true, time.Time{}
}

// TestReserverAndWake: a request waits while a shared window refuses it, and goes when the
// window's Waker says budget came back.
func TestReserverAndWake(t *testing.T) {
	c := &gateCounter{}
	cfg := baseConfig()
	cfg.Windows[0].Kind = "shared"
	s, err := scheduler.New(cfg, scheduler.WithWindowKind("shared", func(scheduler.WindowConfig) scheduler.Counter { return c }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c.wake == nil {
		t.Fatal("SetWaker was not called")
	}
	sent := make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := s.Do(context.Background(), req("a", "private", scheduler.PriorityOrders, 5, func(context.Context, int) scheduler.Outcome {
			close(sent)
			return scheduler.Outcome{Status: 200}
		}))
		done <- err
	}()
	for s.Snapshot().Queued["orders"] == 0 {
		runtime.Gosched()
	}
	select {
	case <-sent:
		t.Fatal("sent while the shared window refused")
	default:
	}
	c.mu.Lock()
	c.open = true
	c.mu.Unlock()
	c.wake()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved != 5 {
		t.Fatalf("reserved = %d, want 5", c.reserved)
	}
}
