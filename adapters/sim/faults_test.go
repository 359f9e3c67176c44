package sim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

func putFaults(t *testing.T, h *harness, body string) {
	t.Helper()
	if r := h.do(http.MethodPut, "/sim/faults", "", body, nil); r.status != 200 {
		t.Fatalf("PUT /sim/faults: %d %s", r.status, r.body)
	}
}

func marketBuy(id string) map[string]string {
	return map[string]string{"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001", "newClientOrderId": id}
}

func (h *harness) order(kv map[string]string) resp {
	v := vals()
	for k, x := range kv {
		v.Set(k, x)
	}
	return h.signed(http.MethodPost, "/api/v3/order", v)
}

func TestFault5xxDoesNotApply(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"error_rate":1,"paths":["/api/v3/order"]}`)
	wantCode(t, h.order(marketBuy("f1")), http.StatusServiceUnavailable, -1008,
		"Server is currently overloaded with other requests. Please try again in a few minutes.")
	if r := h.get("/api/v3/ping", ""); r.status != 200 {
		t.Fatalf("ping outside the fault's paths: %d", r.status)
	}
	putFaults(t, h, `{"error_rate":1,"error_status":500}`)
	wantCode(t, h.get("/api/v3/ping", ""), 500, -1000, "An unknown error occurred while processing the request.")
	if n := len(h.s.Orders()); n != 0 {
		t.Fatalf("a 5xx before apply booked %d orders", n)
	}
}

func TestFaultTimeoutStillAppliesTheOrder(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"timeout_rate":1,"paths":["/api/v3/order"]}`)
	v := vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.001",
		"price", "60000", "newClientOrderId", "lost-1", "timestamp", h.ms())
	p := v.Encode()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/api/v3/order", strings.NewReader(p+"&signature="+sim.SignHMAC(testSecret, p)))
	req.Header.Set("X-MBX-APIKEY", testKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := h.client.Do(req)
	if err == nil {
		res.Body.Close()
		t.Fatalf("the client heard an answer: %d", res.StatusCode)
	}
	orders := h.s.Orders()
	if len(orders) != 1 || orders[0].ClientOrderID != "lost-1" || orders[0].Status != "NEW" {
		t.Fatalf("orders %+v", orders)
	}
	// The reconciling query finds it.
	h.do(http.MethodDelete, "/sim/faults", "", "", nil)
	var o orderJSON
	h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "lost-1")).json(t, &o)
	if o.Status != "NEW" {
		t.Fatalf("%+v", o)
	}
	// And a naive resend is a duplicate.
	wantCode(t, h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "60000", "newClientOrderId", "lost-1")), 400, -2010, "Duplicate order sent.")
}

func TestFaultHangHoldsUntilClientGivesUp(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"timeout_rate":1,"timeout_mode":"hang","paths":["/api/v3/order"]}`)
	v := vals("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.001", "timestamp", h.ms())
	p := v.Encode()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/api/v3/order", strings.NewReader(p+"&signature="+sim.SignHMAC(testSecret, p)))
	req.Header.Set("X-MBX-APIKEY", testKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	done := make(chan error, 1)
	go func() {
		res, err := h.client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	// The hang parks on the clock after the order is booked; then the client gives up.
	h.clk.BlockUntil(1)
	if len(h.s.Orders()) != 1 {
		t.Fatal("order not booked before the hang")
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the client heard an answer")
	}
	if o := h.s.Orders(); o[0].Status != "FILLED" {
		t.Fatalf("%+v", o)
	}
}

func TestFaultUnknownExecutionStatus(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"unknown_rate":1,"paths":["/api/v3/order"]}`)
	wantCode(t, h.order(marketBuy("u1")), http.StatusServiceUnavailable, -1007,
		"Timeout waiting for response from backend server. Send status unknown; execution status unknown.")
	if o := h.s.Orders(); len(o) != 1 || o[0].ClientOrderID != "u1" || o[0].Status != "FILLED" {
		t.Fatalf("orders %+v", o)
	}
}

