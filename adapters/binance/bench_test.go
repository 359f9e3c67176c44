package binance_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// BenchmarkGoodput: 64 goroutines read a deep order book (GET /api/v3/depth limit 5000,
// weight 250) as fast as they can for one second per iteration, against the simulator at time
// scale 60, where REQUEST_WEIGHT is 6000 a second: 24 such reads a second at most. It reports
// the reads served per second over that limit and the simulator's rate-limit answers (429s)
// and bans (418s).
//
//   - keel: through the real adapter and scheduler at market priority, which keeps its
//     safety fraction (0.9) and market headroom (0.7) of the window: about 0.63 is full use
//     of what it allows itself (issue 13 is about lending the reserved rest).
//   - naive: the same loop over plain HTTP, retrying a 429 at once: the baseline a client
//     without a scheduler gets.
func BenchmarkGoodput(b *testing.B) {
	const (
		scale   = 60
		workers = 64
		limit   = 6000.0 / 250 // depth reads per second at this scale
		path    = "/api/v3/depth"
	)
	for _, mode := range []string{"keel", "naive"} {
		b.Run(mode, func(b *testing.B) {
			s, err := sim.New(sim.Config{Seed: 1, TimeScale: scale, APIKey: hmacKey, APISecret: hmacSecret})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Listen("127.0.0.1:0"); err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			read := naiveDepth(s.URL())
			if mode == "keel" {
				sch, err := scheduler.New(scheduler.Config{Exchange: "binance", InstanceID: "bench",
					Windows: binance.SchedulerWindows(), Buckets: binance.SchedulerBuckets(), DefaultMaxWait: time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				defer sch.Close()
				c, err := binance.New(binance.Config{BaseURL: s.URL(), APIKey: hmacKey, APISecret: hmacSecret}, sch)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.ExchangeInfo(context.Background()); err != nil { // learns the scaled windows
					b.Fatal(err)
				}
				read = func(ctx context.Context) { _, _ = c.Depth(ctx, "BTCUSDT", 5000) }
			}
			key := "GET " + path
			var fractions []float64
			for b.Loop() {
				before := s.Stats().Endpoints[key]
				start := time.Now()
				ctx, cancel := context.WithDeadline(context.Background(), start.Add(time.Second))
				var wg sync.WaitGroup
				for range workers {
					wg.Go(func() {
						for ctx.Err() == nil {
							read(ctx)
						}
					})
				}
				wg.Wait()
				cancel()
				after := s.Stats().Endpoints[key]
				served := (after.Requests - after.Status429 - after.Status418) - (before.Requests - before.Status429 - before.Status418)
				fractions = append(fractions, float64(served)/time.Since(start).Seconds()/limit)
			}
			var sum float64
			for _, f := range fractions {
				sum += f
			}
			st := s.Stats().Total
			b.ReportMetric(sum/float64(len(fractions)), "served/limit")
			b.ReportMetric(float64(st.Status429), "429s")
			b.ReportMetric(float64(st.Status418), "418s")
		})
	}
}

// naiveDepth is a client without a scheduler: it reads and, on any refusal, reads again.
func naiveDepth(base string) func(context.Context) {
	hc := &http.Client{}
	u := fmt.Sprintf("%s/api/v3/depth?symbol=BTCUSDT&limit=5000", base)
	return func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
