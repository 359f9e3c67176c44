package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// flood starts n requests of priority p and cost 1 on window W that wait as long as it takes,
// recorded by rec under name, and returns once every one has been sent or queued.
func flood(t *testing.T, s *scheduler.Scheduler, wg *sync.WaitGroup, rec *recorder, name string, p scheduler.Priority, n int) {
	t.Helper()
	for range n {
		r := req(name, "private", p, 1, rec.scripted(name))
		r.MaxWait, r.Budget = time.Hour, time.Hour
		wg.Go(func() { s.Do(context.Background(), r) })
	}
	synctest.Wait()
}

// count returns how many of calls were made by name.
func count(calls []call, name string) int {
	n := 0
	for _, c := range calls {
		if c.name == name {
			n++
		}
	}
	return n
}

// TestLendingFillsTheWindow: with nothing of a higher priority about, every priority below
// 1.0 headroom may fill the window but the cancel floor (1% of the safe limit), where its
// fixed headroom would have stopped it at 70% or 85%; an order that comes then finds the floor
// and goes at once (a second waits: the floor is spent), and a cancel goes as its bucket's
// probe.
func TestLendingFillsTheWindow(t *testing.T) {
	for _, p := range []scheduler.Priority{scheduler.PriorityBackground, scheduler.PriorityMarket, scheduler.PriorityAccount} {
		t.Run(p.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := tightConfig(100) // 90 safe
				cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1000}}
				s, clk := newScheduler(t, cfg)
				rec := &recorder{clk: clk}
				var wg sync.WaitGroup
				flood(t, s, &wg, rec, "read", p, 120)
				if got := len(rec.snapshot()); got != 89 { // 90 less a floor of 0.9
					t.Fatalf("sent %d in the window, want 89", got)
				}
				order := req("order", "private", scheduler.PriorityOrders, 1, rec.scripted("order"))
				order.Write = true
				if _, err := s.Do(context.Background(), order); err != nil {
					t.Fatalf("order: %v", err)
				}
				// The order went inside the floor (an order has no probe that passes a full
				// window), and the floor is then spent: a second order waits for the next window.
				second := req("order2", "private", scheduler.PriorityOrders, 1, rec.scripted("order2"))
				second.Write = true
				res2 := goDo(context.Background(), s, second)
				synctest.Wait()
				if res2.returned() {
					t.Fatalf("a second order went with the floor spent: %v", res2.res.err)
				}
				cancel := req("cancel", "private", scheduler.PriorityCritical, 1, rec.scripted("cancel"))
				cancel.Write, cancel.Cancel = true, true
				res := goDo(context.Background(), s, cancel)
				synctest.Wait()
				if !res.returned() {
					// The order took the last of the safe limit; the cancel probes the full
					// window (its bucket's first probe goes at once).
					t.Fatalf("cancel still waits at %v", clk.Now().Sub(t0))
				}
				if res.res.err != nil {
					t.Fatalf("cancel: %v", res.res.err)
				}
				s.Close()
				wg.Wait()
				res2.wait()
			})
		})
	}
}

// TestLendingLeavesWhatHigherPrioritiesUse: once a higher priority has been seen on a window,
// a lower one leaves it what the higher one was granted over the window's last interval, not
// its whole fixed reserve; when nothing higher was granted in the last interval it leaves the
// floor again, and after the look-back (twice the interval by default) it no longer looks.
func TestLendingLeavesWhatHigherPrioritiesUse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(100) // 90 safe
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1000}}
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		fill(t, s, scheduler.PriorityAccount, 20, rec.scripted("account"))
		var wg sync.WaitGroup
		flood(t, s, &wg, rec, "market", scheduler.PriorityMarket, 200)
		// The account read took 20 of 90: market may fill 90·(1 - 20/90) = 70, so 50 more
		// (its fixed headroom would stop at 63, so 43).
		if got := count(rec.snapshot(), "market"); got != 50 {
			t.Fatalf("market sent %d beside the account's 20, want 50", got)
		}
		// The next window: the account read is within the look-back but granted nothing in the
		// last interval, so only the floor is left.
		clk.Set(t0.Add(time.Minute))
		synctest.Wait()
		if got := count(rec.snapshot(), "market") - 50; got != 89 {
			t.Fatalf("market sent %d in the next window, want 89", got)
		}
		s.Close()
		wg.Wait()
	})
}

// TestLendingLookbackKeepsTheReserve: a higher priority that asked within the look-back and
// was granted in the last interval keeps what it was granted; with headroom.lookback set
// short, the reserve lapses once the look-back has passed, within the same window.
func TestLendingLookbackKeepsTheReserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(100)
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1000}}
		cfg.Headroom.Lookback = 10 * time.Second
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		fill(t, s, scheduler.PriorityOrders, 10, rec.scripted("order"))
		var wg sync.WaitGroup
		flood(t, s, &wg, rec, "market", scheduler.PriorityMarket, 200)
		// Orders took 10 of 90 and are remembered: market leaves them 10 (a share of 80/90),
		// so stops at 80, 70 of its own.
		if got := count(rec.snapshot(), "market"); got != 70 {
			t.Fatalf("market sent %d beside the orders' 10, want 70", got)
		}
		clk.Advance(10*time.Second + time.Millisecond)
		synctest.Wait()
		// Nothing waits on a time here: the next request to come looks again.
		flood(t, s, &wg, rec, "market", scheduler.PriorityMarket, 1)
		if got := count(rec.snapshot(), "market"); got != 79 { // 89 less the orders' 10
			t.Fatalf("market sent %d once the look-back passed, want 79", got)
		}
		s.Close()
		wg.Wait()
	})
}
