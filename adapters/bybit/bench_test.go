package bybit_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// BenchmarkGoodput: keel — 64 goroutines read their open orders (GET /v5/order/realtime, 50 per
// second per UID; 600 per 5 s per IP) through the real adapter and scheduler against the
// simulator at time scale 10, so the binding limit is realtime's 50 per 100 ms, 500 a second.
// Each iteration runs one second. It reports the realtime requests served per second over
// that limit (the scheduler keeps its safety fraction 0.9 and account headroom 0.85 of it, so
// about 0.77 is full use of what it allows itself) and the rate-limit answers (10006 and IP
// bans; the goal is 0). naive — the same loop from a client without a scheduler (signed plain
// HTTP, a 10006 retried at once), in the same run: the baseline.
func BenchmarkGoodput(b *testing.B) {
	b.Run("keel", benchmarkGoodputKeel)
	b.Run("naive", benchmarkGoodputNaive)
}

func benchmarkGoodputKeel(b *testing.B) {
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

func benchmarkGoodputNaive(b *testing.B) {
	const (
		scale   = 10
		workers = 64
		limit   = 50 * scale
		query   = "category=spot&symbol=BTCUSDT"
	)
	s := startSim(b, sim.Config{TimeScale: scale})
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	get := func() {
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v5/order/realtime?"+query, nil)
		req.Header.Set("X-BAPI-API-KEY", testKey)
		req.Header.Set("X-BAPI-TIMESTAMP", ts)
		req.Header.Set("X-BAPI-RECV-WINDOW", "5000")
		req.Header.Set("X-BAPI-SIGN", sim.SignBybit(testSecret, ts, testKey, "5000", query))
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	const key = "GET /v5/order/realtime"
	var fractions []float64
	for b.Loop() {
		before := s.Stats().Endpoints[key]
		start := time.Now()
		end := start.Add(time.Second)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for time.Now().Before(end) {
					get()
				}
			})
		}
		wg.Wait()
		after := s.Stats().Endpoints[key]
		served := (after.Requests - after.Status429 - after.Status418) - (before.Requests - before.Status429 - before.Status418)
		fractions = append(fractions, float64(served)/time.Since(start).Seconds()/limit)
	}
	var sum float64
	for _, x := range fractions {
		sum += x
	}
	st := s.Stats()
	b.ReportMetric(sum/float64(len(fractions)), "served/limit")
	b.ReportMetric(float64(st.Total.Status429+st.Total.Status418), "ratelimit_answers")
	b.ReportMetric(float64(len(st.Banned)), "banned_ips")
}
