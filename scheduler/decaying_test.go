package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// decayingConfig is baseConfig with one decaying window W of limit per interval, defaults
// otherwise (burst 1, safety fraction 0.9), and budgets long enough to drain it.
func decayingConfig(limit int64, interval time.Duration) scheduler.Config {
	cfg := baseConfig()
	cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: limit, Interval: interval, Kind: scheduler.KindDecaying}}
	cfg.DefaultBudget, cfg.DefaultMaxWait = 10*time.Minute, 10*time.Minute
	return cfg
}

// submitInOrder starts reqs one by one, each queued (or sent) before the next is submitted,
// so that the queue holds them in this order. Call it inside a synctest bubble.
func submitInOrder(t *testing.T, s *scheduler.Scheduler, reqs []*scheduler.Request) []*pending {
	t.Helper()
	ps := make([]*pending, len(reqs))
	for i, r := range reqs {
		ps[i] = goDo(context.Background(), s, r)
		synctest.Wait()
	}
	return ps
}

func TestDecayingDefaults(t *testing.T) {
	cfg := decayingConfig(15, 45*time.Second)
	cfg.Windows = append(cfg.Windows, scheduler.WindowConfig{Name: "F", Limit: 10, Interval: time.Second})
	eff := cfg.Effective()
	if eff.Windows[0].Burst != 1 || eff.Windows[1].Burst != 0.2 {
		t.Fatalf("bursts %v and %v, want 1 for a decaying window and 0.2 for a fixed one", eff.Windows[0].Burst, eff.Windows[1].Burst)
	}
}

// TestDecayingWindowBurstThenDrainRate: a fresh decaying window (Kraken Starter-like: 15 per
// 45s) admits its safe limit at once, 13, then one per 45s/(0.9·15) = 3.33s: its drain rate
// less the safety margin.
func TestDecayingWindowBurstThenDrainRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, decayingConfig(15, 45*time.Second))
		rec := &recorder{clk: clk}
		var reqs []*scheduler.Request
		for range 30 {
			reqs = append(reqs, req("r", "private", scheduler.PriorityOrders, 1, rec.scripted("r")))
		}
		drivePending(t, clk, submitInOrder(t, s, reqs))
		calls := rec.snapshot()
		if len(calls) != 30 {
			t.Fatalf("sent %d, want 30", len(calls))
		}
		const gap = 45 * time.Second * 10 / 135 // 3.333...s
		for i, c := range calls {
			want := time.Duration(0)
			if i >= 13 {
				want = time.Duration(i-12) * gap
			}
			if d := c.at.Sub(t0) - want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("request %d sent at +%v, want +%v", i, c.at.Sub(t0), want)
			}
		}
		s.Close()
	})
}

// level replays admissions against an exact decaying level: limit per interval, in ticks of
// 1/interval(ns) units, so that the test does not share the counter's arithmetic.
type level struct {
	limit, interval int64 // interval in ns
	ticks           int64
	at              time.Time
}

func (l *level) add(at time.Time, n int64) {
	l.ticks = max(0, l.ticks-int64(at.Sub(l.at))*l.limit)
	l.at = at
	l.ticks += n * l.interval
}

// units returns the level rounded up.
func (l *level) units() int64 { return (l.ticks + l.interval - 1) / l.interval }

// TestDecayingWindowNeverExceedsSafeLimit: 100 requests of mixed costs against a decaying
// window of 20 per 20s (safe 18) are sent at the window's safe drain rate, and replaying
// their admission times on an exact level never finds it above the safe limit.
func TestDecayingWindowNeverExceedsSafeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const limit, interval, safe = 20, 20 * time.Second, 18
		cfg := decayingConfig(limit, interval)
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 100}}
		s, clk := newScheduler(t, cfg)
		var (
			mu    sync.Mutex
			sent  []time.Time
			costs []int64
		)
		var reqs []*scheduler.Request
		for i := range 100 {
			cost := int64(1 + i%3) // 1, 2, 3
			reqs = append(reqs, req("r", "private", scheduler.PriorityOrders, cost, func(context.Context, int) scheduler.Outcome {
				mu.Lock()
				sent, costs = append(sent, clk.Now()), append(costs, cost)
				mu.Unlock()
				return scheduler.Outcome{Status: 200}
			}))
		}
		drivePending(t, clk, submitInOrder(t, s, reqs))
		if len(sent) != 100 {
			t.Fatalf("sent %d, want 100", len(sent))
		}
		l := &level{limit: limit, interval: int64(interval), at: t0}
		var total, burst int64
		for i, at := range sent {
			l.add(at, costs[i])
			if u := l.units(); u > safe {
				t.Fatalf("request %d (cost %d) at +%v: level %d, above the safe %d", i, costs[i], at.Sub(t0), u, safe)
			}
			if at.Equal(t0) {
				burst += costs[i]
			}
			total += costs[i]
		}
		if burst < safe-2 {
			t.Errorf("sent at once: %d units, want the safe %d less at most one cost", burst, safe)
		}
		// The rest goes at 0.9 units per second (the drain of 1/s less the safety margin).
		want := time.Duration(float64(total-burst) / 0.9 * float64(time.Second))
		if got := sent[len(sent)-1].Sub(t0); got < want-10*time.Millisecond || got > want+10*time.Millisecond {
			t.Errorf("last sent at +%v, want +%v (%d units after the burst at 0.9/s)", got, want, total-burst)
		}
		s.Close()
	})
}

