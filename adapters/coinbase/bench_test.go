package coinbase_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// BenchmarkGoodput: one second of private reads (GET /accounts) per iteration from 16
// goroutines against the coinbase dialect (30/s per user), through the real adapter and
// scheduler, and beside it, in the same run, a static token bucket client at exactly 30/s
// (golang.org/x/time/rate, burst 30) sending the same reads through the same adapter code
// without the scheduler's windows. served/limit is requests served per second over 30;
// ratelimit_answers the 429s per second.
func BenchmarkGoodput(b *testing.B) {
	for _, mode := range []string{"scheduler", "token_bucket_30"} {
		b.Run(mode, func(b *testing.B) {
			s := startSim(b, sim.Config{})
			var f *fixture
			if mode == "scheduler" {
				f = newClientOn(b, s, fixtureOpts{})
			} else {
				f = newClientOn(b, s, fixtureOpts{schedCfg: func(c *scheduler.Config) {
					for i := range c.Windows {
						c.Windows[i].Limit = 1_000_000 // the bucket alone paces
					}
				}})
			}
			ctx := context.Background()
			if _, err := f.client.Balances(ctx); err != nil {
				b.Fatal(err)
			}
			lim := rate.NewLimiter(30, 30)
			var served, limited atomic.Int64
			before := s.Stats().Total.Status429
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				end := time.Now().Add(time.Second)
				var wg sync.WaitGroup
				for range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for time.Now().Before(end) {
							if mode != "scheduler" {
								wctx, cancel := context.WithDeadline(ctx, end)
								err := lim.Wait(wctx)
								cancel()
								if err != nil {
									return
								}
							}
							if _, err := f.client.Balances(ctx); err == nil {
								served.Add(1)
							}
						}
					}()
				}
				wg.Wait()
			}
			b.StopTimer()
			limited.Store(s.Stats().Total.Status429 - before)
			secs := time.Since(start).Seconds()
			b.ReportMetric(float64(served.Load())/secs/30, "served/limit")
			b.ReportMetric(float64(limited.Load())/secs, "ratelimit_answers/s")
			http.DefaultClient.CloseIdleConnections()
		})
	}
}
