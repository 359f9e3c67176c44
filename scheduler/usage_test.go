package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// safeLimit returns window name's safe limit in force.
func safeLimit(s *scheduler.Scheduler, name string) int64 {
	for _, w := range s.Snapshot().Windows {
		if w.Name == name {
			return w.SafeLimit
		}
	}
	return -1
}

// TestSafetyFractionFollowsUsageReports: a window uses 0.99 of its limit while the exchange's
// usage reports confirm its count, and 0.9 before any report, for an interval after one that
// showed more than the count allowed for, and once reports stop coming for an interval.
func TestSafetyFractionFollowsUsageReports(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, tightConfig(1000))
		var exchange int64 // what the exchange counted, ours and others'
		answer := func(extra int64) scheduler.AttemptFunc {
			return func(context.Context, int) scheduler.Outcome {
				exchange += 1 + extra
				return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: exchange}}}
			}
		}
		do := func(extra int64) {
			t.Helper()
			if _, err := s.Do(context.Background(), req("r", "private", scheduler.PriorityOrders, 1, answer(extra))); err != nil {
				t.Fatal(err)
			}
		}
		if got := safeLimit(s, "W"); got != 900 {
			t.Fatalf("safe limit before any report = %d, want 900", got)
		}
		do(0)
		if got := safeLimit(s, "W"); got != 990 {
			t.Fatalf("safe limit after a report that agrees = %d, want 990", got)
		}
		do(5) // others spent 5: within half the confirmed margin (5 of 10)
		if got := safeLimit(s, "W"); got != 990 {
			t.Fatalf("safe limit after a report 5 above = %d, want 990", got)
		}
		do(6) // 6 more than counted: doubt
		if got := safeLimit(s, "W"); got != 900 {
			t.Fatalf("safe limit after a report 6 above the count = %d, want 900", got)
		}
		clk.Advance(30 * time.Second)
		do(0) // agrees, but the doubt lasts an interval
		if got := safeLimit(s, "W"); got != 900 {
			t.Fatalf("safe limit 30s after the doubt = %d, want 900", got)
		}
		clk.Advance(31 * time.Second)
		exchange = 0 // a new window at the exchange
		do(0)
		if got := safeLimit(s, "W"); got != 990 {
			t.Fatalf("safe limit an interval after the doubt = %d, want 990", got)
		}
		clk.Advance(time.Minute + time.Millisecond)
		if got := safeLimit(s, "W"); got != 900 {
			t.Fatalf("safe limit after an interval without reports = %d, want 900", got)
		}
		s.Close()
	})
}

// bystanderExchange counts one fixed window of limit per interval on the fake clock: what the
// scheduler's requests spend, and a bystander outside the scheduler that spends share of each
// window evenly through it (refused past the limit). It reports the total with each answer.
type bystanderExchange struct {
	clk      *clock.Fake
	limit    int64
	interval time.Duration
	share    int64 // the bystander's spend per window

	mu       sync.Mutex
	served   map[int64]int64 // everything served per window
	by       map[int64]int64 // the bystander's attempts per window so far
	refusals int             // the bystander's
}

// catchUp makes the bystander's attempts due by now, in the windows up to now's.
func (x *bystanderExchange) catchUp(now time.Time) {
	i := now.UnixNano() / int64(x.interval)
	for w := i - 1; w <= i; w++ {
		due := x.share
		if w == i {
			due = x.share * (now.UnixNano() - i*int64(x.interval)) / int64(x.interval)
		}
		for ; x.by[w] < due; x.by[w]++ {
			if x.served[w]+1 > x.limit {
				x.refusals++
				continue
			}
			x.served[w]++
		}
	}
}

func (x *bystanderExchange) serve(weight int64) scheduler.Outcome {
	x.mu.Lock()
	defer x.mu.Unlock()
	now := x.clk.Now()
	x.catchUp(now)
	i := now.UnixNano() / int64(x.interval)
	if x.served[i]+weight > x.limit {
		return scheduler.Outcome{Status: 429}
	}
	x.served[i] += weight
	return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: x.served[i]}}}
}

// bystanderSetup is a scheduler with one window of 1000 per 10 s, one slot, a bystander
// spending 300 of each window at the exchange, and a market read of 10 that waits up to an hour.
func bystanderSetup(t *testing.T) (*scheduler.Scheduler, *clock.Fake, *bystanderExchange, *scheduler.Request) {
	cfg := tightConfig(1000)
	cfg.Windows[0].Interval = 10 * time.Second
	cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1}}
	s, clk := newScheduler(t, cfg)
	x := &bystanderExchange{clk: clk, limit: 1000, interval: 10 * time.Second, share: 300,
		served: map[int64]int64{}, by: map[int64]int64{}}
	read := req("read", "private", scheduler.PriorityMarket, 10, func(context.Context, int) scheduler.Outcome { return x.serve(10) })
	read.MaxWait = time.Hour
	return s, clk, x, read
}

