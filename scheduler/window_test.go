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

func windowUsed(s *scheduler.Scheduler, name string) int64 {
	for _, w := range s.Snapshot().Windows {
		if w.Name == name {
			return w.Used
		}
	}
	return -1
}

// TestPacing: a window is not spent in its first second. With a burst of 0.2, a saturating
// load gets 20% of the safe limit at once and the rest evenly, and still the whole safe
// limit by the end of the window.
func TestPacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 1000, Interval: 10 * time.Second}}
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 4000}}
		cfg.DefaultBudget, cfg.DefaultMaxWait = time.Minute, time.Minute
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		var wg sync.WaitGroup
		for range 1000 {
			r := req("r", "private", scheduler.PriorityOrders, 1, rec.scripted("r"))
			wg.Go(func() { s.Do(context.Background(), r) })
		}
		synctest.Wait()
		sentBy := func(d time.Duration) (n int) {
			for _, c := range rec.snapshot() {
				if c.at.Sub(t0) <= d {
					n++
				}
			}
			return n
		}
		for clk.Now().Sub(t0) < 10*time.Second-time.Millisecond {
			d, _ := clk.NextDeadline()
			if d.Sub(t0) >= 10*time.Second {
				break
			}
			clk.Set(d)
			synctest.Wait()
		}
		if got := sentBy(0); got != 180 {
			t.Errorf("sent at once: %d, want the burst of 180", got)
		}
		if got := sentBy(time.Second); got > 180+90+1 {
			t.Errorf("sent in the first second: %d, want <= %d", got, 180+90+1)
		}
		if got := sentBy(10 * time.Second); got != 900 {
			t.Errorf("sent in the window: %d, want the safe limit 900", got)
		}
		s.Close()
		wg.Wait()
	})
}

// TestExchangeUsageOverridesOurs: the exchange's own count is adopted when it is higher, so
// requests wait for budget instead of running into a 429; a lower count changes nothing.
func TestExchangeUsageOverridesOurs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, tightConfig(100))
		answer := func(used int64) scheduler.AttemptFunc {
			return func(context.Context, int) scheduler.Outcome {
				return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: used}, {Window: "OTHER", Used: 5}}}
			}
		}
		s.Do(context.Background(), req("a", "private", scheduler.PriorityOrders, 1, answer(80)))
		if got := windowUsed(s, "W"); got != 80 {
			t.Fatalf("used = %d after the exchange said 80, want 80", got)
		}
		s.Do(context.Background(), req("b", "private", scheduler.PriorityOrders, 1, answer(3)))
		if got := windowUsed(s, "W"); got != 81 {
			t.Fatalf("used = %d after the exchange said 3, want ours (81)", got)
		}
		// 9 more fit under the safe 90; the 10th waits for the next window.
		rec := &recorder{clk: clk}
		var reqs []*scheduler.Request
		for range 10 {
			r := req("c", "private", scheduler.PriorityOrders, 1, rec.scripted("c"))
			r.Budget = 2 * time.Minute
			reqs = append(reqs, r)
		}
		doAll(t, s, clk, reqs...)
		calls := rec.snapshot()
		if calls[8].at != t0 || calls[9].at != t0.Add(time.Minute) {
			t.Fatalf("9th sent at +%v, 10th at +%v; want 0 and 1m", calls[8].at.Sub(t0), calls[9].at.Sub(t0))
		}
		s.Close()
	})
}

// TestUsageFromPreviousWindowIgnored: a count reported for a request sent in the previous
// fixed window does not inflate the new one.
func TestUsageFromPreviousWindowIgnored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, baseConfig())
		clk.Set(t0.Add(59 * time.Second))
		s.Do(context.Background(), req("a", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
			clk.Advance(2 * time.Second) // the answer arrives in the next minute
			return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 700}}}
		}))
		if got := windowUsed(s, "W"); got != 0 {
			t.Fatalf("used = %d, want 0", got)
		}
		s.Close()
	})
}

// TestClockOffsetAlignsWindows: fixed windows follow the exchange's clock.
func TestClockOffsetAlignsWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, baseConfig())
		s.SetClockOffset(15 * time.Second) // the exchange is 15s ahead
		clk.Set(t0.Add(40 * time.Second))  // exchange 12:00:55
		s.Do(context.Background(), req("a", "private", scheduler.PriorityOrders, 7, func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }))
		clk.Set(t0.Add(44 * time.Second))
		if got := windowUsed(s, "W"); got != 7 {
			t.Fatalf("used at exchange 12:00:59 = %d, want 7", got)
		}
		clk.Set(t0.Add(45 * time.Second)) // exchange 12:01:00: a new minute
		if got := windowUsed(s, "W"); got != 0 {
			t.Fatalf("used at exchange 12:01:00 = %d, want 0", got)
		}
		s.Close()
	})
}

// TestSlidingWindow: a sliding window counts the last interval, whenever now is.
func TestSlidingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 100, Interval: 10 * time.Second, Kind: scheduler.KindSliding, Burst: 1}}
		s, clk := newScheduler(t, cfg)
		clk.Set(t0.Add(3 * time.Second))
		s.Do(context.Background(), req("a", "private", scheduler.PriorityOrders, 5, succeed))
		clk.Set(t0.Add(8 * time.Second))
		s.Do(context.Background(), req("b", "private", scheduler.PriorityOrders, 2, succeed))
		for _, tt := range []struct {
			at   time.Duration
			want int64
		}{{12 * time.Second, 7}, {13 * time.Second, 2}, {18 * time.Second, 0}} {
			clk.Set(t0.Add(tt.at))
			if got := windowUsed(s, "W"); got != tt.want {
				t.Errorf("used at +%v = %d, want %d", tt.at, got, tt.want)
			}
		}
		s.Close()
	})
}

