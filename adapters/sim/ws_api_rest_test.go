package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/coder/websocket"

	"github.com/keelbot/keel/adapters/sim"
)

type apiAnswer struct {
	ID     any             `json:"id"`
	Status int             `json:"status"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code int
		Msg  string
	}
	RateLimits []struct {
		RateLimitType string `json:"rateLimitType"`
		Interval      string `json:"interval"`
		Count         int64  `json:"count"`
	} `json:"rateLimits"`
}

// apiClient sends WebSocket API requests on one connection.
type apiClient struct {
	t   *testing.T
	ctx context.Context
	c   *websocket.Conn
	n   int
}

func (a *apiClient) call(method string, params map[string]any) apiAnswer {
	a.t.Helper()
	a.n++
	req := map[string]any{"id": a.n, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, _ := json.Marshal(req)
	if err := a.c.Write(a.ctx, websocket.MessageText, b); err != nil {
		a.t.Fatal(err)
	}
	for {
		_, msg, err := a.c.Read(a.ctx)
		if err != nil {
			a.t.Fatal(err)
		}
		var ans apiAnswer
		if json.Unmarshal(msg, &ans) == nil && ans.ID == float64(a.n) {
			return ans
		}
	}
}

// signed adds apiKey, timestamp and the HMAC signature over the params sorted by name.
func signed(p map[string]any, key, secret string, now time.Time) map[string]any {
	p["apiKey"], p["timestamp"] = key, now.UnixMilli()
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, k+"="+fmt.Sprint(p[k]))
	}
	p["signature"] = sim.SignHMAC(secret, strings.Join(parts, "&"))
	return p
}

// TestWebSocketAPIMethods: the WebSocket API's market data and trading methods answer as
// their REST twins do, with rateLimits by default and without on returnRateLimits false,
// weights charged to the IP's REQUEST_WEIGHT and orders to the account's ORDERS windows.
func TestWebSocketAPIMethods(t *testing.T) {
	s := wsSim(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a := &apiClient{t: t, ctx: ctx, c: dialWS(t, ctx, s, "/ws-api/v3")}
	ans := a.call("time", nil)
	var tm struct{ ServerTime int64 }
	json.Unmarshal(ans.Result, &tm)
	if ans.Status != 200 || tm.ServerTime == 0 || len(ans.RateLimits) != 1 || ans.RateLimits[0].RateLimitType != "REQUEST_WEIGHT" || ans.RateLimits[0].Count < 1 {
		t.Fatalf("time: %+v", ans)
	}
	w0 := ans.RateLimits[0].Count
	if ans := a.call("v3/depth", map[string]any{"symbol": "BTCUSDT", "limit": 500}); ans.Status != 200 || ans.RateLimits[0].Count != w0+25 {
		t.Fatalf("depth 500 (weight 25): %+v after %d", ans, w0)
	}
	if ans := a.call("ping", map[string]any{"returnRateLimits": false}); ans.Status != 200 || ans.RateLimits != nil {
		t.Fatalf("ping without rate limits: %+v", ans)
	}
	for _, m := range []struct {
		method string
		params map[string]any
	}{
		{"exchangeInfo", map[string]any{"symbols": []string{"BTCUSDT"}}},
		{"ticker.price", map[string]any{"symbols": []string{"BTCUSDT", "ETHUSDT"}}},
		{"ticker.book", map[string]any{"symbol": "BTCUSDT"}},
		{"ticker.24hr", map[string]any{"symbol": "BTCUSDT", "type": "MINI"}},
		{"ticker", map[string]any{"symbol": "BTCUSDT", "windowSize": "1h"}},
		{"klines", map[string]any{"symbol": "BTCUSDT", "interval": "1m", "limit": 5}},
		{"uiKlines", map[string]any{"symbol": "BTCUSDT", "interval": "1s"}},
		{"avgPrice", map[string]any{"symbol": "BTCUSDT"}},
		{"trades.recent", map[string]any{"symbol": "BTCUSDT", "limit": 3}},
		{"trades.aggregate", map[string]any{"symbol": "BTCUSDT"}},
		{"trades.historical", map[string]any{"symbol": "BTCUSDT"}},
	} {
		if ans := a.call(m.method, m.params); ans.Status != 200 || len(ans.Result) == 0 {
			t.Errorf("%s: %+v", m.method, ans)
		}
	}
	if ans := a.call("klines", map[string]any{"symbol": "BTCUSDT", "interval": "7m"}); ans.Status != 400 || ans.Error == nil || ans.Error.Code != -1120 {
		t.Fatalf("bad interval: %+v", ans)
	}
	// Trading, signed per request.
	now := time.Now()
	ans = a.call("order.place", signed(map[string]any{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
		"quantity": "0.001", "price": "30000", "newClientOrderId": "ws-1"}, testKey, testSecret, now))
	var placed struct{ Status, ClientOrderID string }
	json.Unmarshal(ans.Result, &placed)
	orders := 0
	for _, rl := range ans.RateLimits {
		if rl.RateLimitType == "ORDERS" && rl.Count == 1 {
			orders++
		}
	}
	if ans.Status != 200 || placed.Status != "NEW" || placed.ClientOrderID != "ws-1" || orders != 2 {
		t.Fatalf("order.place: %+v", ans)
	}
	for _, m := range []struct {
		method string
		params map[string]any
	}{
		{"order.status", map[string]any{"symbol": "BTCUSDT", "origClientOrderId": "ws-1"}},
		{"openOrders.status", map[string]any{"symbol": "BTCUSDT"}},
		{"allOrders", map[string]any{"symbol": "BTCUSDT"}},
		{"myTrades", map[string]any{"symbol": "BTCUSDT"}},
		{"account.status", map[string]any{}},
		{"account.commission", map[string]any{"symbol": "BTCUSDT"}},
		{"account.rateLimits.orders", map[string]any{}},
		{"order.test", map[string]any{"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"}},
		{"order.cancel", map[string]any{"symbol": "BTCUSDT", "origClientOrderId": "ws-1"}},
	} {
		if ans := a.call(m.method, signed(m.params, testKey, testSecret, now)); ans.Status != 200 {
			t.Errorf("%s: %+v", m.method, ans)
		}
	}
	if ans := a.call("order.status", signed(map[string]any{"symbol": "BTCUSDT", "origClientOrderId": "ws-1"}, testKey, "wrong", now)); ans.Status != 400 || ans.Error.Code != -1022 {
		t.Fatalf("bad signature: %+v", ans)
	}
	if ans := a.call("openOrders.cancelAll", map[string]any{"symbol": "BTCUSDT"}); ans.Status == 200 {
		t.Fatalf("unsigned on an anonymous session: %+v", ans)
	}
	if ans := a.call("order.cancelReplace", signed(map[string]any{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
		"timeInForce": "GTC", "quantity": "0.001", "price": "30001", "cancelReplaceMode": "STOP_ON_FAILURE",
		"cancelOrigClientOrderId": "nope"}, testKey, testSecret, now)); ans.Status != 400 || ans.Error.Code != -2022 {
		t.Fatalf("cancelReplace of an unknown order: %+v %+v", ans, ans.Error)
	}
	var st map[string]any
	json.Unmarshal(a.call("session.status", nil).Result, &st)
	for _, k := range []string{"apiKey", "authorizedSince", "connectedSince", "returnRateLimits", "serverTime", "userDataStream"} {
		if _, ok := st[k]; !ok {
			t.Fatalf("session.status lacks %s: %v", k, st)
		}
	}
	// returnRateLimits=false on the connection: none unless a request asks.
	b := &apiClient{t: t, ctx: ctx, c: dialWS(t, ctx, s, "/ws-api/v3?returnRateLimits=false")}
	if ans := b.call("time", nil); ans.RateLimits != nil {
		t.Fatalf("connection without rate limits: %+v", ans)
	}
	if ans := b.call("time", map[string]any{"returnRateLimits": true}); len(ans.RateLimits) == 0 {
		t.Fatalf("asked for rate limits: %+v", ans)
	}
}

// TestWebSocketAPIThirdPartyClient places an order with go-binance's WebSocket API client,
// unmodified.
func TestWebSocketAPIThirdPartyClient(t *testing.T) {
	s := wsSim(t, nil)
	// Not restored: the client cannot be closed, and its reconnect loop reads these package
	// variables after the test (TestMain ignores its goroutines); no other test uses them.
	gobinance.BaseWsApiMainURL = wsURL(s, "/ws-api/v3")
	svc, err := gobinance.NewOrderCreateWsService(testKey, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	res, err := svc.SyncDo("req-1", gobinance.NewOrderCreateWsRequest().Symbol("BTCUSDT").Side(gobinance.SideTypeBuy).
		Type(gobinance.OrderTypeLimit).TimeInForce(gobinance.TimeInForceTypeGTC).Quantity("0.001").Price("30000").
		NewClientOrderID("gb-ws-1").NewOrderRespType(gobinance.NewOrderRespTypeRESULT))
	if err != nil || res.Error != nil || res.Result.ClientOrderID != "gb-ws-1" || res.Result.Status != gobinance.OrderStatusTypeNew {
		t.Fatalf("order.place via go-binance: %v %+v", err, res)
	}
}
