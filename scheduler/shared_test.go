package scheduler_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// fakeHolds is a Shared kept in memory: what was published, and what "other instances" hold;
// the windows named in windows are shared by their counter, the others kept local, and every
// bucket keeps its local semaphore.
type fakeHolds struct {
	mu        sync.Mutex
	published []scheduler.SharedHold
	others    []scheduler.SharedHold
	windows   map[string]*gateCounter
	asked     []string // the windows Window was asked about
}

func (f *fakeHolds) Window(w scheduler.WindowConfig, _ scheduler.Counter, wake func()) interface {
	scheduler.Counter
	Reserve(now time.Time, n, limit int64) (bool, time.Time)
} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, w.Name)
	c, ok := f.windows[w.Name]
	if !ok {
		return nil
	}
	c.mu.Lock()
	c.wake = wake
	c.mu.Unlock()
	return c
}

func (f *fakeHolds) Semaphore(b scheduler.BucketConfig, _ int, local func(int) scheduler.Semaphore, _ func()) scheduler.Semaphore {
	return local(b.MaxConcurrency)
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
		s, clk := newScheduler(t, breakerConfig(), scheduler.WithShared(holds))
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
		s, _ := newScheduler(t, breakerConfig(), scheduler.WithShared(holds))
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
		s, clk := newScheduler(t, baseConfig(), scheduler.WithShared(holds))
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

// gateCounter is a shared window's Counter that refuses to reserve until opened.
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
func (c *gateCounter) Reserve(_ time.Time, n, limit int64) (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.open || c.reserved+n > limit {
		return false, time.Time{}
	}
	c.reserved += n
	return true, time.Time{}
}

// TestSharedWindowReserveAndWake: a request waits while a shared window refuses it, and goes
// when the shared store wakes the scheduler because budget came back.
func TestSharedWindowReserveAndWake(t *testing.T) {
	c := &gateCounter{}
	cfg := baseConfig()
	s, err := scheduler.New(cfg, scheduler.WithShared(&fakeHolds{windows: map[string]*gateCounter{cfg.Windows[0].Name: c}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.mu.Lock()
	wake := c.wake
	c.mu.Unlock()
	if wake == nil {
		t.Fatal("the shared window was not given the scheduler's wake")
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
	wake()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved != 5 {
		t.Fatalf("reserved = %d, want 5", c.reserved)
	}
}

// TestAddWindowShared: a window added while the bot runs (Kraken's per pair) goes through the
// shared store like a configured one: its requests reserve fleet-wide.
func TestAddWindowShared(t *testing.T) {
	c := &gateCounter{open: true}
	sh := &fakeHolds{windows: map[string]*gateCounter{"pair:XBTUSD": c}}
	s, err := scheduler.New(baseConfig(), scheduler.WithShared(sh))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddWindow(scheduler.WindowConfig{Name: "pair:XBTUSD", Kind: scheduler.KindDecaying, Limit: 60, Interval: time.Minute}); err != nil {
		t.Fatal(err)
	}
	sh.mu.Lock()
	asked := append([]string(nil), sh.asked...)
	sh.mu.Unlock()
	if !slices.Contains(asked, "pair:XBTUSD") {
		t.Fatalf("Shared.Window asked about %v, not the added window", asked)
	}
	r := &scheduler.Request{Bucket: "private", Priority: scheduler.PriorityOrders, Costs: []scheduler.Cost{{Window: "pair:XBTUSD", Amount: 8}},
		Attempt: func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }}
	if _, err := s.Do(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved != 8 {
		t.Fatalf("reserved %d on the shared window, want 8", c.reserved)
	}
}
