package sim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// TestStatsUsedWeightPerEndpoint: /sim/stats reports, per endpoint, the REQUEST_WEIGHT it was
// charged in the current window (a successful placement nothing, a failed one its weight, a
// 429 nothing); the endpoints add up to the total, and all of it resets with the window while
// the request counts stay.
func TestStatsUsedWeightPerEndpoint(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.RequestWeight = 30 })
	for range 3 {
		h.get("/api/v3/ping", "")
	}
	h.get("/api/v3/exchangeInfo", "")
	if r := h.order(marketBuy("ok")); r.status != 200 {
		t.Fatalf("placement: %d %s", r.status, r.body)
	}
	if r := h.order(map[string]string{"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0000001"}); r.status != 400 {
		t.Fatalf("a placement off the step grid: %d %s", r.status, r.body)
	}
	// 3 + 20 + 0 + 1 = 24 of 30: exchangeInfo's 20 no longer fits.
	if r := h.get("/api/v3/exchangeInfo", ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("past the limit: %d %s", r.status, r.body)
	}

	stats := func() sim.Stats {
		var st sim.Stats
		h.get("/sim/stats", "").json(t, &st)
		return st
	}
	st := stats()
	want := map[string]int64{"GET /api/v3/ping": 3, "GET /api/v3/exchangeInfo": 20, "POST /api/v3/order": 1}
	var sum int64
	for ep, e := range st.Endpoints {
		if e.UsedWeight != want[ep] {
			t.Errorf("%s used weight %d, want %d", ep, e.UsedWeight, want[ep])
		}
		sum += e.UsedWeight
	}
	if sum != 24 || st.Total.UsedWeight != 24 || st.UsedWeightTotal != 24 {
		t.Fatalf("endpoints add up to %d, total %d, per IP %d; want 24", sum, st.Total.UsedWeight, st.UsedWeightTotal)
	}

	h.clk.Advance(30 * time.Second) // the clock was at :30; the next minute's window starts
	st = stats()
	for ep, e := range st.Endpoints {
		if e.UsedWeight != 0 {
			t.Errorf("%s used weight %d in a fresh window", ep, e.UsedWeight)
		}
	}
	if st.Total.UsedWeight != 0 || st.Endpoints["GET /api/v3/ping"].Requests != 3 || st.Endpoints["GET /api/v3/exchangeInfo"].Requests != 2 {
		t.Fatalf("after the window: %+v", st)
	}
}
