package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// TestRetryAfterHonouredExactly: a 429's retry is not sent a millisecond before its
// Retry-After, and is sent within the resume spread after it.
func TestRetryAfterHonouredExactly(t *testing.T) {
	for _, ra := range []time.Duration{time.Millisecond, 1500 * time.Millisecond, 2345 * time.Millisecond, 20 * time.Second} {
		t.Run(ra.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, clk := newScheduler(t, baseConfig())
				rec := &recorder{clk: clk}
				r := req("x", "private", scheduler.PriorityOrders, 1, rec.scripted("x",
					scheduler.Outcome{Status: 429, RetryAfter: ra}, scheduler.Outcome{Status: 200}))
				p := goDo(context.Background(), s, r)
				synctest.Wait()
				clk.Advance(ra - time.Millisecond)
				synctest.Wait()
				if n := len(rec.snapshot()); n != 1 {
					t.Fatalf("%d attempts %v before Retry-After ended, want 1", n, ra-time.Millisecond)
				}
				p.drive(t, clk)
				calls := rec.snapshot()
				if len(calls) != 2 {
					t.Fatalf("attempts = %d, want 2", len(calls))
				}
				wait := calls[1].at.Sub(calls[0].at)
				spread := min(time.Second, ra/10)
				if wait < ra || wait > ra+spread {
					t.Fatalf("retry after %v, want in [%v, %v]", wait, ra, ra+spread)
				}
				if held := s.Snapshot().Buckets[0].HeldUntil; !held.IsZero() {
					t.Fatalf("bucket still held until %v", held)
				}
				s.Close()
			})
		})
	}
}

// TestPauseResumesSpread: after one shared 429, the 100 requests queued behind it resume
// spread over rand(0, min(1s, 0.1·Retry-After)), no two at the same instant, none before the
// pause ends.
func TestPauseResumesSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1}}
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		const ra = 2 * time.Second
		release := make(chan struct{})
		first := req("first", "private", scheduler.PriorityAccount, 1, func(ctx context.Context, attempt int) scheduler.Outcome {
			rec.record("first", attempt)
			if attempt == 1 {
				<-release
				return scheduler.Outcome{Status: 429, RetryAfter: ra}
			}
			return scheduler.Outcome{Status: 200}
		})
		var wg sync.WaitGroup
		wg.Go(func() { s.Do(context.Background(), first) })
		synctest.Wait()
		for range 100 {
			r := req("q", "private", scheduler.PriorityAccount, 1, rec.scripted("q"))
			r.MaxWait = time.Minute
			wg.Go(func() {
				if _, err := s.Do(context.Background(), r); err != nil {
					t.Errorf("Do: %v", err)
				}
			})
		}
		synctest.Wait()
		if q := s.Snapshot().Queued["account"]; q != 100 {
			t.Fatalf("queued = %d, want 100; %+v; calls %v", q, s.Snapshot(), rec.snapshot())
		}
		pausedAt := clk.Now()
		close(release)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		drive(t, clk, done)

		calls := rec.snapshot()[1:]
		if len(calls) != 101 {
			t.Fatalf("attempts after the 429 = %d, want 101", len(calls))
		}
		seen := map[time.Duration]bool{}
		for _, c := range calls {
			d := c.at.Sub(pausedAt)
			if d < ra || d > ra+ra/10 {
				t.Errorf("%s resumed after %v, want in [%v, %v]", c.name, d, ra, ra+ra/10)
			}
			if seen[d] {
				t.Errorf("two requests resumed after the same %v", d)
			}
			seen[d] = true
		}
		s.Close()
	})
}

// TestNoRetryBeforeRetryAfter: whatever the Retry-After, no retry goes out earlier.
func TestNoRetryBeforeRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Breakers.RateLimit.ConsecutiveFailures = 1000
		cfg.RetryBudget.Floor = 1000
		for i := range 30 {
			cfg.Buckets = append(cfg.Buckets, scheduler.BucketConfig{Name: fmt.Sprint("b", i)})
		}
		s, clk := newScheduler(t, cfg)
		rng := rand.New(rand.NewPCG(7, 7))
		type answer struct {
			at time.Time
			ra time.Duration
		}
		var mu sync.Mutex
		last := map[int]answer{}
		var reqs []*scheduler.Request
		for i := range 30 {
			var ras [3]time.Duration
			for k := range ras {
				ras[k] = time.Duration(1+rng.IntN(5000)) * time.Millisecond
			}
			reqs = append(reqs, req("r", fmt.Sprint("b", i), scheduler.PriorityOrders, 1, func(_ context.Context, attempt int) scheduler.Outcome {
				mu.Lock()
				defer mu.Unlock()
				now := clk.Now()
				if a, ok := last[i]; ok && now.Sub(a.at) < a.ra {
					t.Errorf("request %d attempt %d sent %v after a Retry-After of %v", i, attempt, now.Sub(a.at), a.ra)
				}
				if attempt > 2 {
					return scheduler.Outcome{Status: 200}
				}
				last[i] = answer{now, ras[attempt-1]}
				return scheduler.Outcome{Status: 429, RetryAfter: ras[attempt-1]}
			}))
		}
		for i, res := range doAll(t, s, clk, reqs...) {
			if res.err != nil {
				t.Errorf("request %d: %v", i, res.err)
			}
		}
		s.Close()
	})
}