// TestDecayingSetWindowLimit: a decaying window keeps its level when its limit changes and
// drains at the new rate from then on.
func TestDecayingSetWindowLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, decayingConfig(10, 10*time.Second)) // 1 per second
		fill(t, s, scheduler.PriorityOrders, 9, succeed)
		clk.Set(t0.Add(2 * time.Second))
		if got := windowUsed(s, "W"); got != 7 {
			t.Fatalf("used at +2s = %d, want 7", got)
		}
		if err := s.SetWindowLimit("W", 30, 10*time.Second); err != nil { // 3 per second
			t.Fatal(err)
		}
		if got := windowUsed(s, "W"); got != 7 {
			t.Fatalf("used after the new limit = %d, want 7 kept", got)
		}
		clk.Set(t0.Add(3 * time.Second))
		if got := windowUsed(s, "W"); got != 4 {
			t.Fatalf("used at +3s = %d, want 4", got)
		}
		s.Close()
	})
}

// krakenCancel is Kraken's trading-engine cost of cancelling an order placed at placed, by
// its age when the exchange receives the cancel.
func krakenCancel(placed time.Time, seen *[]int64, mu *sync.Mutex) func(time.Time) int64 {
	return func(now time.Time) int64 {
		var n int64
		switch age := now.Sub(placed); {
		case age < 5*time.Second:
			n = 8
		case age < 10*time.Second:
			n = 6
		case age < 15*time.Second:
			n = 5
		case age < 45*time.Second:
			n = 4
		case age < 90*time.Second:
			n = 2
		case age < 300*time.Second:
			n = 1
		}
		mu.Lock()
		*seen = append(*seen, n)
		mu.Unlock()
		return n
	}
}

func cancelReq(amountAt func(time.Time) int64, attempt scheduler.AttemptFunc) *scheduler.Request {
	return &scheduler.Request{
		Endpoint: "/0/private/CancelOrder", Method: "POST", Bucket: "private", Priority: scheduler.PriorityCritical,
		Write: true, Cancel: true, Budget: 5 * time.Minute,
		Costs: []scheduler.Cost{{Window: "W", Amount: 99, AmountAt: amountAt}}, Attempt: attempt,
	}
}

// TestTimeDependentCostChargedAtAdmission: a cancel that waits in the queue is charged what
// it costs when it is admitted, not what it cost when it was submitted: submitted 1s after
// its order was placed (8) into a full window, it goes when the next minute starts, 61s
// after, and costs 2. Amount is ignored.
func TestTimeDependentCostChargedAtAdmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(100) // safe 90 per minute, at once
		// The window frees within one cancel probe interval: the cancel waits for it rather
		// than going as its bucket's cancel probe (TestCancelsProbeThroughHolds).
		cfg.Backoff.CancelProbe = 2 * time.Minute
		s, clk := newScheduler(t, cfg)
		fill(t, s, scheduler.PriorityOrders, 85, succeed)
		rec := &recorder{clk: clk}
		var (
			mu   sync.Mutex
			seen []int64
		)
		p := goDo(context.Background(), s, cancelReq(krakenCancel(t0.Add(-time.Second), &seen, &mu), rec.scripted("cancel")))
		synctest.Wait()
		if p.returned() {
			t.Fatal("the cancel went at once: 85 + 8 exceeds the safe 90")
		}
		if res := p.drive(t, clk); res.err != nil {
			t.Fatal(res.err)
		}
		if calls := rec.snapshot(); len(calls) != 1 || calls[0].at != t0.Add(time.Minute) {
			t.Fatalf("calls %+v, want one at +1m", calls)
		}
		if got := windowUsed(s, "W"); got != 2 {
			t.Fatalf("used = %d, want 2: the cost at admission (61s old), not at submission (8)", got)
		}
		mu.Lock()
		if seen[0] != 8 || seen[len(seen)-1] != 2 {
			t.Errorf("costs seen %v, want 8 first and 2 at admission", seen)
		}
		mu.Unlock()
		s.Close()
	})
}

