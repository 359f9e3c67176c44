package sim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
)

// TestWSAPISessionTiming: a signed request on a logged-on session still needs its timestamp,
// within recvWindow ("Session Authentication", "Timing security"), and a key revoked since the
// logon ends the session with 401 -2015.
func TestWSAPISessionTiming(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(strings.NewReader(strings.Repeat("timing", 11)))
	if err != nil {
		t.Fatal(err)
	}
	s := wsSim(t, func(c *sim.Config) { c.Accounts = []sim.Account{{APIKey: "ed-key", Ed25519PublicKey: pub}} })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws-api/v3")
	if ans := apiCall(t, ctx, c, "l", "session.logon", signedParams("ed-key", func(p string) string { return sim.SignEd25519(priv, p) })); ans["status"] != float64(200) {
		t.Fatalf("logon: %v", ans)
	}
	now := time.Now()
	wantAPIError(t, apiCall(t, ctx, c, "a", "allOrders", map[string]any{"symbol": "BTCUSDT"}), 400, -1102)
	wantAPIError(t, apiCall(t, ctx, c, "b", "allOrders", map[string]any{"symbol": "BTCUSDT", "timestamp": now.Add(-10 * time.Second).UnixMilli()}), 400, -1021)
	wantAPIError(t, apiCall(t, ctx, c, "c", "allOrders", map[string]any{"symbol": "BTCUSDT", "timestamp": now.Add(5 * time.Second).UnixMilli()}), 400, -1021)
	if ans := apiCall(t, ctx, c, "d", "allOrders", map[string]any{"symbol": "BTCUSDT", "timestamp": now.Add(-10 * time.Second).UnixMilli(), "recvWindow": 20000}); ans["status"] != float64(200) {
		t.Fatalf("within recvWindow 20000: %v", ans)
	}
	if err := s.RevokeKey("ed-key"); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, apiCall(t, ctx, c, "e", "allOrders", map[string]any{"symbol": "BTCUSDT", "timestamp": time.Now().UnixMilli()}), 401, -2015)
	if st := apiCall(t, ctx, c, "f", "session.status", nil)["result"].(map[string]any); st["apiKey"] != nil {
		t.Fatalf("session after revocation: %v", st)
	}
}

// TestWSAPIRateLimitData: a WebSocket API request refused by REQUEST_WEIGHT carries
// "data": {"serverTime", "retryAfter"} ("IP limits"), retryAfter the end of the window.
func TestWSAPIRateLimitData(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 4, 12, 0, 30, 0, time.UTC))
	s := wsSim(t, func(c *sim.Config) {
		c.Clock = clk
		c.Limits.RequestWeight = 12
		c.Streams.PingInterval = 1000 * time.Hour
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws-api/v3")
	for i, want := range []float64{200, 200, 429} {
		ans := apiCall(t, ctx, c, string(rune('a'+i)), "depth", map[string]any{"symbol": "BTCUSDT", "limit": 5})
		if ans["status"] != want {
			t.Fatalf("request %d: %v, want status %v", i, ans, want)
		}
		if want == 429 {
			data, _ := ans["error"].(map[string]any)["data"].(map[string]any)
			end := time.Date(2026, 5, 4, 12, 1, 0, 0, time.UTC).UnixMilli()
			if data == nil || data["serverTime"] != float64(clk.Now().UnixMilli()) || data["retryAfter"] != float64(end) {
				t.Fatalf("429 data %v, want serverTime %d retryAfter %d", data, clk.Now().UnixMilli(), end)
			}
		}
	}
}

// TestOrderTestCommissionRates: POST /api/v3/order/test with computeCommissionRates=true
// weighs 20 and answers the documented rates object; without it weighs 1 and answers {}.
func TestOrderTestCommissionRates(t *testing.T) {
	h := newHarness(t, nil)
	order := func(extra ...string) resp {
		return h.signed(http.MethodPost, "/api/v3/order/test", vals(append([]string{"symbol", "BTCUSDT", "side", "BUY",
			"type", "LIMIT", "timeInForce", "GTC", "quantity", "0.001", "price", "60000"}, extra...)...))
	}
	before := h.get("/api/v3/ping", "").weight()
	r := order()
	if r.status != 200 || string(r.body) != "{}" || r.weight()-before != 1 {
		t.Fatalf("without computeCommissionRates: %d %s weight %d", r.status, r.body, r.weight()-before)
	}
	before = r.weight()
	r = order("computeCommissionRates", "true")
	var got struct {
		Standard struct{ Maker, Taker string } `json:"standardCommissionForOrder"`
		Tax      struct{ Maker, Taker string } `json:"taxCommissionForOrder"`
		Discount struct {
			DiscountAsset string `json:"discountAsset"`
		} `json:"discount"`
	}
	r.json(t, &got)
	if r.status != 200 || r.weight()-before != 20 || got.Standard.Maker != "0.00100000" || got.Standard.Taker != "0.00100000" ||
		got.Tax.Maker != "0.00000000" || got.Discount.DiscountAsset != "BNB" {
		t.Fatalf("with computeCommissionRates: %d %s weight %d", r.status, r.body, r.weight()-before)
	}
	wantCode(t, order("computeCommissionRates", "yes"), 400, -1130, "")
}

// TestUserDataEventsInMicroseconds: on a timeUnit=MICROSECOND WebSocket API connection the
// user data stream's times are microseconds.
func TestUserDataEventsInMicroseconds(t *testing.T) {
	s := wsSim(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws-api/v3?timeUnit=MICROSECOND")
	if ans := apiCall(t, ctx, c, "s", "userDataStream.subscribe.signature", signedParams(testKey, func(p string) string { return sim.SignHMAC(testSecret, p) })); ans["status"] != float64(200) {
		t.Fatalf("subscribe: %v", ans)
	}
	h := &harness{t: t, s: s, base: s.URL(), client: &http.Client{}, key: testKey, secret: testSecret, clk: clock.NewFake(time.Now())}
	if r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "60000")); r.status != 200 {
		t.Fatalf("order: %s", r.body)
	}
	for seen := 0; seen < 2; {
		var ev struct {
			Event map[string]any `json:"event"`
		}
		readJSONMsg(t, ctx, c, &ev)
		switch ev.Event["e"] {
		case "executionReport":
			if ev.Event["E"].(float64) < 1e15 || ev.Event["T"].(float64) < 1e15 || ev.Event["O"].(float64) < 1e15 {
				t.Fatalf("executionReport times not in µs: %v", ev.Event)
			}
			seen++
		case "outboundAccountPosition":
			if ev.Event["E"].(float64) < 1e15 || ev.Event["u"].(float64) < 1e15 {
				t.Fatalf("outboundAccountPosition times not in µs: %v", ev.Event)
			}
			seen++
		}
	}
}

// readJSONMsg reads one message of c into v.
func readJSONMsg(t *testing.T, ctx context.Context, c *websocket.Conn, v any) {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
