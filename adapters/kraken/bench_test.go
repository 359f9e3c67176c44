package kraken_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// BenchmarkGoodput: 32 goroutines read balances (the REST counter: +1 each) through the real
// adapter and scheduler against the simulator at TimeScale 100, where the starter counter
// of 15 drains 33 a second. (At TimeScale 1000, 330 a second, the key's send lock — one
// private call in flight at a time — caps loopback goodput near 150 calls a second, still
// hundreds of times what Kraken's counters allow.) served/limit is requests served per second over what the
// counter allows in the long run (its drain rate); ratelimit_answers counts the simulator's
// EAPI:Rate limit exceeded answers. naive is the same load from a client without a scheduler
// (nonces from one counter, sent concurrently, every refusal retried at once), in the same
// run: the baseline.
func BenchmarkGoodput(b *testing.B) {
	b.Run("keel", benchmarkGoodputKeel)
	b.Run("naive", benchmarkGoodputNaive)
}

func benchmarkGoodputKeel(b *testing.B) {
	const scale, workers = 100, 32
	s := startSim(b, func(c *sim.Config) { c.TimeScale = scale })
	f := newFixture(b, s, fixtureOpts{cfg: func(c *kraken.Config) { c.TimeScale = scale },
		sched: func(c *scheduler.Config) { c.DefaultMaxWait = time.Minute }})
	ctx := testCtx(b)
	if _, err := f.client.ExchangeInfo(ctx); err != nil {
		b.Fatal(err)
	}
	before := s.Stats().Total
	var served, next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				_, err := f.client.Balances(ctx)
				switch {
				case err == nil:
					served.Add(1)
				case errors.Is(err, scheduler.ErrShed):
				default:
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	after := s.Stats().Total
	limit := kraken.Tiers["starter"].RESTDecay * scale // calls per second in the long run
	b.ReportMetric(float64(served.Load())/elapsed.Seconds()/limit, "served/limit")
	b.ReportMetric(float64(after.Status429-before.Status429), "ratelimit_answers")
	b.ReportMetric(float64(after.Bans-before.Bans), "lockouts")
}

func benchmarkGoodputNaive(b *testing.B) {
	const scale, workers = 100, 32
	s := startSim(b, func(c *sim.Config) { c.TimeScale = scale })
	n := newNaive(b, s, testKey)
	limit := kraken.Tiers["starter"].RESTDecay * scale
	before := s.Stats().Total
	var fractions []float64
	for b.Loop() { // a second of load per iteration, like the other exchanges' baselines
		var served atomic.Int64
		start := time.Now()
		end := start.Add(time.Second)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for time.Now().Before(end) {
					if n.call("Balance", nil) == "" {
						served.Add(1)
					}
				}
			})
		}
		wg.Wait()
		fractions = append(fractions, float64(served.Load())/time.Since(start).Seconds()/limit)
	}
	var sum float64
	for _, f := range fractions {
		sum += f
	}
	after := s.Stats().Total
	b.ReportMetric(sum/float64(len(fractions)), "served/limit")
	b.ReportMetric(float64(after.Status429-before.Status429), "ratelimit_answers")
	b.ReportMetric(float64(after.Bans-before.Bans), "lockouts")
}
