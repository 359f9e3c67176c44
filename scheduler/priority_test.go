package scheduler_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// saturatedConfig has one tight window (10 per second, no burst) so that requests queue.
func saturatedConfig() scheduler.Config {
	cfg := baseConfig()
	cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 10, Interval: time.Second, Burst: 0.1}}
	cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 2000}}
	cfg.DefaultMaxWait = time.Hour
	cfg.DefaultBudget = time.Hour
	return cfg
}

// TestPriorityUnderSaturation: orders submitted after 1000 queued account requests go out
// first.
func TestPriorityUnderSaturation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, saturatedConfig())
		rec := &recorder{clk: clk}
		var wg sync.WaitGroup
		for range 1000 {
			r := req("account", "private", scheduler.PriorityAccount, 1, rec.scripted("account"))
			wg.Go(func() { s.Do(context.Background(), r) })
		}
		synctest.Wait()
		before := len(rec.snapshot())
		for range 5 {
			r := req("orders", "private", scheduler.PriorityOrders, 1, rec.scripted("orders"))
			wg.Go(func() { s.Do(context.Background(), r) })
		}
		synctest.Wait()
		if q := s.Snapshot().Queued; q["account"] < 990 || q["orders"] != 5 {
			t.Fatalf("queued = %v, want ~1000 account and 5 orders", q)
		}
		for len(rec.snapshot()) < before+5 {
			d, _ := clk.NextDeadline()
			clk.Set(d)
			synctest.Wait()
		}
		for i, c := range rec.snapshot()[before : before+5] {
			if c.name != "orders" {
				t.Errorf("dispatch %d after the orders were queued was %s", i, c.name)
			}
		}
		s.Close()
		wg.Wait()
	})
}

// TestZeroPriorityInversions: under a random mix of arrivals, no request is sent while a
// request of higher priority, queued before it was sent, still waits.
func TestZeroPriorityInversions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, saturatedConfig())
		type sent struct {
			p     scheduler.Priority
			batch int // the batch the request arrived in
		}
		var mu sync.Mutex
		var order []sent
		rng := rand.New(rand.NewPCG(3, 4))
		var wg sync.WaitGroup
		marks := []int{} // marks[b]: how many had been sent when batch b was all queued
		for batch := range 60 {
			for range rng.IntN(8) {
				p := scheduler.Priority(rng.IntN(scheduler.NumPriorities))
				r := req("r", "private", p, 1, func(context.Context, int) scheduler.Outcome {
					mu.Lock()
					order = append(order, sent{p, batch})
					mu.Unlock()
					return scheduler.Outcome{Status: 200}
				})
				wg.Go(func() { s.Do(context.Background(), r) })
			}
			synctest.Wait()
			mu.Lock()
			marks = append(marks, len(order))
			mu.Unlock()
			clk.Advance(time.Duration(rng.IntN(400)) * time.Millisecond)
			synctest.Wait()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		drive(t, clk, done)
		// X (sent at index i) inverts with Y (sent later) if Y has a higher priority and was
		// queued before X went out: Y's batch was all queued by the time i was reached.
		inversions := 0
		for i, x := range order {
			for _, y := range order[i+1:] {
				if y.p > x.p && marks[y.batch] <= i {
					inversions++
				}
			}
		}
		if inversions != 0 {
			t.Fatalf("%d priority inversions among %d requests", inversions, len(order))
		}
		t.Logf("%d requests, 0 inversions", len(order))
		s.Close()
	})
}

// TestReservedHeadroom: without lending (headroom.lookback < 0) each priority fills a window
// only up to its share of the safe limit, leaving the rest to higher priorities.
func TestReservedHeadroom(t *testing.T) {
	tests := []struct {
		p    scheduler.Priority
		want int // of a window of 100 at safety 0.9: 90 safe
	}{
		{scheduler.PriorityBackground, 63},
		{scheduler.PriorityMarket, 63},
		{scheduler.PriorityAccount, 76},
		{scheduler.PriorityOrders, 90},
		{scheduler.PriorityCritical, 90},
	}
	for _, tt := range tests {
		t.Run(tt.p.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := tightConfig(100)
				cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1000}}
				cfg.Headroom.Lookback = -1
				s, clk := newScheduler(t, cfg)
				rec := &recorder{clk: clk}
				var wg sync.WaitGroup
				for range 120 {
					r := req("r", "private", tt.p, 1, rec.scripted("r"))
					r.MaxWait = time.Hour
					wg.Go(func() { s.Do(context.Background(), r) })
				}
				synctest.Wait()
				if got := len(rec.snapshot()); got != tt.want {
					t.Fatalf("sent %d in the window, want %d", got, tt.want)
				}
				if tt.p < scheduler.PriorityOrders {
					// What the lower priority left is there for orders at once.
					o := req("orders", "private", scheduler.PriorityOrders, int64(90-tt.want), rec.scripted("orders"))
					if _, err := s.Do(context.Background(), o); err != nil {
						t.Fatalf("orders: %v", err)
					}
				}
				s.Close()
				wg.Wait()
			})
		})
	}
}

// TestShedding: below orders priority a request that waits longer than its max wait is shed
// with ErrShed; orders priority waits on.
func TestShedding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, tightConfig(10))
		rec := &recorder{clk: clk}
		fill(t, s, scheduler.PriorityCritical, 9, rec.scripted("fill")) // for everybody
		market := req("market", "public", scheduler.PriorityMarket, 1, rec.scripted("market"))
		market.MaxWait = 2 * time.Second
		orders := req("orders", "private", scheduler.PriorityOrders, 1, rec.scripted("orders"))
		orders.MaxWait = 2 * time.Second // ignored at orders priority
		orders.Budget = 2 * time.Minute
		pm := goDo(context.Background(), s, market)
		po := goDo(context.Background(), s, orders)
		synctest.Wait()
		start := clk.Now()
		clk.Advance(2*time.Second - time.Millisecond)
		synctest.Wait()
		for name, p := range map[string]*pending{"market": pm, "orders": po} {
			if p.returned() {
				t.Fatalf("%s returned before the max wait: %+v", name, p.res)
			}
		}
		clk.Advance(time.Millisecond)
		synctest.Wait()
		if !pm.returned() || !errors.Is(pm.res.err, scheduler.ErrShed) {
			t.Fatalf("market: err = %v after %v, want ErrShed", pm.res.err, clk.Now().Sub(start))
		}
		if po.returned() {
			t.Fatal("orders returned too")
		}
		if r := po.drive(t, clk); r.err != nil {
			t.Fatalf("orders: %v", r.err)
		}
		if got := rec.snapshot()[1]; got.name != "orders" || got.at.Sub(t0) != time.Minute {
			t.Fatalf("orders sent at %v, want when the next window opened", got.at.Sub(t0))
		}
		s.Close()
	})
}
