package sim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/coder/websocket"

	"github.com/keelbot/keel/adapters/sim"
)

var (
	wsAPIAddrOnce sync.Once
	wsAPIAddr     string
)

// wsAPI is a WebSocket API connection with a request counter.
type wsAPI struct {
	t   *testing.T
	ctx context.Context
	c   *websocket.Conn
	n   int
}

func dialAPI(t *testing.T, s *sim.Server, query string) *wsAPI {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return &wsAPI{t: t, ctx: ctx, c: dialWS(t, ctx, s, "/ws-api/v3"+query)}
}

// call sends method with params and returns the answer.
func (w *wsAPI) call(method string, params map[string]any) map[string]any {
	w.t.Helper()
	w.n++
	return apiCall(w.t, w.ctx, w.c, fmt.Sprintf("r%d", w.n), method, params)
}

// signed adds apiKey, timestamp and the HMAC signature over every parameter sorted by name.
func signed(params map[string]any) map[string]any {
	out := map[string]any{"apiKey": testKey, "timestamp": time.Now().UnixMilli()}
	for k, v := range params {
		out[k] = v
	}
	names := make([]string, 0, len(out))
	for k := range out {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + fmt.Sprint(out[k])
	}
	out["signature"] = sim.SignHMAC(testSecret, strings.Join(parts, "&"))
	return out
}

// weightCount is the REQUEST_WEIGHT count of an answer's rateLimits, -1 without them.
func weightCount(ans map[string]any) int {
	ls, ok := ans["rateLimits"].([]any)
	if !ok {
		return -1
	}
	for _, l := range ls {
		if m := l.(map[string]any); m["rateLimitType"] == "REQUEST_WEIGHT" {
			return int(m["count"].(float64))
		}
	}
	return -1
}

// restJSON is a public REST answer decoded.
func restJSON(t *testing.T, s *sim.Server, path, query string) any {
	t.Helper()
	res, err := http.Get(s.URL() + path + "?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %s", path, b)
	}
	return v
}

// dropTimes removes the fields that hold the moment of the answer.
func dropTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range []string{"serverTime", "closeTime", "openTime"} {
			delete(x, k)
		}
		for k, e := range x {
			x[k] = dropTimes(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropTimes(e)
		}
	}
	return v
}

