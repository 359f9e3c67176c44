package sim_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// bybitEnv is a response's envelope.
type bybitEnv struct {
	RetCode int             `json:"retCode"`
	RetMsg  string          `json:"retMsg"`
	Result  json.RawMessage `json:"result"`
	Time    int64           `json:"time"`
}

func (r resp) bybit(t *testing.T) bybitEnv {
	t.Helper()
	var e bybitEnv
	r.json(t, &e)
	return e
}

func newBybit(t *testing.T, mutate func(*sim.Config)) *harness {
	t.Helper()
	return newHarness(t, func(c *sim.Config) {
		c.Dialect = sim.DialectBybit
		if mutate != nil {
			mutate(c)
		}
	})
}

// bybitSigned sends a signed v5 request: GET with query, POST with a JSON body.
func (h *harness) bybitSigned(method, path, query, body string) resp {
	h.t.Helper()
	ts, recv := h.ms(), "5000"
	payload := query
	if method == http.MethodPost {
		payload = body
	}
	hdr := map[string]string{"X-BAPI-API-KEY": h.key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": recv,
		"X-BAPI-SIGN": sim.SignBybit(h.secret, ts, h.key, recv, payload), "X-BAPI-SIGN-TYPE": "2"}
	if method == http.MethodPost {
		hdr["Content-Type"] = "application/json"
	}
	return h.do(method, path, query, body, hdr)
}

func TestBybitPublicAndEnvelope(t *testing.T) {
	h := newBybit(t, nil)
	r := h.get("/v5/market/time", "")
	e := r.bybit(t)
	if r.status != 200 || e.RetCode != 0 || e.Time != h.clk.Now().UnixMilli() {
		t.Fatalf("time: %d %s", r.status, r.body)
	}
	var tm struct{ TimeNano string }
	if err := json.Unmarshal(e.Result, &tm); err != nil || tm.TimeNano != strconv.FormatInt(h.clk.Now().UnixNano(), 10) {
		t.Fatalf("timeNano: %s", e.Result)
	}
	for _, c := range []struct {
		path, query string
		code        int
	}{
		{"/v5/market/tickers", "category=spot&symbol=BTCUSDT", 0},
		{"/v5/market/tickers", "category=spot&symbol=NOPE", 10001},
		{"/v5/market/tickers", "symbol=BTCUSDT", 181000},
		{"/v5/market/orderbook", "category=spot&symbol=BTCUSDT&limit=5", 0},
		{"/v5/market/orderbook", "category=spot&symbol=BTCUSDT&limit=1001", 10001},
		{"/v5/market/instruments-info", "category=spot", 0},
	} {
		r := h.get(c.path, c.query)
		if got := r.bybit(t).RetCode; r.status != 200 || got != c.code {
			t.Errorf("%s?%s: %d %s, want retCode %d", c.path, c.query, r.status, r.body, c.code)
		}
	}
	if r := h.get("/v5/nope", ""); r.status != http.StatusNotFound {
		t.Errorf("unknown path: %d", r.status)
	}
	// A GET with a body is a 403 (error.mdx HTTP 403 cause 2), without "access too frequent".
	r = h.do(http.MethodGet, "/v5/market/time", "", `{}`, nil)
	if r.status != http.StatusForbidden || string(r.body) == "" || strings.Contains(string(r.body), "access too frequent") {
		t.Fatalf("GET with body: %d %q", r.status, r.body)
	}
}

