package sim_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

func TestEndpointWeights(t *testing.T) {
	h := newHarness(t, nil)
	// A resting order to query and cancel.
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "50000", "newClientOrderId", "w1"))
	if r.status != 200 || r.weight() != 0 {
		t.Fatalf("successful order must weigh 0: %d %s weight %d", r.status, r.body, r.weight())
	}
	for _, tc := range []struct {
		name   string
		send   func() resp
		weight int
	}{
		{"ping", func() resp { return h.get("/api/v3/ping", "") }, 1},
		{"time", func() resp { return h.get("/api/v3/time", "") }, 1},
		{"exchangeInfo", func() resp { return h.get("/api/v3/exchangeInfo", "") }, 20},
		{"depth default limit", func() resp { return h.get("/api/v3/depth", "symbol=BTCUSDT") }, 5},
		{"depth limit 100", func() resp { return h.get("/api/v3/depth", "symbol=BTCUSDT&limit=100") }, 5},
		{"depth limit 101", func() resp { return h.get("/api/v3/depth", "symbol=BTCUSDT&limit=101") }, 25},
		{"depth limit 500", func() resp { return h.get("/api/v3/depth", "symbol=BTCUSDT&limit=500") }, 25},
		{"depth limit 1000", func() resp { return h.get("/api/v3/depth", "symbol=BTCUSDT&limit=1000") }, 50},
		{"depth limit 5000", func() resp { return h.get("/api/v3/depth", "symbol=BTCUSDT&limit=5000") }, 250},
		{"ticker/price symbol", func() resp { return h.get("/api/v3/ticker/price", "symbol=BTCUSDT") }, 2},
		{"ticker/price all", func() resp { return h.get("/api/v3/ticker/price", "") }, 4},
		{"ticker/price symbols", func() resp { return h.get("/api/v3/ticker/price", `symbols=["BTCUSDT","ETHUSDT"]`) }, 4},
		{"bookTicker symbol", func() resp { return h.get("/api/v3/ticker/bookTicker", "symbol=ETHUSDT") }, 2},
		{"bookTicker all", func() resp { return h.get("/api/v3/ticker/bookTicker", "") }, 4},
		{"account", func() resp { return h.signed(http.MethodGet, "/api/v3/account", nil) }, 20},
		{"account/commission", func() resp {
			return h.signed(http.MethodGet, "/api/v3/account/commission", vals("symbol", "BTCUSDT"))
		}, 20},
		{"GET order", func() resp {
			return h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "w1"))
		}, 4},
		{"openOrders symbol", func() resp { return h.signed(http.MethodGet, "/api/v3/openOrders", vals("symbol", "BTCUSDT")) }, 6},
		{"openOrders all", func() resp { return h.signed(http.MethodGet, "/api/v3/openOrders", nil) }, 80},
		{"myTrades", func() resp { return h.signed(http.MethodGet, "/api/v3/myTrades", vals("symbol", "BTCUSDT")) }, 20},
		{"myTrades orderId", func() resp {
			return h.signed(http.MethodGet, "/api/v3/myTrades", vals("symbol", "BTCUSDT", "orderId", "1"))
		}, 5},
		{"allOrders", func() resp { return h.signed(http.MethodGet, "/api/v3/allOrders", vals("symbol", "BTCUSDT")) }, 20},
		{"rateLimit/order", func() resp { return h.signed(http.MethodGet, "/api/v3/rateLimit/order", nil) }, 40},
		{"failed order is charged", func() resp {
			return h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
				"timeInForce", "GTC", "quantity", "0.001", "price", "50000.001"))
		}, 1},
		{"successful cancel weighs 0", func() resp {
			return h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "w1"))
		}, 0},
		{"failed cancel is charged", func() resp {
			return h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "w1"))
		}, 1},
		// CHANGELOG 2026-03-27 lists DELETE /api/v3/openOrders with the placement and the
		// single cancel: 0 when it cancels something, its weight when it fails.
		{"successful DELETE openOrders weighs 0", func() resp {
			if r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
				"timeInForce", "GTC", "quantity", "0.001", "price", "50000", "newClientOrderId", "w2")); r.status != 200 {
				return r // the placement failed: the status check below reports it
			}
			return h.signed(http.MethodDelete, "/api/v3/openOrders", vals("symbol", "BTCUSDT"))
		}, 0},
		{"failed DELETE openOrders is charged", func() resp {
			return h.signed(http.MethodDelete, "/api/v3/openOrders", vals("symbol", "BTCUSDT"))
		}, 1},
		{"order/test is charged (not on the 2026-03-27 list)", func() resp {
			return h.signed(http.MethodPost, "/api/v3/order/test", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
				"timeInForce", "GTC", "quantity", "0.001", "price", "50000"))
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.s.Stats().UsedWeightTotal
			r := tc.send()
			if got := r.weight() - int(before); got != tc.weight {
				t.Fatalf("weight %d, want %d (%d %s)", got, tc.weight, r.status, r.body)
			}
			// Rows named "failed ..." fail on purpose; every other row must succeed, or its
			// weight says nothing about the endpoint.
			if failed := strings.HasPrefix(tc.name, "failed "); failed == (r.status == http.StatusOK) {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			for _, name := range []string{"X-MBX-USED-WEIGHT-1M", "X-MBX-ORDER-COUNT-10S", "X-MBX-ORDER-COUNT-1D"} {
				if r.header.Get(name) == "" {
					t.Fatalf("missing %s", name)
				}
			}
		})
	}
}