// TestCancelWhileQueued: a request whose ctx ends while queued leaves the queue without
// consuming budget, and stops holding back the requests behind it.
func TestCancelWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, tightConfig(10))
		fill(t, s, scheduler.PriorityOrders, 6, succeed)
		ctx, cancel := context.WithCancel(context.Background())
		big := goDo(ctx, s, req("big", "private", scheduler.PriorityCritical, 5, succeed))
		synctest.Wait()
		// The waiting critical request reserves the window: a small orders request waits too.
		small := goDo(context.Background(), s, req("small", "private", scheduler.PriorityOrders, 2, succeed))
		synctest.Wait()
		if q := s.Snapshot().Queued; q["critical"] != 1 || q["orders"] != 1 {
			t.Fatalf("queued = %v", q)
		}
		cancel()
		if err := big.wait().err; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if err := small.wait().err; err != nil {
			t.Fatalf("small: %v", err)
		}
		if got := windowUsed(s, "W"); got != 8 {
			t.Fatalf("used = %d, want 8 (the cancelled request consumed nothing)", got)
		}
		s.Close()
	})
}

// TestSetWindowLimit: adapters learn limits at run time; a request naming a window nobody
// configured is rejected until then.
func TestSetWindowLimit(t *testing.T) {
	s, _ := newScheduler(t, baseConfig())
	r := &scheduler.Request{Bucket: "private", Priority: scheduler.PriorityOrders, Costs: []scheduler.Cost{{Window: "ORDERS", Amount: 1}}, Attempt: succeed}
	if _, err := s.Do(context.Background(), r); !errors.Is(err, scheduler.ErrInvalidRequest) {
		t.Fatalf("err = %v, want ErrInvalidRequest", err)
	}
	if err := s.SetWindowLimit("ORDERS", 50, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Do(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWindowLimit("W", 6000, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWindowLimit("W", 0, time.Minute); err == nil || err.Error() != "scheduler: windows[W].limit: must be >= 1, got 0" {
		t.Fatalf("err = %v", err)
	}
	snap := s.Snapshot()
	if len(snap.Windows) != 2 || snap.Windows[0].Name != "ORDERS" || snap.Windows[0].Used != 1 || snap.Windows[1].Limit != 6000 || snap.Windows[1].SafeLimit != 5400 {
		t.Fatalf("windows = %+v", snap.Windows)
	}
}

// TestRaisedLimitAppliesAtOnce: when SetWindowLimit raises a window's limit, the pacer paces
// for the new limit at once: low-priority requests do not wait seconds for tokens computed
// for the old one.
func TestRaisedLimitAppliesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 100, Interval: time.Minute}} // safe 90, burst 18
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		// Spend the old burst.
		if _, err := s.Do(context.Background(), req("drain", "private", scheduler.PriorityOrders, 18, rec.scripted("drain"))); err != nil {
			t.Fatal(err)
		}
		if err := s.SetWindowLimit("W", 6000, time.Minute); err != nil { // safe 5400, burst 1080
			t.Fatal(err)
		}
		var reqs []*scheduler.Request
		for range 100 {
			reqs = append(reqs, req("market", "public", scheduler.PriorityMarket, 1, rec.scripted("market")))
		}
		for i, r := range doAll(t, s, clk, reqs...) {
			if r.err != nil {
				t.Fatalf("market %d: %v, want sent under the raised limit", i, r.err)
			}
		}
		market := 0
		for _, c := range rec.snapshot() {
			if c.at != t0 {
				t.Fatalf("%s sent at +%v, want at once under the raised limit", c.name, c.at.Sub(t0))
			}
			if c.name == "market" {
				market++
			}
		}
		if market != len(reqs) {
			t.Fatalf("market requests sent: %d, want %d", market, len(reqs))
		}
		s.Close()
	})
}

// TestLoweredLimitAppliesAtOnce: when SetWindowLimit lowers a window's limit, the new limit
// applies at once: no more than the new burst goes at once, no more than the new safe limit
// in the window (what was sent before counts), and the rest is paced at the new rate.
func TestLoweredLimitAppliesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 6000, Interval: time.Minute}} // safe 5400, burst 1080
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1000}}
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		if _, err := s.Do(context.Background(), req("before", "private", scheduler.PriorityOrders, 50, rec.scripted("before"))); err != nil {
			t.Fatal(err)
		}
		if err := s.SetWindowLimit("W", 100, time.Minute); err != nil { // safe 90, burst 18
			t.Fatal(err)
		}
		var reqs []*scheduler.Request
		for range 100 {
			r := req("after", "private", scheduler.PriorityOrders, 1, rec.scripted("after"))
			r.Budget = 3 * time.Minute
			reqs = append(reqs, r)
		}
		doAll(t, s, clk, reqs...)
		sent := func(from, to time.Duration) (n int) {
			for _, c := range rec.snapshot() {
				if d := c.at.Sub(t0); c.name == "after" && d >= from && d < to {
					n++
				}
			}
			return n
		}
		if got := sent(0, time.Nanosecond); got != 18 {
			t.Errorf("sent at once after lowering: %d, want the new burst of 18", got)
		}
		if got := sent(0, time.Minute); got != 40 {
			t.Errorf("sent in the first window: %d, want 40 (the new safe 90 less the 50 sent before)", got)
		}
		if got := sent(0, 10*time.Second); got > 18+15+1 {
			t.Errorf("sent in the first 10s: %d, want at most the burst and 1.5/s", got)
		}
		if got := sent(time.Minute, 2*time.Minute); got > 90 {
			t.Errorf("sent in the second window: %d, want at most 90", got)
		}
		s.Close()
	})
}