// TestRetryBudgetCapsOutage: during an outage (every answer a 503) retries add at most 10%
// of first attempts (or the floor, when that is more) over the sliding minute, instead of
// tripling traffic.
func TestRetryBudgetCapsOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Breakers.Transient = scheduler.BreakerConfig{ConsecutiveFailures: 1 << 20, FailureRatio: -1}
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 64}}
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		const n = 200
		var reqs []*scheduler.Request
		for range n {
			reqs = append(reqs, req("r", "private", scheduler.PriorityOrders, 1, rec.scripted("r", scheduler.Outcome{Status: 503})))
		}
		res := doAll(t, s, clk, reqs...)
		retries, budgetErrs := 0, 0
		for _, c := range rec.snapshot() {
			if c.attempt > 1 {
				retries++
			}
		}
		for _, r := range res {
			if errors.Is(r.err, scheduler.ErrRetryBudget) {
				budgetErrs++
			}
			if scheduler.ClassOf(r.err) != scheduler.ClassTransient {
				t.Errorf("ClassOf = %v, want transient", scheduler.ClassOf(r.err))
			}
		}
		if limit := max(5, n/10); retries > limit || retries == 0 {
			t.Errorf("retries = %d, want in (0, %d] (without a budget: %d)", retries, limit, 2*n)
		}
		if budgetErrs == 0 {
			t.Error("no request failed with ErrRetryBudget")
		}
		t.Logf("%d first attempts, %d retries, %d refused by the retry budget", n, retries, budgetErrs)
		if rb := s.Snapshot().RetryBudget; rb.FirstAttempts != n || rb.Retries != int64(retries) || rb.Allowed != max(5, n/10) {
			t.Errorf("snapshot retry budget %+v, want %d first attempts, %d retries, %d allowed", rb, n, retries, max(5, n/10))
		}
		s.Close()
	})
}

// TestBackoffWithinBudget: a retry that would end after the request's budget is not
// scheduled; the request fails with ErrBudgetExhausted and its last outcome.
func TestBackoffWithinBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, baseConfig())
		rec := &recorder{clk: clk}
		r := req("x", "private", scheduler.PriorityOrders, 1, rec.scripted("x", scheduler.Outcome{Status: 429, RetryAfter: 10 * time.Second}))
		r.Budget = 5 * time.Second
		res := doAll(t, s, clk, r)[0]
		if !errors.Is(res.err, scheduler.ErrBudgetExhausted) || res.out.Status != 429 {
			t.Fatalf("got %+v, want ErrBudgetExhausted with the 429", res)
		}
		if n := len(rec.snapshot()); n != 1 {
			t.Fatalf("attempts = %d, want 1", n)
		}
		s.Close()
	})
}

// TestJitterWithinBudget: full-jitter waits are cut to what the request's budget leaves, so
// every retry goes out before the budget ends instead of being given up for a wait that
// would overrun it.
func TestJitterWithinBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Retries.Transient = 5
		cfg.Breakers.Transient = scheduler.BreakerConfig{ConsecutiveFailures: 100, FailureRatio: -1}
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		r := req("x", "private", scheduler.PriorityAccount, 1, rec.scripted("x", scheduler.Outcome{Status: 503}))
		r.Budget = 700 * time.Millisecond
		res := doAll(t, s, clk, r)[0]
		calls := rec.snapshot()
		if len(calls) != 6 || scheduler.ClassOf(res.err) != scheduler.ClassTransient || errors.Is(res.err, scheduler.ErrBudgetExhausted) {
			t.Fatalf("%d attempts, err %v; want all 6 within the budget, failing transient", len(calls), res.err)
		}
		for _, c := range calls {
			if c.at.Sub(t0) >= r.Budget {
				t.Fatalf("attempt %d at +%v, after the budget of %v", c.attempt, c.at.Sub(t0), r.Budget)
			}
		}
		s.Close()
	})
}

