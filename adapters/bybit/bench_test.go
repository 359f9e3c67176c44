package bybit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// BenchmarkGoodput: 64 goroutines read their open orders (GET /v5/order/realtime, 50 per
// second per UID; 600 per 5 s per IP) through the real adapter and scheduler against the
// simulator at time scale 10, so the binding limit is realtime's 50 per 100 ms, 500 a second.
// Each iteration runs one second. It reports the realtime requests served per second over
// that limit (the scheduler keeps its safety fraction 0.9 and account headroom 0.85 of it, so
// about 0.77 is full use of what it allows itself) and the rate-limit answers (10006 and IP
// bans; the goal is 0).
func BenchmarkGoodput(b *testing.B) {
	const (
		scale   = 10
		workers = 64
		limit   = 50 * scale // realtime's requests per second at this scale
	)
	f := newFixture(b, sim.Config{TimeScale: scale}, fixtureOpts{schedCfg: scaledWindows(scale, 600)})
	ctx := context.Background()
	if _, err := f.client.OpenOrders(ctx, "BTCUSDT"); err != nil { // the clock sync
		b.Fatal(err)
	}
	const key = "GET /v5/order/realtime"
	var fractions []float64
	for b.Loop() {
		before := f.sim.Stats().Endpoints[key]
		start := time.Now()
		end := start.Add(time.Second)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for time.Now().Before(end) {
					_, _ = f.client.OpenOrders(ctx, "BTCUSDT")
				}
			})
		}
		wg.Wait()
		after := f.sim.Stats().Endpoints[key]
		served := (after.Requests - after.Status429) - (before.Requests - before.Status429)
		fractions = append(fractions, float64(served)/time.Since(start).Seconds()/limit)
	}
	var sum float64
	for _, x := range fractions {
		sum += x
	}
	st := f.sim.Stats()
	b.ReportMetric(sum/float64(len(fractions)), "served/limit")
	b.ReportMetric(float64(st.Total.Status429+st.Total.Status418), "ratelimit_answers")
}