func TestBybitAuth(t *testing.T) {
	h := newBybit(t, nil)
	const q = "accountType=UNIFIED"
	if e := h.bybitSigned(http.MethodGet, "/v5/account/wallet-balance", q, "").bybit(t); e.RetCode != 0 {
		t.Fatalf("signed: %+v", e)
	}
	cases := []struct {
		name string
		hdr  map[string]string
		code int
	}{
		{"no key", map[string]string{}, 10003},
		{"unknown key", map[string]string{"X-BAPI-API-KEY": "nope", "X-BAPI-TIMESTAMP": h.ms(), "X-BAPI-SIGN": "00"}, 10003},
		{"bad sign", map[string]string{"X-BAPI-API-KEY": h.key, "X-BAPI-TIMESTAMP": h.ms(), "X-BAPI-SIGN": "00"}, 10004},
	}
	for _, c := range cases {
		r := h.do(http.MethodGet, "/v5/account/wallet-balance", q, "", c.hdr)
		if e := r.bybit(t); r.status != 200 || e.RetCode != c.code {
			t.Errorf("%s: %d %s, want 200 retCode %d", c.name, r.status, r.body, c.code)
		}
	}
	// The timestamp rule: server - recv <= ts < server + 1000.
	for _, off := range []time.Duration{1000 * time.Millisecond, -5001 * time.Millisecond} {
		ts := strconv.FormatInt(h.clk.Now().Add(off).UnixMilli(), 10)
		hdr := map[string]string{"X-BAPI-API-KEY": h.key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000",
			"X-BAPI-SIGN": sim.SignBybit(h.secret, ts, h.key, "5000", q)}
		if e := h.do(http.MethodGet, "/v5/account/wallet-balance", q, "", hdr).bybit(t); e.RetCode != 10002 {
			t.Errorf("timestamp off by %v: %+v, want 10002", off, e)
		}
	}
	for _, off := range []time.Duration{999 * time.Millisecond, -5000 * time.Millisecond} {
		ts := strconv.FormatInt(h.clk.Now().Add(off).UnixMilli(), 10)
		hdr := map[string]string{"X-BAPI-API-KEY": h.key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000",
			"X-BAPI-SIGN": sim.SignBybit(h.secret, ts, h.key, "5000", q)}
		if e := h.do(http.MethodGet, "/v5/account/wallet-balance", q, "", hdr).bybit(t); e.RetCode != 0 {
			t.Errorf("timestamp off by %v: %+v, want accepted", off, e)
		}
	}
	if err := h.s.RevokeKey(h.key); err != nil {
		t.Fatal(err)
	}
	if e := h.bybitSigned(http.MethodGet, "/v5/account/wallet-balance", q, "").bybit(t); e.RetCode != 10003 {
		t.Fatalf("revoked: %+v", e)
	}
}

func TestBybitOrderLifecycle(t *testing.T) {
	h := newBybit(t, nil)
	body := `{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"50000","timeInForce":"GTC","orderLinkId":"sim-1"}`
	e := h.bybitSigned(http.MethodPost, "/v5/order/create", "", body).bybit(t)
	if e.RetCode != 0 {
		t.Fatalf("create: %+v", e)
	}
	if e := h.bybitSigned(http.MethodPost, "/v5/order/create", "", body).bybit(t); e.RetCode != 170141 {
		t.Fatalf("duplicate: %+v", e)
	}
	r := h.bybitSigned(http.MethodGet, "/v5/order/realtime", "category=spot&orderLinkId=sim-1", "")
	var list struct {
		List []map[string]any `json:"list"`
	}
	if err := json.Unmarshal(r.bybit(t).Result, &list); err != nil || len(list.List) != 1 || list.List[0]["orderStatus"] != "New" {
		t.Fatalf("realtime: %s", r.body)
	}
	if r.header.Get("X-Bapi-Limit") != "50" || r.header.Get("X-Bapi-Limit-Status") != "49" {
		t.Fatalf("limit headers: %v", r.header)
	}
	cancel := `{"category":"spot","symbol":"BTCUSDT","orderLinkId":"sim-1"}`
	if e := h.bybitSigned(http.MethodPost, "/v5/order/cancel", "", cancel).bybit(t); e.RetCode != 0 {
		t.Fatalf("cancel: %+v", e)
	}
	if e := h.bybitSigned(http.MethodPost, "/v5/order/cancel", "", cancel).bybit(t); e.RetCode != 170213 {
		t.Fatalf("second cancel: %+v", e)
	}
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"50000.001"}`, 170134},
		{`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.0000011","price":"50000"}`, 170137},
		{`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.00001","price":"50000"}`, 170140},
		{`{"category":"spot","symbol":"NOPE","side":"Buy","orderType":"Limit","qty":"1","price":"1"}`, 170121},
		{`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"100","price":"60000"}`, 170131},
		{`{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"50000","orderLinkId":"x/y"}`, 10001},
	} {
		if e := h.bybitSigned(http.MethodPost, "/v5/order/create", "", c.body).bybit(t); e.RetCode != c.code {
			t.Errorf("%s: %+v, want %d", c.body, e, c.code)
		}
	}
}