// TestInFlightRetriesSpread: 100 requests in flight together all meet the same 429 with a
// Retry-After. None of their retries goes out before it expires, and they go out spread over
// the resume spread (rand(0, min(1s, 0.1·Retry-After))), no two after the same delay, so the
// exchange does not see them come back as one herd.
func TestInFlightRetriesSpread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 100000, Interval: time.Minute, Burst: 1}}
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 200}} // AIMD starts at 100
		cfg.Breakers.RateLimit.ConsecutiveFailures = 1000
		cfg.RetryBudget.Floor = 1000
		s, clk := newScheduler(t, cfg)
		rec := &recorder{clk: clk}
		const n, ra = 100, 2 * time.Second
		release := make(chan struct{})
		var ps []*pending
		for i := range n {
			name := fmt.Sprint("r", i)
			ps = append(ps, goDo(context.Background(), s, req(name, "private", scheduler.PriorityOrders, 1, func(_ context.Context, attempt int) scheduler.Outcome {
				rec.record(name, attempt)
				if attempt == 1 {
					<-release
					return scheduler.Outcome{Status: 429, RetryAfter: ra}
				}
				return scheduler.Outcome{Status: 200}
			})))
		}
		synctest.Wait()
		if got := len(rec.snapshot()); got != n {
			t.Fatalf("%d requests in flight, want %d", got, n)
		}
		refusedAt := clk.Now()
		close(release)
		drivePending(t, clk, ps)

		for _, p := range ps {
			if p.res.err != nil {
				t.Errorf("Do: %v", p.res.err)
			}
		}
		seen := map[time.Duration]string{}
		for _, c := range rec.snapshot()[n:] {
			d := c.at.Sub(refusedAt)
			if c.attempt != 2 || d < ra || d >= ra+ra/10 {
				t.Errorf("%s attempt %d after %v, want attempt 2 in [%v, %v)", c.name, c.attempt, d, ra, ra+ra/10)
			}
			if other, ok := seen[d]; ok {
				t.Errorf("%s and %s both retried after %v", other, c.name, d)
			}
			seen[d] = c.name
		}
		if len(seen) != n {
			t.Errorf("%d distinct retry delays, want %d", len(seen), n)
		}
		s.Close()
	})
}

// TestRetryBudgetSlidingMinute: retries are allowed at 10% of the first attempts of the last
// minute, or the floor when that is more. When first attempts age out of the minute, fewer retries are allowed; new
// first attempts raise the allowance again.
func TestRetryBudgetSlidingMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := baseConfig()
		cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 100000, Interval: time.Minute, Burst: 1}}
		cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 64}}
		cfg.Retries.Transient = 1 // each failing request wants exactly one retry
		cfg.Breakers.Transient = scheduler.BreakerConfig{ConsecutiveFailures: 1 << 20, FailureRatio: -1}
		s, clk := newScheduler(t, cfg)
		budget := func() scheduler.RetryBudgetState { return s.Snapshot().RetryBudget }
		succeedN := func(n int) {
			for range n {
				fill(t, s, scheduler.PriorityOrders, 1, succeed)
			}
		}
		// failTogether sends n reads whose first attempts are all in flight (all counted)
		// before any fails with a 503; a retried one then succeeds. It returns how many were
		// retried and how many the retry budget refused.
		failTogether := func(n int) (retried, refused int) {
			var mu sync.Mutex
			release := make(chan struct{})
			var ps []*pending
			for range n {
				ps = append(ps, goDo(context.Background(), s, req("r", "private", scheduler.PriorityOrders, 1, func(_ context.Context, attempt int) scheduler.Outcome {
					if attempt == 1 {
						<-release
						return scheduler.Outcome{Status: 503}
					}
					mu.Lock()
					retried++
					mu.Unlock()
					return scheduler.Outcome{Status: 200}
				})))
			}
			synctest.Wait()
			close(release)
			drivePending(t, clk, ps)
			for _, p := range ps {
				switch {
				case errors.Is(p.res.err, scheduler.ErrRetryBudget):
					refused++
				case p.res.err != nil:
					t.Errorf("Do: %v", p.res.err)
				}
			}
			return retried, refused
		}

		succeedN(100)
		if b := budget(); b.FirstAttempts != 100 || b.Allowed != 10 {
			t.Fatalf("after 100 first attempts: %+v, want 10 retries allowed", b)
		}
		clk.Advance(30 * time.Second)
		if b := budget(); b.FirstAttempts != 100 || b.Allowed != 10 {
			t.Fatalf("30s later: %+v, want the 100 still counted", b)
		}
		clk.Advance(31 * time.Second)
		if b := budget(); b.FirstAttempts != 0 || b.Allowed != 5 {
			t.Fatalf("61s later: %+v, want them aged out, the floor of 5 allowed", b)
		}
		// 20 failing together: 10% of their 20 first attempts is 2, under the floor: 5 retries,
		// where the aged-out 100 would have allowed 12.
		if retried, refused := failTogether(20); retried != 5 || refused != 15 {
			t.Fatalf("after the first attempts aged out: %d retried, %d refused; want 5 and 15", retried, refused)
		}
		succeedN(100)
		if b := budget(); b.FirstAttempts != 120 || b.Retries != 5 || b.Allowed != 12 {
			t.Fatalf("after 100 new first attempts: %+v, want 12 retries allowed, 5 spent", b)
		}
		// 10% of 140 = 14 allowed, 5 spent: 9 more.
		if retried, refused := failTogether(20); retried != 9 || refused != 11 {
			t.Fatalf("after new first attempts: %d retried, %d refused; want 9 and 11", retried, refused)
		}
		s.Close()
	})
}
