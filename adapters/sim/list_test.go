package sim_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestListEndpoints: allOrders and myTrades read symbol, the id to start from, startTime,
// endTime and limit as rest-api.md describes them: a page from an id or a start time is the
// oldest, otherwise the newest; at most 24 hours between the times; myTrades' supported
// combinations; malformed or unread parameters are refused.
func TestListEndpoints(t *testing.T) {
	h := newHarness(t, fixedPrice)
	t0 := h.clk.Now()
	var orderIDs []int64
	for i := 0; i < 5; i++ {
		var o orderJSON
		h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET",
			"quantity", "0.001", "newOrderRespType", "FULL")).json(t, &o)
		if o.Status != "FILLED" || len(o.Fills) != 1 {
			t.Fatalf("order %d: %+v", i, o)
		}
		orderIDs = append(orderIDs, o.OrderID)
		h.clk.Advance(time.Second)
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(t0.Add(d).UnixMilli(), 10) }
	ids := func(path string, kv ...string) []int64 {
		t.Helper()
		r := h.signed(http.MethodGet, path, vals(append([]string{"symbol", "BTCUSDT"}, kv...)...))
		if r.status != 200 {
			t.Fatalf("%s %v: %d %s", path, kv, r.status, r.body)
		}
		var list []struct {
			ID, OrderID int64
		}
		r.json(t, &list)
		var out []int64
		for _, x := range list {
			if path == "/api/v3/myTrades" {
				out = append(out, x.ID)
			} else {
				out = append(out, x.OrderID)
			}
		}
		return out
	}
	same := func(got []int64, want ...int64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	o := orderIDs
	trades := ids("/api/v3/myTrades")
	if len(trades) != 5 {
		t.Fatalf("trades %v", trades)
	}
	for _, tc := range []struct {
		path string
		kv   []string
		want []int64
	}{
		{"/api/v3/allOrders", nil, o},
		{"/api/v3/allOrders", []string{"limit", "2"}, o[3:]},
		{"/api/v3/allOrders", []string{"orderId", strconv.FormatInt(o[1], 10), "limit", "2"}, o[1:3]},
		{"/api/v3/allOrders", []string{"startTime", ms(2 * time.Second)}, o[2:]},
		{"/api/v3/allOrders", []string{"startTime", ms(time.Second), "limit", "1"}, o[1:2]},
		{"/api/v3/allOrders", []string{"endTime", ms(time.Second)}, o[:2]},
		{"/api/v3/myTrades", []string{"limit", "2"}, trades[3:]},
		{"/api/v3/myTrades", []string{"fromId", strconv.FormatInt(trades[1], 10), "limit", "2"}, trades[1:3]},
		{"/api/v3/myTrades", []string{"orderId", strconv.FormatInt(o[3], 10)}, trades[3:4]},
		{"/api/v3/myTrades", []string{"startTime", ms(3 * time.Second), "endTime", ms(4 * time.Second)}, trades[3:]},
	} {
		if got := ids(tc.path, tc.kv...); !same(got, tc.want...) {
			t.Errorf("%s %v: %v, want %v", tc.path, tc.kv, got, tc.want)
		}
	}
	for _, tc := range []struct {
		path         string
		kv           []string
		status, code int
	}{
		{"/api/v3/allOrders", []string{"startTime", ms(0), "endTime", ms(25 * time.Hour)}, 400, -1127},
		{"/api/v3/myTrades", []string{"startTime", ms(0), "endTime", ms(25 * time.Hour)}, 400, -1127},
		{"/api/v3/myTrades", []string{"orderId", "1", "startTime", ms(0)}, 400, -1128},
		{"/api/v3/myTrades", []string{"fromId", "1", "endTime", ms(0)}, 400, -1128},
		{"/api/v3/myTrades", []string{"limit", "0"}, 400, -1130},
		{"/api/v3/allOrders", []string{"limit", "1001"}, 400, -1130},
		{"/api/v3/allOrders", []string{"orderId", "abc", "startTime", "x"}, 400, -1100},
		{"/api/v3/myTrades", []string{"startTime", "x"}, 400, -1100},
		{"/api/v3/allOrders", []string{"fromId", "1"}, 400, -1104},
	} {
		r := h.signed(http.MethodGet, tc.path, vals(append([]string{"symbol", "BTCUSDT"}, tc.kv...)...))
		if r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s %v: %d %s, want %d %d", tc.path, tc.kv, r.status, r.body, tc.status, tc.code)
		}
	}
	// The first bad parameter is the one reported, in the order the endpoint lists them.
	r := h.signed(http.MethodGet, "/api/v3/allOrders", vals("symbol", "BTCUSDT", "orderId", "abc", "startTime", "x"))
	if r.msg() != "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'." {
		t.Errorf("first bad parameter: %s", r.body)
	}
	wantCode(t, h.signed(http.MethodGet, "/api/v3/myTrades", nil), 400, -1102,
		"Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
}