// TestTimeDependentCostRetry: each attempt is charged at its own time: a cancel refused with
// a 429 and Retry-After 20s costs 8 on its first attempt and 4 on its retry, 20s later.
func TestTimeDependentCostRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, tightConfig(100))
		rec := &recorder{clk: clk}
		var (
			mu   sync.Mutex
			seen []int64
		)
		r := cancelReq(krakenCancel(t0, &seen, &mu), rec.scripted("cancel",
			scheduler.Outcome{Status: 429, RetryAfter: 20 * time.Second}, scheduler.Outcome{Status: 200}))
		if res := goDo(context.Background(), s, r).drive(t, clk); res.err != nil {
			t.Fatal(res.err)
		}
		calls := rec.snapshot()
		if len(calls) != 2 || calls[0].at != t0 || calls[1].at.Sub(t0) < 20*time.Second || calls[1].at.Sub(t0) > 21*time.Second {
			t.Fatalf("calls %+v, want at +0 and after the 20s Retry-After", calls)
		}
		if got := windowUsed(s, "W"); got != 8+4 {
			t.Fatalf("used = %d, want 12: 8 for the first attempt (0s old), 4 for the retry (20s old)", got)
		}
		s.Close()
	})
}

// TestTimeDependentCostInvalid: a time-dependent cost that comes out negative, or larger than
// the window could ever admit, fails the request when it is evaluated.
func TestTimeDependentCostInvalid(t *testing.T) {
	for _, tt := range []struct {
		name string
		cost int64
		want string
	}{
		{"negative", -1, "scheduler: invalid request: costs[0].amount_at: must be >= 0, got -1"},
		{"above the usable limit", 91, `scheduler: invalid request: costs[0].amount_at: 91 exceeds window "W"'s usable 90 at critical priority`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, _ := newScheduler(t, tightConfig(100))
				called := false
				r := cancelReq(func(time.Time) int64 { return tt.cost }, func(context.Context, int) scheduler.Outcome {
					called = true
					return scheduler.Outcome{Status: 200}
				})
				_, err := s.Do(context.Background(), r)
				if !errors.Is(err, scheduler.ErrInvalidRequest) || err.Error() != tt.want {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				if called || windowUsed(s, "W") != 0 {
					t.Fatal("an invalid cost was sent or charged")
				}
				s.Close()
			})
		})
	}
}