// TestWSAPIMarketMethods: every public method answers what its REST endpoint answers, charges
// its documented weight to the IP's REQUEST_WEIGHT, and carries rateLimits unless told not to.
func TestWSAPIMarketMethods(t *testing.T) {
	s := wsSim(t, func(c *sim.Config) { c.Limits.ChargeWSAPISessions = true })
	w := dialAPI(t, s, "")
	prev := weightCount(w.call("ping", nil))
	if prev != 3 { // connecting costs 2, ping 1
		t.Fatalf("weight after connect and ping %d, want 3", prev)
	}
	if got := weightCount(w.call("session.status", nil)); got-prev != 2 {
		t.Fatalf("session.status weighs %d, want 2", got-prev)
	}
	prev += 2
	for _, tc := range []struct {
		method      string
		params      map[string]any
		path, query string
		weight      int
	}{
		{"time", nil, "/api/v3/time", "", 1},
		{"exchangeInfo", map[string]any{"symbols": []string{"BTCUSDT", "ETHUSDT"}}, "/api/v3/exchangeInfo", "symbols=" + url.QueryEscape(`["BTCUSDT","ETHUSDT"]`), 20},
		{"depth", map[string]any{"symbol": "BTCUSDT", "limit": 5}, "/api/v3/depth", "symbol=BTCUSDT&limit=5", 5},
		{"depth", map[string]any{"symbol": "BTCUSDT", "limit": 1000}, "/api/v3/depth", "symbol=BTCUSDT&limit=1000", 50},
		{"ticker.price", map[string]any{"symbol": "BTCUSDT"}, "/api/v3/ticker/price", "symbol=BTCUSDT", 2},
		{"ticker.price", nil, "/api/v3/ticker/price", "", 4},
		{"ticker.book", map[string]any{"symbols": []string{"ETHUSDT", "BTCUSDT"}}, "/api/v3/ticker/bookTicker", "symbols=" + url.QueryEscape(`["ETHUSDT","BTCUSDT"]`), 4},
		{"ticker.24hr", map[string]any{"symbol": "BTCUSDT"}, "/api/v3/ticker/24hr", "symbol=BTCUSDT", 2},
		{"ticker.24hr", map[string]any{"type": "MINI"}, "/api/v3/ticker/24hr", "type=MINI", 80},
		{"ticker", map[string]any{"symbol": "BTCUSDT", "windowSize": "2h"}, "/api/v3/ticker", "symbol=BTCUSDT&windowSize=2h", 4},
		{"ticker.tradingDay", map[string]any{"symbols": []string{"BTCUSDT", "ETHUSDT"}, "timeZone": "-1:30"}, "/api/v3/ticker/tradingDay", "symbols=" + url.QueryEscape(`["BTCUSDT","ETHUSDT"]`) + "&timeZone=-1:30", 8},
		{"klines", map[string]any{"symbol": "BTCUSDT", "interval": "1m", "limit": 2}, "/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=2", 2},
		{"uiKlines", map[string]any{"symbol": "BTCUSDT", "interval": "1h"}, "/api/v3/uiKlines", "symbol=BTCUSDT&interval=1h", 2},
		{"avgPrice", map[string]any{"symbol": "BTCUSDT"}, "/api/v3/avgPrice", "symbol=BTCUSDT", 2},
		{"trades.recent", map[string]any{"symbol": "BTCUSDT", "limit": 3}, "/api/v3/trades", "symbol=BTCUSDT&limit=3", 25},
		{"trades.historical", map[string]any{"symbol": "BTCUSDT"}, "/api/v3/historicalTrades", "symbol=BTCUSDT", 25},
		{"trades.aggregate", map[string]any{"symbol": "BTCUSDT"}, "/api/v3/aggTrades", "symbol=BTCUSDT", 4},
		{"v3/ping", nil, "/api/v3/ping", "", 1},
	} {
		ans := w.call(tc.method, tc.params)
		if ans["status"] != float64(200) {
			t.Fatalf("%s: %v", tc.method, ans)
		}
		got := weightCount(ans)
		if got-prev != tc.weight {
			t.Errorf("%s %v: weight %d, want %d", tc.method, tc.params, got-prev, tc.weight)
		}
		prev = got
		// The REST call shares the IP's weight: count it too.
		want := restJSON(t, s, tc.path, tc.query)
		prev += tc.weight
		if !reflect.DeepEqual(dropTimes(ans["result"]), dropTimes(want)) {
			t.Errorf("%s: WS %v\nREST %v", tc.method, ans["result"], want)
		}
	}
	// Errors are REST's, in the WS envelope, with rateLimits.
	ans := w.call("depth", map[string]any{"symbol": "NOPE"})
	wantAPIError(t, ans, 400, -1121)
	if weightCount(ans) < 0 {
		t.Fatalf("error without rateLimits: %v", ans)
	}
	wantAPIError(t, w.call("ticker.24hr", map[string]any{"symbol": "BTCUSDT", "bogus": true}), 400, -1104)
	wantAPIError(t, w.call("order.fly", nil), 400, -1020)
	wantAPIError(t, w.call("depth", map[string]any{"symbol": map[string]any{"a": 1}}), 400, -1100)

	// returnRateLimits: per request, and per connection with a per-request override.
	if ans := w.call("time", map[string]any{"returnRateLimits": false}); ans["rateLimits"] != nil || ans["status"] != float64(200) {
		t.Fatalf("returnRateLimits false: %v", ans)
	}
	quiet := dialAPI(t, s, "?returnRateLimits=false")
	if ans := quiet.call("time", nil); ans["rateLimits"] != nil {
		t.Fatalf("connection returnRateLimits=false: %v", ans)
	}
	if ans := quiet.call("time", map[string]any{"returnRateLimits": true}); weightCount(ans) < 0 {
		t.Fatalf("request returnRateLimits=true on a quiet connection: %v", ans)
	}
	if st := quiet.call("session.status", nil)["result"].(map[string]any); st["returnRateLimits"] != false || st["apiKey"] != nil || st["authorizedSince"] != nil {
		t.Fatalf("session.status of the quiet connection: %v", st)
	}
	// Microseconds on a timeUnit=MICROSECOND connection.
	micro := dialAPI(t, s, "?timeUnit=MICROSECOND")
	if st := micro.call("time", nil)["result"].(map[string]any); st["serverTime"].(float64) < 1e15 {
		t.Fatalf("serverTime in µs: %v", st)
	}
}