func TestFaultLatencyOnTheFakeClock(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"latency_ms":1500,"jitter_ms":10,"paths":["/api/v3/time"]}`)
	got := make(chan resp, 1)
	go func() { got <- h.get("/api/v3/time", "") }()
	h.clk.BlockUntil(1)
	select {
	case r := <-got:
		t.Fatalf("answered before the latency passed: %d", r.status)
	default:
	}
	h.clk.Advance(1510 * time.Millisecond)
	if r := <-got; r.status != 200 {
		t.Fatalf("got %d", r.status)
	}
}

func TestFaultRatesAreDeterministic(t *testing.T) {
	run := func() []int {
		h := newHarness(t, func(c *sim.Config) { c.Seed = 11 })
		putFaults(t, h, `{"error_rate":0.5}`)
		var out []int
		for i := 0; i < 20; i++ {
			out = append(out, h.get("/api/v3/ping", "").status)
		}
		return out
	}
	a, b := run(), run()
	var n503 int
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("runs differ: %v %v", a, b)
		}
		if a[i] == 503 {
			n503++
		}
	}
	if n503 == 0 || n503 == 20 {
		t.Fatalf("error_rate 0.5 failed %d of 20", n503)
	}
}

func TestAdminBanClockAndStats(t *testing.T) {
	h := newHarness(t, nil)
	r := h.do(http.MethodPost, "/sim/ban", "", `{"ip":"127.0.0.1","seconds":60}`, nil)
	if r.status != 200 {
		t.Fatalf("ban: %d %s", r.status, r.body)
	}
	if r := h.get("/api/v3/ping", ""); r.status != http.StatusTeapot || r.header.Get("Retry-After") != "60" {
		t.Fatalf("forced ban: %d %q", r.status, r.header.Get("Retry-After"))
	}
	h.do(http.MethodPost, "/sim/unban", "", `{"ip":"127.0.0.1"}`, nil)
	if r := h.get("/api/v3/ping", ""); r.status != 200 {
		t.Fatalf("unban: %d", r.status)
	}
	r = h.do(http.MethodPost, "/sim/clock", "", `{"offset_ms":-2500}`, nil)
	var clk struct {
		ServerTimeMs, OffsetMs int64
	}
	r.json(t, &clk)
	var tm struct{ ServerTime int64 }
	h.get("/api/v3/time", "").json(t, &tm)
	if tm.ServerTime != start.UnixMilli()-2500 {
		t.Fatalf("serverTime %d", tm.ServerTime)
	}
	// A request timestamped by the (unshifted) client clock 2.5 s ahead: -1021.
	wantCode(t, h.signed(http.MethodGet, "/api/v3/account", nil), 400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
	var st sim.Stats
	h.get("/sim/stats", "").json(t, &st)
	// ping (banned, not charged), ping 1, time 1, account 20.
	if st.Total.Requests != 4 || st.Total.Status418 != 1 || st.Total.Bans != 1 || st.Total.AuthFailures != 1 ||
		st.Endpoints["GET /api/v3/ping"].Requests != 2 || st.UsedWeight["127.0.0.1"] != 22 || st.UsedWeightTotal != 22 {
		t.Fatalf("stats %+v", st)
	}
	var orders []sim.OrderRecord
	h.get("/sim/orders", "").json(t, &orders)
	if len(orders) != 0 {
		t.Fatalf("orders %+v", orders)
	}
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodPut, "/sim/faults", `{"error_rate":2}`, 400},
		{http.MethodPut, "/sim/faults", `{not json`, 400},
		{http.MethodPost, "/sim/price", `{"symbol":"NOPE","price":"1"}`, 400},
		{http.MethodGet, "/sim/nothing", "", 404},
	} {
		if r := h.do(tc.method, tc.path, "", tc.body, nil); r.status != tc.status {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
	}
}

func TestAdminIsLoopbackOnly(t *testing.T) {
	s, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/sim/stats", nil)
	req.RemoteAddr = "203.0.113.9:4000"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("got %d", rec.Code)
	}
}

// TestFaultAuthOnOneMethod: an auth fault limited to POST refuses placements with the
// documented -2015 answer, books nothing, and lets cancels of the same path through.
func TestFaultAuthOnOneMethod(t *testing.T) {
	h := newHarness(t, nil)
	if r := h.order(map[string]string{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
		"quantity": "0.001", "price": "30000", "newClientOrderId": "resting"}); r.status != 200 {
		t.Fatalf("place before the fault: %d %s", r.status, r.body)
	}
	putFaults(t, h, `{"auth_error_rate":1,"paths":["/api/v3/order"],"methods":["POST"]}`)
	wantCode(t, h.order(marketBuy("refused")), http.StatusUnauthorized, -2015, "Invalid API-key, IP, or permissions for action.")
	if n := len(h.s.Orders()); n != 1 {
		t.Fatalf("%d orders booked, want only the one before the fault", n)
	}
	if r := h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "resting")); r.status != 200 {
		t.Fatalf("cancel under a POST-only auth fault: %d %s", r.status, r.body)
	}
	if h.s.KeyDisabled(testKey) {
		t.Fatal("injected auth refusals disabled the key")
	}
	// The refusal is an auth failure in /sim/stats, of the endpoint and in total.
	var st sim.Stats
	h.get("/sim/stats", "").json(t, &st)
	if st.Endpoints["POST /api/v3/order"].AuthFailures != 1 || st.Total.AuthFailures != 1 {
		t.Fatalf("auth failures: endpoint %+v, total %+v", st.Endpoints["POST /api/v3/order"], st.Total)
	}
}

// TestFaultsRefusedNamingTheField: a bad fault set is a 400 that names what is wrong.
func TestFaultsRefusedNamingTheField(t *testing.T) {
	h := newHarness(t, nil)
	for body, want := range map[string]string{
		`{"auth_error_rate":1.5}`:                  "auth_error_rate",
		`{"error_rate":-0.1}`:                      "error_rate",
		`{"error_rate":0.6,"auth_error_rate":0.6}`: "sum",
		`{"timeout_mode":"later"}`:                 "timeout_mode",
		`{"retry_after_s":-1}`:                     "retry_after_s",
	} {
		r := h.do(http.MethodPut, "/sim/faults", "", body, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s, want 400 naming %s", body, r.status, r.body, want)
		}
	}
}

// TestFault429ActsAsTheWeightLimit: an injected 429 is the REQUEST_WEIGHT limit's answer
// (-1003, Retry-After, nothing charged), and the IP must honour it like a real one: a request
// before it ends is still refused, one after it is served.
func TestFault429ActsAsTheWeightLimit(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"error_rate":1,"error_status":429,"retry_after_s":7}`)
	r := h.get("/api/v3/ping", "")
	wantCode(t, r, http.StatusTooManyRequests, -1003,
		"Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.")
	if got := r.header.Get("Retry-After"); got != "7" {
		t.Fatalf("Retry-After %q, want 7", got)
	}
	if r.weight() != 0 {
		t.Fatalf("an injected 429 charged %d", r.weight())
	}
	putFaults(t, h, `{}`)
	if r := h.get("/api/v3/ping", ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("inside the Retry-After: %d %s", r.status, r.body)
	}
	h.clk.Advance(7 * time.Second)
	if r := h.get("/api/v3/ping", ""); r.status != http.StatusOK {
		t.Fatalf("after the Retry-After: %d %s", r.status, r.body)
	}
	if st := h.s.Stats(); st.Total.Status429 != 2 {
		t.Fatalf("429s counted: %d, want 2", st.Total.Status429)
	}

	// Without retry_after_s the wait is what is left of the weight window (the clock is at
	// :37 of the minute).
	putFaults(t, h, `{"error_rate":1,"error_status":429}`)
	if got := h.get("/api/v3/ping", "").header.Get("Retry-After"); got != "23" {
		t.Fatalf("Retry-After %q, want 23", got)
	}
}

// TestFaultMalformedOnOneEndpoint: malformed_rate answers 200 with a body that does not
// parse, on the named endpoint only; the others answer normally.
func TestFaultMalformedOnOneEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"malformed_rate":1,"paths":["/api/v3/ticker/bookTicker"]}`)
	r := h.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT")
	var v any
	if r.status != http.StatusOK || json.Unmarshal(r.body, &v) == nil {
		t.Fatalf("bookTicker under malformed_rate: %d %s, want a 200 that does not parse", r.status, r.body)
	}
	if r := h.get("/api/v3/ticker/price", "symbol=BTCUSDT"); r.status != http.StatusOK || json.Unmarshal(r.body, &v) != nil {
		t.Fatalf("another endpoint: %d %s, want a good answer", r.status, r.body)
	}
	if r := h.do(http.MethodPut, "/sim/faults", "", `{"malformed_rate":2}`, nil); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "malformed_rate") {
		t.Fatalf("malformed_rate 2: %d %s, want 400 naming it", r.status, r.body)
	}
}