// TestBybitUIDLimit: the per-UID limit of an endpoint answers 10006 in HTTP 200 with the
// three headers, the reset being when the rolling second has room again.
func TestBybitUIDLimit(t *testing.T) {
	h := newBybit(t, func(c *sim.Config) {
		c.DialectConfig = sim.BybitConfig{EndpointLimits: map[string]int64{"GET /v5/account/fee-rate": 3}}
	})
	const q = "category=spot&symbol=BTCUSDT"
	first := h.clk.Now()
	for i := range 3 {
		r := h.bybitSigned(http.MethodGet, "/v5/account/fee-rate", q, "")
		if r.bybit(t).RetCode != 0 || r.header.Get("X-Bapi-Limit-Status") != strconv.Itoa(2-i) {
			t.Fatalf("request %d: %v %s", i, r.header, r.body)
		}
		h.clk.Advance(100 * time.Millisecond)
	}
	r := h.bybitSigned(http.MethodGet, "/v5/account/fee-rate", q, "")
	e := r.bybit(t)
	if r.status != 200 || e.RetCode != 10006 || e.RetMsg != "Too many visits!" {
		t.Fatalf("over the limit: %d %s", r.status, r.body)
	}
	if got, want := r.header.Get("X-Bapi-Limit-Reset-Timestamp"), strconv.FormatInt(first.Add(time.Second).UnixMilli(), 10); got != want {
		t.Fatalf("reset %s, want %s", got, want)
	}
	h.clk.Advance(700 * time.Millisecond) // the first request leaves the rolling second
	if e := h.bybitSigned(http.MethodGet, "/v5/account/fee-rate", q, "").bybit(t); e.RetCode != 0 {
		t.Fatalf("after the reset: %+v", e)
	}
	if st := h.s.Stats(); st.Total.Status429 != 1 {
		t.Fatalf("stats count %d rate-limit answers, want 1", st.Total.Status429)
	}
}

// TestBybitIPBan: past the IP limit every request of the IP is answered 403 "access too
// frequent" for the (scaled) ten minutes, public or private, then it is lifted.
func TestBybitIPBan(t *testing.T) {
	h := newBybit(t, func(c *sim.Config) {
		c.TimeScale = 10
		c.DialectConfig = sim.BybitConfig{IPLimit: 5}
	})
	for range 5 {
		if r := h.get("/v5/market/time", ""); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	r := h.get("/v5/market/time", "")
	if r.status != http.StatusForbidden || !strings.Contains(string(r.body), "access too frequent") {
		t.Fatalf("over the IP limit: %d %s", r.status, r.body)
	}
	h.clk.Advance(59 * time.Second) // 10 minutes / 10, less a second
	if r := h.bybitSigned(http.MethodGet, "/v5/account/wallet-balance", "accountType=UNIFIED", ""); r.status != http.StatusForbidden {
		t.Fatalf("private during the ban: %d %s", r.status, r.body)
	}
	if st := h.s.Stats(); len(st.Banned) != 1 || st.Total.Bans != 1 || st.Total.Status418 != 2 {
		t.Fatalf("stats: %+v", st.Total)
	}
	h.clk.Advance(time.Second)
	if r := h.get("/v5/market/time", ""); r.status != 200 {
		t.Fatalf("after the ban: %d %s", r.status, r.body)
	}
}

// TestBybitFaults: the shared faults in Bybit's terms.
func TestBybitFaults(t *testing.T) {
	h := newBybit(t, nil)
	h.s.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, RetryAfterS: 600})
	r := h.get("/v5/market/tickers", "category=spot&symbol=BTCUSDT")
	e := r.bybit(t)
	reset, _ := strconv.ParseInt(r.header.Get("X-Bapi-Limit-Reset-Timestamp"), 10, 64)
	if e.RetCode != 10006 || reset-e.Time != 600_000 {
		t.Fatalf("injected rate limit: %v %s", r.header, r.body)
	}
	h.s.SetFaults(sim.Faults{ErrorRate: 1})
	if e := h.get("/v5/market/tickers", "category=spot&symbol=BTCUSDT").bybit(t); e.RetCode != 10016 {
		t.Fatalf("injected server error: %+v", e)
	}
	h.s.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusForbidden})
	if r := h.get("/v5/market/tickers", "category=spot&symbol=BTCUSDT"); r.status != 403 || strings.Contains(string(r.body), "too frequent") {
		t.Fatalf("injected 403: %d %s", r.status, r.body)
	}
	h.s.SetFaults(sim.Faults{UnknownRate: 1, Paths: []string{"/v5/order/create"}})
	body := `{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"50000","orderLinkId":"u-1"}`
	if e := h.bybitSigned(http.MethodPost, "/v5/order/create", "", body).bybit(t); e.RetCode != 170007 {
		t.Fatalf("unknown outcome: %+v", e)
	}
	h.s.SetFaults(sim.Faults{})
	if os := h.s.Orders(); len(os) != 1 || os[0].ClientOrderID != "u-1" {
		t.Fatalf("the unknown-outcome placement was not applied: %+v", os)
	}
}