// TestWSAPITrading places, queries, replaces and cancels orders over the WebSocket API, signed
// per request and on a logged-on session, and checks the answers' shapes and rateLimits.
func TestWSAPITrading(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(strings.NewReader(strings.Repeat("wsapi", 13)))
	if err != nil {
		t.Fatal(err)
	}
	s := wsSim(t, func(c *sim.Config) {
		c.Accounts = []sim.Account{{APIKey: testKey, HMACSecret: testSecret, Ed25519PublicKey: pub,
			Balances: map[string]string{"USDT": "100000", "BTC": "1"}}}
	})
	w := dialAPI(t, s, "?timeUnit=MICROSECOND")
	place := func(clientID, price string) map[string]any {
		t.Helper()
		ans := w.call("order.place", signed(map[string]any{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
			"timeInForce": "GTC", "quantity": "0.001", "price": price, "newClientOrderId": clientID}))
		if ans["status"] != float64(200) {
			t.Fatalf("order.place: %v", ans)
		}
		return ans
	}
	ans := place("ws-1", "60000")
	res := ans["result"].(map[string]any)
	if res["clientOrderId"] != "ws-1" || res["status"] != "NEW" || res["transactTime"].(float64) < 1e15 {
		t.Fatalf("order.place result %v", res)
	}
	var kinds []string
	for _, l := range ans["rateLimits"].([]any) {
		m := l.(map[string]any)
		kinds = append(kinds, fmt.Sprint(m["rateLimitType"], " ", m["intervalNum"], m["interval"], " ", m["count"]))
	}
	if strings.Join(kinds, ",") != "ORDERS 10SECOND 1,ORDERS 1DAY 1,REQUEST_WEIGHT 1MINUTE 0" {
		// the successful order.place weighs 0 (and the connection nothing by default).
		t.Fatalf("order.place rateLimits %v", kinds)
	}
	orderID := res["orderId"]

	st := w.call("order.status", signed(map[string]any{"symbol": "BTCUSDT", "orderId": orderID}))["result"].(map[string]any)
	if st["clientOrderId"] != "ws-1" || st["isWorking"] != true || st["time"].(float64) < 1e15 {
		t.Fatalf("order.status %v", st)
	}
	// returnRateLimits is a parameter like any other: the signature covers it (ccxt signs it).
	if ans := w.call("order.status", signed(map[string]any{"symbol": "BTCUSDT", "orderId": orderID, "returnRateLimits": false})); ans["status"] != float64(200) || ans["rateLimits"] != nil {
		t.Fatalf("signed with returnRateLimits false: %v", ans)
	}
	if open := w.call("openOrders.status", signed(map[string]any{"symbol": "BTCUSDT"}))["result"].([]any); len(open) != 1 {
		t.Fatalf("openOrders.status %v", open)
	}

	// cancelReplace: both halves succeed.
	ans = w.call("order.cancelReplace", signed(map[string]any{"symbol": "BTCUSDT", "cancelReplaceMode": "STOP_ON_FAILURE",
		"cancelOrigClientOrderId": "ws-1", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.002",
		"price": "59000", "newClientOrderId": "ws-2"}))
	cr := ans["result"].(map[string]any)
	if ans["status"] != float64(200) || cr["cancelResult"] != "SUCCESS" || cr["newOrderResult"] != "SUCCESS" ||
		cr["cancelResponse"].(map[string]any)["status"] != "CANCELED" || cr["newOrderResponse"].(map[string]any)["clientOrderId"] != "ws-2" {
		t.Fatalf("cancelReplace: %v", ans)
	}
	// The cancel fails: STOP_ON_FAILURE stops (-2022), ALLOW_FAILURE places anyway (-2021, 409).
	ans = w.call("order.cancelReplace", signed(map[string]any{"symbol": "BTCUSDT", "cancelReplaceMode": "STOP_ON_FAILURE",
		"cancelOrigClientOrderId": "ws-1", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001", "price": "58000"}))
	wantAPIError(t, ans, 400, -2022)
	data := ans["error"].(map[string]any)["data"].(map[string]any)
	if data["cancelResult"] != "FAILURE" || data["newOrderResult"] != "NOT_ATTEMPTED" || data["newOrderResponse"] != nil ||
		data["cancelResponse"].(map[string]any)["code"] != float64(-2011) {
		t.Fatalf("STOP_ON_FAILURE data %v", data)
	}
	ans = w.call("order.cancelReplace", signed(map[string]any{"symbol": "BTCUSDT", "cancelReplaceMode": "ALLOW_FAILURE",
		"cancelOrigClientOrderId": "ws-1", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
		"price": "58000", "newClientOrderId": "ws-3"}))
	wantAPIError(t, ans, 409, -2021)
	if d := ans["error"].(map[string]any)["data"].(map[string]any); d["newOrderResult"] != "SUCCESS" || d["cancelResult"] != "FAILURE" {
		t.Fatalf("ALLOW_FAILURE data %v", d)
	}

	// The same account on an Ed25519 session: timestamp only.
	logon := dialAPI(t, s, "")
	if ans := logon.call("session.logon", signedParams(testKey, func(p string) string { return sim.SignEd25519(priv, p) })); ans["status"] != float64(200) {
		t.Fatalf("logon: %v", ans)
	}
	sess := logon.call("session.status", nil)["result"].(map[string]any)
	if sess["apiKey"] != testKey || sess["authorizedSince"] == nil || sess["connectedSince"] == nil || sess["returnRateLimits"] != true {
		t.Fatalf("session.status %v", sess)
	}
	ts := func(p map[string]any) map[string]any {
		p["timestamp"] = time.Now().UnixMilli()
		return p
	}
	if all := logon.call("allOrders", ts(map[string]any{"symbol": "BTCUSDT"}))["result"].([]any); len(all) != 3 {
		t.Fatalf("allOrders on the session: %v", all)
	}
	wantAPIError(t, logon.call("allOrders", map[string]any{"symbol": "BTCUSDT"}), 400, -1102) // timestamp is still mandatory
	ans = logon.call("order.cancel", ts(map[string]any{"symbol": "BTCUSDT", "origClientOrderId": "ws-2"}))
	if ans["result"].(map[string]any)["status"] != "CANCELED" {
		t.Fatalf("order.cancel: %v", ans)
	}
	if ans := logon.call("openOrders.cancelAll", ts(map[string]any{"symbol": "BTCUSDT"})); len(ans["result"].([]any)) != 1 {
		t.Fatalf("openOrders.cancelAll: %v", ans)
	}
	wantAPIError(t, logon.call("openOrders.cancelAll", ts(map[string]any{"symbol": "BTCUSDT"})), 400, -2011)

	// A market order fills: myTrades has it.
	ans = logon.call("order.place", ts(map[string]any{"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.01"}))
	if ans["result"].(map[string]any)["status"] != "FILLED" {
		t.Fatalf("market order: %v", ans)
	}
	if trades := logon.call("myTrades", ts(map[string]any{"symbol": "BTCUSDT"}))["result"].([]any); len(trades) != 1 {
		t.Fatalf("myTrades: %v", trades)
	}
	// Boolean parameters: omitZeroBalances true drops the zero balances.
	acct := logon.call("account.status", ts(map[string]any{"omitZeroBalances": true}))["result"].(map[string]any)
	for _, b := range acct["balances"].([]any) {
		if bm := b.(map[string]any); bm["free"] == "0.00000000" && bm["locked"] == "0.00000000" {
			t.Fatalf("omitZeroBalances true kept %v", bm)
		}
	}
	if c := logon.call("account.commission", ts(map[string]any{"symbol": "BTCUSDT"}))["result"].(map[string]any); c["symbol"] != "BTCUSDT" || c["standardCommission"] == nil {
		t.Fatalf("account.commission %v", c)
	}
	before := weightCount(logon.call("time", nil))
	ans = logon.call("order.test", ts(map[string]any{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
		"quantity": "0.001", "price": "60000", "computeCommissionRates": true}))
	if ans["status"] != float64(200) || weightCount(ans)-before != 20 {
		t.Fatalf("order.test with computeCommissionRates: weight %d, %v", weightCount(ans)-before, ans)
	}
	if std := ans["result"].(map[string]any)["standardCommissionForOrder"].(map[string]any); std["maker"] != "0.00100000" || std["taker"] != "0.00100000" {
		t.Fatalf("order.test commission rates: %v", ans["result"])
	}
	if ans := logon.call("order.test", ts(map[string]any{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
		"quantity": "0.001", "price": "60000"})); len(ans["result"].(map[string]any)) != 0 {
		t.Fatalf("order.test without computeCommissionRates: %v", ans)
	}
	if rl := logon.call("account.rateLimits.orders", ts(map[string]any{}))["result"].([]any); len(rl) != 2 {
		t.Fatalf("account.rateLimits.orders %v", rl)
	}
	// Signed without a session or a key: -1102 apiKey; a bad signature: -1022.
	wantAPIError(t, w.call("account.status", ts(map[string]any{})), 400, -1102)
	bad := signed(map[string]any{"symbol": "BTCUSDT"})
	bad["signature"] = strings.Repeat("0", 64)
	wantAPIError(t, w.call("openOrders.status", bad), 400, -1022)
}

// TestExecutionReportIDs: each executionReport of an order carries its own execution id "I".
// On a timeUnit=MICROSECOND connection their times are microseconds.
func TestExecutionReportIDs(t *testing.T) {
	s := wsSim(t, nil)
	w := dialAPI(t, s, "?timeUnit=MICROSECOND")
	if ans := w.call("userDataStream.subscribe.signature", signedParams(testKey, func(p string) string { return sim.SignHMAC(testSecret, p) })); ans["status"] != float64(200) {
		t.Fatalf("subscribe: %v", ans)
	}
	// Sent without waiting: the events come before each answer.
	for i := 0; i < 2; i++ {
		b, _ := json.Marshal(map[string]any{"id": i, "method": "order.place",
			"params": signed(map[string]any{"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"})})
		if err := w.c.Write(w.ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[float64]string{}
	for len(seen) < 4 {
		var ev struct {
			Event map[string]any `json:"event"`
		}
		readJSON(t, w.ctx, w.c, &ev)
		if ev.Event["e"] != "executionReport" {
			continue
		}
		if ev.Event["E"].(float64) < 1e15 || ev.Event["O"].(float64) < 1e15 {
			t.Fatalf("times not in µs: %v", ev.Event)
		}
		id := ev.Event["I"].(float64)
		what := fmt.Sprint(ev.Event["i"], ev.Event["x"])
		if prev, dup := seen[id]; dup {
			t.Fatalf("execution id %v on %s and %s", id, prev, what)
		}
		seen[id] = what
	}
}

// TestWSAPIThirdPartyClient places an order with go-binance's unmodified WebSocket API
// client, and replaces one with its REST cancelReplace service.
//
// go-binance v2.8.7's WebSocket API client cannot be stopped: once its connection drops it
// reconnects forever, reading gobinance.BaseWsApiMainURL (main_test.go lets its goroutines
// outlive the test). So the URL is set once per test binary, to an address every run of this
// test listens on again (-count=N), and never written after.
func TestWSAPIThirdPartyClient(t *testing.T) {
	wsAPIAddrOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		wsAPIAddr = ln.Addr().String()
		ln.Close()
		gobinance.BaseWsApiMainURL = "ws://" + wsAPIAddr + "/ws-api/v3"
	})
	s, err := sim.New(sim.Config{Seed: 3, WalkInterval: 1000 * time.Hour, APIKey: testKey, APISecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(wsAPIAddr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, err := gobinance.NewOrderCreateWsService(testKey, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	req := gobinance.NewOrderCreateWsRequest().Symbol("BTCUSDT").Side(gobinance.SideTypeBuy).
		Type(gobinance.OrderTypeLimit).TimeInForce(gobinance.TimeInForceTypeGTC).Quantity("0.001").
		Price("60000").NewClientOrderID("gb-ws-1")
	res, err := svc.SyncDo("gb1", req)
	if err != nil || res.Status != 200 || res.Error != nil || res.Result.ClientOrderID != "gb-ws-1" || res.Result.Status != gobinance.OrderStatusTypeNew {
		t.Fatalf("order.place via go-binance: %v %+v", err, res)
	}
	res, err = svc.SyncDo("gb2", req)
	if err != nil || res.Status != 400 || res.Error == nil || res.Error.Code != -2010 {
		t.Fatalf("duplicate order via go-binance: %v %+v", err, res)
	}

	c := gobinance.NewClient(testKey, testSecret)
	c.BaseURL = s.URL()
	cr, err := c.NewCancelReplaceOrderService().Symbol("BTCUSDT").CancelReplaceMode(gobinance.CancelReplaceModeStopOnFailure).
		CancelOrigClientOrderID("gb-ws-1").Side(gobinance.SideTypeBuy).Type(gobinance.OrderTypeLimit).
		TimeInForce(gobinance.TimeInForceTypeGTC).Quantity("0.002").Price("59000").NewClientOrderID("gb-ws-2").Do(context.Background())
	if err != nil || cr.CancelResult != "SUCCESS" || cr.NewOrderResult != "SUCCESS" || cr.NewOrderResponse.ClientOrderID != "gb-ws-2" ||
		cr.CancelResponse.Status != gobinance.OrderStatusTypeCanceled {
		t.Fatalf("cancelReplace via go-binance REST: %v %+v", err, cr)
	}
}