// TestAddWindow: windows added at run time are validated like configured ones; adding one
// again is a no-op if it is the same and an error naming it if not.
func TestAddWindow(t *testing.T) {
	s, _ := newScheduler(t, baseConfig(), scheduler.WithWindowKind("leaky", func(w scheduler.WindowConfig) scheduler.Counter { return &gateCounter{open: true} }))
	pair := scheduler.WindowConfig{Name: "XBT/USD", Limit: 60, Interval: 60 * time.Second, Kind: scheduler.KindDecaying}
	for _, tt := range []struct {
		name string
		w    scheduler.WindowConfig
		want string
	}{
		{"new", pair, ""},
		{"the same again", pair, ""},
		{"the same with its defaults spelt out", scheduler.WindowConfig{Name: "XBT/USD", Limit: 60, Interval: 60 * time.Second, Kind: scheduler.KindDecaying, Burst: 1}, ""},
		{"a configured window, as configured", scheduler.WindowConfig{Name: "W", Limit: 1000, Interval: time.Minute}, ""},
		{"a different limit", scheduler.WindowConfig{Name: "XBT/USD", Limit: 125, Interval: 60 * time.Second, Kind: scheduler.KindDecaying},
			"scheduler: windows[XBT/USD]: already exists as {Name:XBT/USD Limit:60 Interval:1m0s Kind:decaying Burst:1}, cannot add {Name:XBT/USD Limit:125 Interval:1m0s Kind:decaying Burst:1}"},
		{"a different kind", scheduler.WindowConfig{Name: "W", Limit: 1000, Interval: time.Minute, Kind: scheduler.KindSliding},
			"scheduler: windows[W]: already exists as {Name:W Limit:1000 Interval:1m0s Kind:fixed Burst:0.2}, cannot add {Name:W Limit:1000 Interval:1m0s Kind:sliding Burst:0.2}"},
		{"no name", scheduler.WindowConfig{Limit: 1, Interval: time.Second}, "scheduler: window.name: must not be empty"},
		{"zero limit", scheduler.WindowConfig{Name: "ETH/USD", Interval: time.Second}, "scheduler: windows[ETH/USD].limit: must be >= 1, got 0"},
		{"zero interval", scheduler.WindowConfig{Name: "ETH/USD", Limit: 1}, "scheduler: windows[ETH/USD].interval: must be > 0, got 0s"},
		{"burst > 1", scheduler.WindowConfig{Name: "ETH/USD", Limit: 1, Interval: time.Second, Burst: 2}, "scheduler: windows[ETH/USD].burst: must be in (0,1], got 2"},
		{"unknown kind", scheduler.WindowConfig{Name: "ETH/USD", Limit: 1, Interval: time.Second, Kind: "fancy"},
			`scheduler: windows[ETH/USD].kind: unknown kind "fancy" (want "fixed", "sliding", "decaying" or one registered with WithWindowKind)`},
		{"a kind registered with WithWindowKind", scheduler.WindowConfig{Name: "L", Limit: 1, Interval: time.Second, Kind: "leaky"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := errString(s.AddWindow(tt.w)); got != tt.want {
				t.Fatalf("AddWindow = %q, want %q", got, tt.want)
			}
		})
	}
	var names []string
	for _, w := range s.Snapshot().Windows {
		names = append(names, fmt.Sprintf("%s:%s:%d", w.Name, w.Kind, w.SafeLimit))
	}
	if got := strings.Join(names, " "); got != "L:leaky:1 W:fixed:900 XBT/USD:decaying:54" {
		t.Fatalf("windows %s", got)
	}
	t.Run("a window SetWindowLimit changed", func(t *testing.T) {
		if err := s.SetWindowLimit("XBT/USD", 125, 60*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.AddWindow(pair); err == nil || !strings.Contains(err.Error(), "windows[XBT/USD]") {
			t.Fatalf("AddWindow of the old config = %v, want an error naming the window", err)
		}
	})
}

// TestAddWindowRequests: a request naming a window fails until the window is added and goes
// after; one naming a window nobody added still fails.
func TestAddWindowRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, baseConfig())
		trade := func(pair string) *scheduler.Request {
			return &scheduler.Request{Bucket: "private", Priority: scheduler.PriorityOrders, Write: true,
				Costs: []scheduler.Cost{{Window: "W", Amount: 1}, {Window: pair, Amount: 1}}, Attempt: succeed}
		}
		want := `scheduler: invalid request: costs[1].window: "XBT/USD" is not configured`
		if _, err := s.Do(context.Background(), trade("XBT/USD")); !errors.Is(err, scheduler.ErrInvalidRequest) || err.Error() != want {
			t.Fatalf("before AddWindow: %v, want %q", err, want)
		}
		if err := s.AddWindow(scheduler.WindowConfig{Name: "XBT/USD", Limit: 60, Interval: time.Minute, Kind: scheduler.KindDecaying}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Do(context.Background(), trade("XBT/USD")); err != nil {
			t.Fatalf("after AddWindow: %v", err)
		}
		if got := windowUsed(s, "XBT/USD"); got != 1 {
			t.Fatalf("XBT/USD used = %d, want 1", got)
		}
		if _, err := s.Do(context.Background(), trade("ETH/USD")); !errors.Is(err, scheduler.ErrInvalidRequest) {
			t.Fatalf("a window nobody added: %v, want ErrInvalidRequest", err)
		}
		s.Close()
	})
}

// TestAddWindowConcurrent: AddWindow runs alongside Do (run with -race): each pair's window
// is added by several goroutines at once, exactly one window results, and requests on it go.
func TestAddWindowConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 100}}
		s, _ := newScheduler(t, cfg)
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 40 {
			pair := fmt.Sprintf("P%d", i%8)
			wg.Go(func() {
				if err := s.AddWindow(scheduler.WindowConfig{Name: pair, Limit: 1000, Interval: time.Minute, Kind: scheduler.KindDecaying}); err != nil {
					errs <- err
					return
				}
				r := &scheduler.Request{Bucket: "private", Priority: scheduler.PriorityOrders,
					Costs: []scheduler.Cost{{Window: "W", Amount: 1}, {Window: pair, Amount: 1}}, Attempt: succeed}
				if _, err := s.Do(context.Background(), r); err != nil {
					errs <- err
				}
			})
			wg.Go(func() {
				if _, err := s.Do(context.Background(), req("w", "private", scheduler.PriorityOrders, 1, succeed)); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		snap := s.Snapshot()
		if len(snap.Windows) != 9 {
			t.Fatalf("windows %+v, want W and 8 pairs", snap.Windows)
		}
		for _, w := range snap.Windows {
			if want := map[bool]int64{true: 80, false: 5}[w.Name == "W"]; w.Used != want {
				t.Errorf("%s used %d, want %d", w.Name, w.Used, want)
			}
		}
		s.Close()
	})
}