func TestChargeAllOrders(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.ChargeAllOrders = true })
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.001"))
	if r.status != 200 || r.weight() != 1 {
		t.Fatalf("got %d weight %d", r.status, r.weight())
	}
}

func TestWeightLimitAnd429(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.RequestWeight = 10 })
	for i := 1; i <= 10; i++ {
		if r := h.get("/api/v3/ping", ""); r.status != 200 || r.weight() != i {
			t.Fatalf("ping %d: %d weight %d", i, r.status, r.weight())
		}
	}
	r := h.get("/api/v3/ping", "")
	wantCode(t, r, http.StatusTooManyRequests, -1003,
		"Too much request weight used; current limit is 10 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
	// The clock is at :30 of the minute: the window ends in 30 s.
	if got := r.header.Get("Retry-After"); got != "30" {
		t.Fatalf("Retry-After %q, want 30", got)
	}
	if r.header.Get("X-MBX-USED-WEIGHT-1M") != "10" {
		t.Fatalf("used weight header %q", r.header.Get("X-MBX-USED-WEIGHT-1M"))
	}
	// Waiting it out: a fresh window.
	h.clk.Advance(30 * time.Second)
	if r := h.get("/api/v3/ping", ""); r.status != 200 || r.weight() != 1 {
		t.Fatalf("after Retry-After: %d weight %d", r.status, r.weight())
	}
	if st := h.s.Stats(); st.Total.Status429 != 1 || st.Endpoints["GET /api/v3/ping"].Status429 != 1 {
		t.Fatalf("stats %+v", st.Total)
	}
}

func TestRawRequestsLimit(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.RawRequests = 3 })
	for i := 0; i < 3; i++ {
		h.get("/api/v3/ping", "")
	}
	r := h.get("/api/v3/ping", "")
	wantCode(t, r, http.StatusTooManyRequests, -1003, "Too many requests queued.")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestBanEscalatesForClientThatKeepsSending(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.RequestWeight = 5 })
	exhaust := func() {
		t.Helper()
		for {
			r := h.get("/api/v3/ping", "")
			if r.status == http.StatusTooManyRequests {
				return
			}
			if r.status != 200 {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		}
	}
	exhaust()
	// Retrying at once: four more 429s are forgiven (requests already in flight), the fifth is
	// a ban of 2 minutes.
	for i := 0; i < 4; i++ {
		if r := h.get("/api/v3/ping", ""); r.status != http.StatusTooManyRequests {
			t.Fatalf("retry %d: %d", i, r.status)
		}
	}
	r := h.get("/api/v3/ping", "")
	if r.status != http.StatusTeapot || r.code() != -1003 || r.header.Get("Retry-After") != "120" {
		t.Fatalf("want 418 with Retry-After 120, got %d %s %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	want := "Way too much request weight used; IP banned until " + strconv.FormatInt(h.clk.Now().Add(2*time.Minute).UnixMilli(), 10) +
		". Please use WebSocket Streams for live updates to avoid bans."
	if r.msg() != want {
		t.Fatalf("msg %q, want %q", r.msg(), want)
	}
	// Banned for every endpoint until the ban ends.
	h.clk.Advance(119 * time.Second)
	if r := h.get("/api/v3/time", ""); r.status != http.StatusTeapot || r.header.Get("Retry-After") != "1" {
		t.Fatalf("during ban: %d %q", r.status, r.header.Get("Retry-After"))
	}
	h.clk.Advance(time.Second)
	if r := h.get("/api/v3/time", ""); r.status != 200 {
		t.Fatalf("after ban: %d %s", r.status, r.body)
	}
	// A repeat offender is banned for twice as long.
	h.clk.Advance(time.Minute)
	exhaust()
	for i := 0; i < 5; i++ {
		r = h.get("/api/v3/ping", "")
	}
	if r.status != http.StatusTeapot || r.header.Get("Retry-After") != "240" {
		t.Fatalf("second ban: %d %q", r.status, r.header.Get("Retry-After"))
	}
	st := h.s.Stats()
	if st.Total.Bans != 2 || st.Total.Status418 < 3 || len(st.Banned) != 1 {
		t.Fatalf("stats %+v banned %v", st.Total, st.Banned)
	}
}

func TestClientThatWaitsOutRetryAfterIsNeverBanned(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.RequestWeight = 7 })
	var n429 int
	for i := 0; i < 300; i++ {
		r := h.get("/api/v3/depth", "symbol=ETHUSDT") // weight 5
		switch r.status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			n429++
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
			}
			h.clk.Advance(time.Duration(secs) * time.Second)
		default:
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		h.clk.Advance(250 * time.Millisecond)
	}
	if n429 == 0 {
		t.Fatal("the load never reached the limit")
	}
	if st := h.s.Stats(); st.Total.Status418 != 0 || st.Total.Bans != 0 {
		t.Fatalf("stats %+v", st.Total)
	}
}