// TestOthersSpendIsLeftToThemFromAStart: a scheduler that starts at a window's start has seen
// nothing of the window before; it still projects the bystander's rate it measures in the
// first window (it used to take the unknown window before for zero spend, bound the
// projection by it, and let a flood take what the bystander had still to spend).
func TestOthersSpendIsLeftToThemFromAStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk, x, read := bystanderSetup(t)
		// One read a second from the window's start to its middle, then a flood.
		for range 5 {
			if _, err := s.Do(context.Background(), read); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 100 {
			wg.Go(func() { s.Do(ctx, read) })
		}
		synctest.Wait()
		clk.Set(t0.Add(10*time.Second - time.Millisecond)) // the window's end
		synctest.Wait()
		x.mu.Lock()
		x.catchUp(clk.Now())
		refused, total := x.refusals, x.served[t0.UnixNano()/int64(10*time.Second)]
		x.mu.Unlock()
		cancel()
		wg.Wait()
		if refused != 0 {
			t.Errorf("the bystander was refused %d times in the first window (window total %d)", refused, total)
		}
		s.Close()
	})
}

// TestOthersSpendIsLeftToThem: a bystander spends 300 of a window of 1000 steadily through it.
// The usage reports show its spend so far; the scheduler estimates its rate and, from the
// second window on, leaves it what it will spend until the window ends, instead of filling the
// window up to what the reports showed and leaving it to be refused.
func TestOthersSpendIsLeftToThem(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk, x, read := bystanderSetup(t)
		// One read a second through two windows, the second only up to its middle, where the
		// bystander has spent 150 of its 300; then a flood of reads, all at once.
		for range 15 {
			if _, err := s.Do(context.Background(), read); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		sent := 0
		for range 100 {
			wg.Go(func() {
				if _, err := s.Do(ctx, read); err == nil {
					mu.Lock()
					sent++
					mu.Unlock()
				}
			})
		}
		synctest.Wait()
		clk.Set(t0.Add(20*time.Second - time.Millisecond)) // the window's end
		synctest.Wait()
		x.mu.Lock()
		x.catchUp(clk.Now())
		refused, total := x.refusals, x.served[t0.UnixNano()/int64(10*time.Second)+1]
		x.mu.Unlock()
		cancel()
		wg.Wait()
		if refused != 0 {
			t.Errorf("the bystander was refused %d times (window total %d, the flood sent %d)", refused, total, sent)
		}
		// The flood may fill what is safe less the bystander's 150 still to come: 900 (the
		// reports doubt the count: others spend between them) less the floor 9, less the
		// 60 sent and the 150 seen and the 150 to come: 531, so 53 reads.
		if sent < 50 {
			t.Errorf("the flood sent %d reads, want about 53: the window was not used", sent)
		}
		t.Logf("flood sent %d, window total %d of 1000", sent, total)
		s.Close()
	})
}

// TestOthersSpendEstimateExpires: one report shows others spending far more than the window
// holds (893 of 1000 only 1.5 s into a 10 s window: at that rate they would spend the window
// several times over). The window leaves it to them for the rest of that period and the next,
// which no report can correct, since nothing is sent; then the estimate, renewed by no report,
// ends, and an order waiting since the next period began goes out when the one after begins,
// not never.
func TestOthersSpendEstimateExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(1000)
		cfg.Windows[0].Interval = 10 * time.Second
		s, clk := newScheduler(t, cfg)
		clk.Advance(1500 * time.Millisecond)
		fill(t, s, scheduler.PriorityOrders, 3, func(context.Context, int) scheduler.Outcome {
			return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 893}}}
		})
		clk.Set(t0.Add(10 * time.Second)) // the next period: the estimate still holds
		var sent time.Time
		order := req("order", "private", scheduler.PriorityOrders, 1, func(context.Context, int) scheduler.Outcome {
			sent = clk.Now()
			return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 1}}}
		})
		order.Method, order.Write, order.Budget = "POST", true, time.Minute
		p := goDo(context.Background(), s, order)
		synctest.Wait()
		if !sent.IsZero() {
			t.Fatalf("order sent at +%v, in the period the estimate covers", sent.Sub(t0))
		}
		clk.Set(t0.Add(20 * time.Second))
		synctest.Wait()
		select {
		case <-p.done:
		default:
			clk.Set(t0.Add(59 * time.Second))
			synctest.Wait()
			t.Fatalf("order not sent when the period after the estimate began (+20s)")
		}
		if p.res.err != nil || !sent.Equal(t0.Add(20*time.Second)) {
			t.Fatalf("order: err %v, sent at +%v, want sent at +20s", p.res.err, sent.Sub(t0))
		}
		s.Close()
	})
}
