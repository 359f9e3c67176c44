package bybit_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// The abuse model: the same load — 16 goroutines reading their open orders — from a naive
// client that retries a 10006 at once gets the IP banned (403 "access too frequent" for the
// scaled 10 minutes), while the adapter through the scheduler gets no ban and at most a
// handful of 10006s. The simulator runs 10 times faster (the IP's 5 s window lasts 500 ms,
// the per-UID second 100 ms) and its IP limit is 100 instead of 600, so that a test-sized load
// reaches it; the adapter's scheduler is told the same windows.
const (
	abuseWorkers   = 16
	abuseRequests  = 12 // per worker
	abuseTimeScale = 10
	abuseIPLimit   = 100
)

func abuseSim() sim.Config {
	return sim.Config{TimeScale: abuseTimeScale, DialectConfig: sim.BybitConfig{IPLimit: abuseIPLimit}}
}

// scaledWindows are the adapter's windows as a simulator scaled by scale enforces them, with
// the IP limit ipLimit.
func scaledWindows(scale float64, ipLimit int64) func(*scheduler.Config) {
	return func(c *scheduler.Config) {
		for i := range c.Windows {
			w := &c.Windows[i]
			w.Interval = time.Duration(float64(w.Interval) / scale)
			if w.Name == bybit.WindowIP {
				w.Limit = ipLimit
			}
		}
	}
}

func TestAbuseNaiveClientIsBanned(t *testing.T) {
	s := startSim(t, abuseSim())
	tr := &http.Transport{MaxIdleConnsPerHost: abuseWorkers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	const query = "category=spot&symbol=BTCUSDT"
	get := func() (int, []byte, error) {
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v5/order/realtime?"+query, nil)
		req.Header.Set("X-BAPI-API-KEY", testKey)
		req.Header.Set("X-BAPI-TIMESTAMP", ts)
		req.Header.Set("X-BAPI-RECV-WINDOW", "5000")
		req.Header.Set("X-BAPI-SIGN", sim.SignBybit(testSecret, ts, testKey, "5000", query))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	var wg sync.WaitGroup
	for range abuseWorkers {
		wg.Go(func() {
			for range abuseRequests {
				for try := 1; try <= 3; try++ {
					status, body, err := get()
					if err != nil {
						t.Error(err)
						return
					}
					if status == http.StatusForbidden {
						return // banned
					}
					if !bytes.Contains(body, []byte(`"retCode":10006`)) {
						break // answered: next request
					}
					// 10006: retry at once, ignoring X-Bapi-Limit-Reset-Timestamp.
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("naive client: %d requests, %d 10006s, %d ban 403s, banned %v", st.Total.Requests, st.Total.Status429, st.Total.Status418, st.Banned)
	if st.Total.Status418 == 0 || len(st.Banned) == 0 || st.Total.Bans == 0 {
		t.Fatalf("the naive client was not banned: %+v", st.Total)
	}
}

func TestAbuseAdapterThroughSchedulerIsNotBanned(t *testing.T) {
	f := newFixture(t, abuseSim(), fixtureOpts{schedCfg: scaledWindows(abuseTimeScale, abuseIPLimit)})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, shed := 0, 0
	for range abuseWorkers {
		wg.Go(func() {
			for range abuseRequests {
				_, err := f.client.OpenOrders(ctx, "BTCUSDT")
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, scheduler.ErrShed):
					shed++ // degrade mode: waited too long below orders priority, skipped
				default:
					t.Errorf("open orders: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := f.sim.Stats()
	t.Logf("adapter: %d ok, %d shed; exchange saw %d requests, %d 10006s, %d ban 403s, banned %v",
		ok, shed, st.Total.Requests, st.Total.Status429, st.Total.Status418, st.Banned)
	if st.Total.Status418 != 0 || len(st.Banned) != 0 {
		t.Fatalf("the adapter got banned: %+v", st.Total)
	}
	if st.Total.Status429 > 3 {
		t.Fatalf("the adapter drew %d 10006s, want at most a handful", st.Total.Status429)
	}
	if ok == 0 {
		t.Fatal("no request succeeded")
	}
}