func TestUnfilledOrderCount(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.Orders10s = 3 })
	limit := func(id string) resp {
		return h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
			"timeInForce", "GTC", "quantity", "0.001", "price", "50000", "newClientOrderId", id))
	}
	// A market order fills at once: its first fill takes it back out of the count.
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.001"))
	if r.status != 200 || r.header.Get("X-MBX-ORDER-COUNT-10S") != "0" {
		t.Fatalf("market: %d %s count %q", r.status, r.body, r.header.Get("X-MBX-ORDER-COUNT-10S"))
	}
	for i, id := range []string{"a", "b", "c"} {
		r := limit(id)
		if r.status != 200 || r.header.Get("X-MBX-ORDER-COUNT-10S") != strconv.Itoa(i+1) || r.header.Get("X-MBX-ORDER-COUNT-1D") != strconv.Itoa(i+1) {
			t.Fatalf("order %s: %d count %q", id, r.status, r.header.Get("X-MBX-ORDER-COUNT-10S"))
		}
	}
	r = limit("d")
	wantCode(t, r, http.StatusTooManyRequests, -1015, "Too many new orders; current limit is 3 orders per 10 SECOND.")
	if r.header.Get("Retry-After") != "10" { // the clock is at :30, a 10 s window boundary
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	h.clk.Advance(10 * time.Second)
	if r := limit("d"); r.status != 200 || r.header.Get("X-MBX-ORDER-COUNT-1D") != "4" {
		t.Fatalf("next window: %d %s day count %q", r.status, r.body, r.header.Get("X-MBX-ORDER-COUNT-1D"))
	}
	var rl []struct {
		RateLimitType, Interval string
		IntervalNum, Limit      int64
		Count                   int64
	}
	h.signed(http.MethodGet, "/api/v3/rateLimit/order", nil).json(t, &rl)
	if len(rl) != 2 || rl[0].Count != 1 || rl[0].Limit != 3 || rl[1].Interval != "DAY" || rl[1].Count != 4 {
		t.Fatalf("rateLimit/order %+v", rl)
	}
}

func TestTimeScale(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.TimeScale = 60; c.Limits.RequestWeight = 3 })
	var info struct {
		RateLimits []struct {
			RateLimitType, Interval string
			IntervalNum, Limit      int64
		}
	}
	r := newHarness(t, func(c *sim.Config) { c.TimeScale = 60 }).get("/api/v3/exchangeInfo", "")
	r.json(t, &info)
	got := map[string]string{}
	for _, rl := range info.RateLimits {
		got[rl.RateLimitType+" "+strconv.FormatInt(rl.Limit, 10)] = strconv.FormatInt(rl.IntervalNum, 10) + " " + rl.Interval
	}
	want := map[string]string{
		"REQUEST_WEIGHT 6000": "1 SECOND", "ORDERS 50": "1 SECOND", "ORDERS 160000": "24 MINUTE", "RAW_REQUESTS 300000": "5 SECOND",
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("rateLimits %v, want %v", got, want)
		}
	}
	// The scaled windows are enforced, and named in the headers.
	for i := 0; i < 3; i++ {
		h.get("/api/v3/ping", "")
	}
	r = h.get("/api/v3/ping", "")
	if r.status != http.StatusTooManyRequests || r.header.Get("X-MBX-USED-WEIGHT-1S") != "3" || r.header.Get("X-MBX-USED-WEIGHT-1M") != "3" ||
		r.header.Get("Retry-After") != "1" {
		t.Fatalf("scaled 429: %d %v", r.status, r.header)
	}
	if r.msg() != "Too much request weight used; current limit is 3 request weight per 1 SECOND. Please use WebSocket Streams for live updates to avoid polling the API." {
		t.Fatalf("msg %q", r.msg())
	}
	for i := 0; i < 5; i++ {
		r = h.get("/api/v3/ping", "")
	}
	// A 2-minute ban lasts 2 s at scale 60.
	if r.status != http.StatusTeapot || r.header.Get("Retry-After") != "2" {
		t.Fatalf("scaled ban: %d %q", r.status, r.header.Get("Retry-After"))
	}
	h.clk.Advance(2 * time.Second)
	if r := h.get("/api/v3/ping", ""); r.status != 200 {
		t.Fatalf("after scaled ban: %d", r.status)
	}
}
