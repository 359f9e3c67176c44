package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// skewedExchange counts one fixed window of limit per interval, its periods starting skew
// after the scheduler's (a clock offset that is off, or drifts as a scaled simulator's does):
// so a report early in the scheduler's period also counts what the scheduler spent at the end
// of its previous one, and looks like others' spend.
type skewedExchange struct {
	clk interface{ Now() time.Time }
	interval,
	skew time.Duration
	limit int64

	mu     sync.Mutex
	served map[int64]int64
}

func (x *skewedExchange) serve(weight int64) scheduler.Outcome {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := (x.clk.Now().UnixNano() - int64(x.skew)) / int64(x.interval)
	if x.served[i]+weight > x.limit {
		return scheduler.Outcome{Status: 429, RetryAfter: time.Second}
	}
	x.served[i] += weight
	return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: x.served[i]}}}
}

// TestOrdersNotStarvedBySaturatingReads is keel certify's hot-endpoint scenario at the
// scheduler: four goroutines read weight 250 of a 1500-per-second window without pause, an
// order of weight 1 comes every 200 ms, and the exchange's usage reports show more than the
// scheduler counted (its periods are skewed from ours, so its count includes our spend at the
// end of our previous period, which reads as others' spend). Every order must be sent within
// about a window of its arrival, and the reads must go on being served: an estimate of
// others' spend that no report renews must not keep the window closed.
func TestOrdersNotStarvedBySaturatingReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 1500, Interval: time.Second}}
		s, clk := newScheduler(t, cfg)
		x := &skewedExchange{clk: clk, interval: time.Second, skew: 300 * time.Millisecond, limit: 1500, served: map[int64]int64{}}

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		var readAt []time.Time // when each read was sent
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					r := req("depth", "public", scheduler.PriorityMarket, 250, func(context.Context, int) scheduler.Outcome { return x.serve(250) })
					if _, err := s.Do(ctx, r); err == nil {
						mu.Lock()
						readAt = append(readAt, clk.Now())
						mu.Unlock()
					}
				}
			})
		}
		type order struct {
			at, sent time.Time
			err      error
		}
		var orders []*order
		const run = 20 * time.Second
		for step := time.Duration(0); step < run; step += 10 * time.Millisecond {
			if step%(200*time.Millisecond) == 0 {
				o := &order{at: clk.Now()}
				orders = append(orders, o)
				r := req("order", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
					o.sent = clk.Now()
					return x.serve(1)
				})
				r.Method, r.Write = "POST", true
				wg.Go(func() { _, o.err = s.Do(ctx, r) })
			}
			synctest.Wait()
			clk.Advance(10 * time.Millisecond)
		}
		synctest.Wait()
		// Orders of the last window may still be due; everything before must have gone.
		late := 0
		var worst time.Duration
		for _, o := range orders {
			if !o.sent.IsZero() {
				worst = max(worst, o.sent.Sub(o.at))
			}
			if o.at.After(t0.Add(run - 2*time.Second)) {
				continue
			}
			switch {
			case o.sent.IsZero():
				late++
				if late <= 3 {
					t.Errorf("order arriving at +%v: never sent by +%v (err %v)", o.at.Sub(t0), run, o.err)
				}
			case o.sent.Sub(o.at) > 1500*time.Millisecond:
				late++
				if late <= 3 {
					t.Errorf("order arriving at +%v: sent %v later", o.at.Sub(t0), o.sent.Sub(o.at))
				}
			}
		}
		if late > 0 {
			t.Errorf("%d of %d orders waited more than 1.5 windows", late, len(orders))
		}
		mu.Lock()
		sent := append([]time.Time{t0}, readAt...)
		mu.Unlock()
		// The skew makes the exchange's count legitimately fill some of our periods, and a
		// rate measured from it may close one more; never more than that.
		var gap time.Duration
		for i := 1; i < len(sent); i++ {
			gap = max(gap, sent[i].Sub(sent[i-1]))
		}
		gap = max(gap, t0.Add(run).Sub(sent[len(sent)-1]))
		if gap > 2500*time.Millisecond {
			t.Errorf("no read was served for %v: the window stayed closed (%d reads in %v)", gap, len(sent)-1, run)
		}
		t.Logf("%d reads (longest gap %v), %d orders, longest order wait %v", len(sent)-1, gap, len(orders), worst)
		cancel()
		wg.Wait()
		s.Close()
	})
}
