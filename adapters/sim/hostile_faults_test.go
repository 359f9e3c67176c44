package sim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/shopspring/decimal"
)

// TestFaultQuoteBendsBookTickerAndDepth: each quote fault reaches both the REST book ticker
// and the depth snapshot a streamed book resyncs from.
func TestFaultQuoteBendsBookTickerAndDepth(t *testing.T) {
	h := newHarness(t, nil)
	d := decimal.RequireFromString
	for _, tc := range []struct {
		quote string
		check func(bid, bidQty, ask, askQty decimal.Decimal) bool
	}{
		{"zero_bid", func(bid, bq, ask, aq decimal.Decimal) bool { return bid.IsZero() && bq.IsZero() && ask.IsPositive() }},
		{"zero", func(bid, bq, ask, aq decimal.Decimal) bool { return bid.IsZero() && ask.IsZero() && aq.IsZero() }},
		{"crossed", func(bid, bq, ask, aq decimal.Decimal) bool { return bid.GreaterThan(ask) && bq.IsPositive() }},
	} {
		putFaults(t, h, `{"quote":"`+tc.quote+`"}`)
		r := h.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT")
		var bt struct{ BidPrice, BidQty, AskPrice, AskQty string }
		if err := json.Unmarshal(r.body, &bt); err != nil || r.status != 200 {
			t.Fatalf("%s: %d %s", tc.quote, r.status, r.body)
		}
		if !tc.check(d(bt.BidPrice), d(bt.BidQty), d(bt.AskPrice), d(bt.AskQty)) {
			t.Fatalf("%s: bookTicker %s", tc.quote, r.body)
		}
		r = h.get("/api/v3/depth", "symbol=BTCUSDT&limit=5")
		var book struct{ Bids, Asks [][2]string }
		if err := json.Unmarshal(r.body, &book); err != nil || r.status != 200 {
			t.Fatalf("%s: %d %s", tc.quote, r.status, r.body)
		}
		top := func(side [][2]string) (decimal.Decimal, decimal.Decimal) {
			if len(side) == 0 {
				return decimal.Zero, decimal.Zero
			}
			return d(side[0][0]), d(side[0][1])
		}
		bid, bq := top(book.Bids)
		ask, aq := top(book.Asks)
		if !tc.check(bid, bq, ask, aq) {
			t.Fatalf("%s: depth %s", tc.quote, r.body)
		}
	}
	putFaults(t, h, `{"quote":"crossed","paths":["/api/v3/depth"]}`)
	r := h.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT")
	var bt struct{ BidPrice, AskPrice string }
	_ = json.Unmarshal(r.body, &bt)
	if !d(bt.BidPrice).LessThan(d(bt.AskPrice)) {
		t.Fatalf("a depth-only fault bent the book ticker: %s", r.body)
	}
}

// TestFaultAbsurdNumbers: an injected 429 carries the raw Retry-After asked for while the
// simulator enforces only the ordinary wait; an injected 418 names a ban's end without
// Retry-After; usage headers say what used_weight says; pad_bytes pads successes only.
func TestFaultAbsurdNumbers(t *testing.T) {
	h := newHarness(t, nil)
	putFaults(t, h, `{"error_rate":1,"error_status":429,"retry_after_raw":"999999999","paths":["/api/v3/ping"]}`)
	r := h.get("/api/v3/ping", "")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "999999999" {
		t.Fatalf("429: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	putFaults(t, h, `{}`)
	h.clk.Advance(time.Minute) // the enforced wait is the weight window's, not the header's
	if r := h.get("/api/v3/ping", ""); r.status != http.StatusOK {
		t.Fatalf("after the window: %d %s", r.status, r.body)
	}

	// 4102444800000 ms is 2100-01-01.
	putFaults(t, h, `{"error_rate":1,"error_status":418,"ban_until_ms":4102444800000,"paths":["/api/v3/time"]}`)
	r = h.get("/api/v3/time", "")
	if r.status != http.StatusTeapot || !strings.Contains(r.msg(), "banned until 4102444800000") || r.header.Get("Retry-After") != "" {
		t.Fatalf("418: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
	}
	if r := h.get("/api/v3/ping", ""); r.status != http.StatusOK {
		t.Fatalf("the simulator itself banned: %d %s", r.status, r.body)
	}

	putFaults(t, h, `{"used_weight":999999999,"pad_bytes":100000,"paths":["/api/v3/ping"]}`)
	r = h.get("/api/v3/ping", "")
	if r.status != 200 || r.header.Get("X-Mbx-Used-Weight-1m") != "999999999" || len(r.body) < 100000 {
		t.Fatalf("usage %q, %d bytes", r.header.Get("X-Mbx-Used-Weight-1m"), len(r.body))
	}
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("a padded answer is not JSON: %v", err)
	}
	if r := h.get("/api/v3/time", ""); r.header.Get("X-Mbx-Used-Weight-1m") == "999999999" || len(r.body) > 1000 {
		t.Fatal("faults limited to /api/v3/ping bent /api/v3/time")
	}
}

func TestHostileFaultsRefusedNamingTheField(t *testing.T) {
	h := newHarness(t, nil)
	for body, want := range map[string]string{
		`{"quote":"upside_down"}`:         "quote",
		`{"trickle_ms":-1}`:               "trickle_ms",
		`{"pad_bytes":1000000000}`:        "pad_bytes",
		`{"retry_after_raw":"1\r\nX: y"}`: "retry_after_raw",
	} {
		r := h.do(http.MethodPut, "/sim/faults", "", body, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s, want 400 naming %s", body, r.status, r.body, want)
		}
	}
}

// The redirect fault answers the matching requests of any dialect with a 307 to the other
// origin, keeping path and query, and applies nothing; a bad origin is refused by name.
func TestFaultRedirect(t *testing.T) {
	for _, dialect := range sim.Dialects() {
		s, err := sim.New(sim.Config{Dialect: dialect})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s)
		s.SetFaults(sim.Faults{RedirectTo: "http://elsewhere.invalid", Paths: []string{"/x/y"}})
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(srv.URL + "/x/y?a=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "http://elsewhere.invalid/x/y?a=1" {
			t.Fatalf("%s: %d %q", dialect, resp.StatusCode, resp.Header.Get("Location"))
		}
		srv.Close()
		s.Close()
	}
	if err := (sim.Faults{RedirectTo: "ftp://x"}).Validate(); err == nil || !strings.Contains(err.Error(), "redirect_to") {
		t.Fatalf("a bad redirect_to: %v", err)
	}
}
