package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// TestRetryBudgetOverAnOutageMinute: requests arriving steadily through a minute in which every
// answer is a 503, with the breakers off so that the retry budget alone holds the retries. It
// reports the attempts sent in that minute per first attempt: at most 1.1 at 60 and at 1000
// requests a minute (a floor added to the ratio would allow 1.18 at 60: 5 + 6 retries).
func TestRetryBudgetOverAnOutageMinute(t *testing.T) {
	for _, perMinute := range []int{60, 1000} {
		t.Run(fmt.Sprintf("%d/min", perMinute), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := baseConfig()
				cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: 1 << 30, Interval: time.Minute, Burst: 1}}
				cfg.Buckets = []scheduler.BucketConfig{{Name: "private", MaxConcurrency: 1 << 10}}
				off := scheduler.BreakerConfig{ConsecutiveFailures: 1 << 30, FailureRatio: -1}
				cfg.Breakers = scheduler.BreakersConfig{Auth: off, RateLimit: off, Transient: off}
				s, clk := newScheduler(t, cfg)
				start, end := clk.Now(), clk.Now().Add(time.Minute)
				var mu sync.Mutex
				firsts, attempts := 0, 0
				r := req("r", "private", scheduler.PriorityAccount, 1, func(_ context.Context, attempt int) scheduler.Outcome {
					mu.Lock()
					defer mu.Unlock()
					if clk.Now().Before(end) {
						attempts++
						if attempt == 1 {
							firsts++
						}
					}
					return scheduler.Outcome{Status: 503}
				})
				every := time.Minute / time.Duration(perMinute)
				var wg sync.WaitGroup
				for i := range perMinute {
					at := start.Add(time.Duration(i) * every)
					for { // the retries due before the next arrival
						synctest.Wait()
						d, ok := clk.NextDeadline()
						if !ok || d.After(at) {
							break
						}
						clk.Set(d)
					}
					clk.Set(at)
					wg.Go(func() { s.Do(context.Background(), r) })
				}
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				drive(t, clk, done)
				per := float64(attempts) / float64(firsts)
				t.Logf("%d first attempts, %d attempts in the minute: %.3f attempts per first attempt", firsts, attempts, per)
				if firsts != perMinute || per > 1.1+1e-9 {
					t.Fatalf("%d first attempts, %.3f attempts per first attempt; want %d and <= 1.1", firsts, per, perMinute)
				}
				s.Close()
			})
		})
	}
}
