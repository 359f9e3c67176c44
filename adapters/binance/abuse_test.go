package binance_test

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// The abuse model: the same load — 16 goroutines asking for a ticker (weight 2 each) —
// from a naive client that retries a 429 at once (3 tries) gets the IP banned with
// 418, while the adapter through the scheduler gets no 418 and at most a handful of 429s.
// The simulator runs 60 times faster, so a one-minute weight window lasts one second, and
// its weight limit is 100 instead of 6000 so that a test-sized load exceeds it.
const (
	abuseWorkers   = 16
	abuseTimeScale = 60
	abuseWeight    = 100
	abusePath      = "/api/v3/ticker/price?symbol=BTCUSDT" // weight 2
	abuseRequests  = 10                                    // per worker
)

func abuseSim() sim.Config {
	return sim.Config{TimeScale: abuseTimeScale, Limits: sim.Limits{RequestWeight: abuseWeight}}
}

func TestAbuseNaiveClientIsBanned(t *testing.T) {
	s := startSim(t, abuseSim())
	tr := &http.Transport{MaxIdleConnsPerHost: abuseWorkers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	var wg sync.WaitGroup
	var mu sync.Mutex
	got418 := 0
	for range abuseWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range abuseRequests {
				for try := 1; try <= 3; try++ {
					resp, err := hc.Get(s.URL() + abusePath)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusTeapot {
						mu.Lock()
						got418++
						mu.Unlock()
						return
					}
					if resp.StatusCode != http.StatusTooManyRequests {
						break // answered: next request
					}
					// 429: retry at once, ignoring Retry-After.
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("naive client: %d requests, %d 429s, %d 418s, banned %v", st.Total.Requests, st.Total.Status429, st.Total.Status418, st.Banned)
	if got418 == 0 || st.Total.Status418 == 0 || len(st.Banned) == 0 {
		t.Fatalf("the naive client was not banned: %+v", st.Total)
	}
}

func TestAbuseAdapterThroughSchedulerIsNotBanned(t *testing.T) {
	f := newFixture(t, abuseSim(), fixtureOpts{})
	ctx := testCtx(t)
	// Learn the (scaled) windows and the exchange's clock, as the runtime does at start.
	if err := f.client.SyncTime(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.ExchangeInfo(ctx); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, shed := 0, 0
	for range abuseWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range abuseRequests {
				_, err := f.client.Ticker(ctx, "BTCUSDT")
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, scheduler.ErrShed):
					shed++ // degrade mode: waited too long at market priority, skipped
				default:
					t.Errorf("depth: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st := f.sim.Stats()
	t.Logf("adapter: %d ok, %d shed; exchange saw %d requests, %d 429s, %d 418s, banned %v",
		ok, shed, st.Total.Requests, st.Total.Status429, st.Total.Status418, st.Banned)
	if st.Total.Status418 != 0 || len(st.Banned) != 0 {
		t.Fatalf("the adapter got banned: %+v", st.Total)
	}
	if st.Total.Status429 > 3 {
		t.Fatalf("the adapter drew %d 429s, want at most a handful", st.Total.Status429)
	}
	if ok == 0 {
		t.Fatal("no request succeeded")
	}
}
