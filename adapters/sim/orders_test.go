package sim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

type orderJSON struct {
	Symbol              string
	OrderID             int64
	OrderListID         int64
	ClientOrderID       string
	OrigClientOrderID   string
	TransactTime        int64
	Price, OrigQty      string
	ExecutedQty         string
	CummulativeQuoteQty string
	Status, Type, Side  string
	TimeInForce         string
	Fills               []struct {
		Price, Qty, Commission, CommissionAsset string
		TradeID                                 int64
	}
}

// fixedPrice pins BTCUSDT at 65000 by making the walk too slow to move during a test.
func fixedPrice(c *sim.Config) { c.WalkInterval = 1000 * time.Hour }

func balance(t *testing.T, h *harness, asset string) (string, string) {
	t.Helper()
	free, locked, err := h.s.Balance(testKey, asset)
	if err != nil {
		t.Fatal(err)
	}
	return free, locked
}

func TestLimitOrderRestsThenFillsWhenPriceCrosses(t *testing.T) {
	h := newHarness(t, fixedPrice)
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.01", "price", "64000.00", "newClientOrderId", "buy-1"))
	var o orderJSON
	r.json(t, &o)
	if r.status != 200 || o.Status != "NEW" || o.ClientOrderID != "buy-1" || o.OrderListID != -1 || o.Fills == nil {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	if f, l := balance(t, h, "USDT"); f != "99360.00000000" || l != "640.00000000" {
		t.Fatalf("USDT after placing: free %s locked %s", f, l)
	}
	var open []orderJSON
	h.signed(http.MethodGet, "/api/v3/openOrders", vals("symbol", "BTCUSDT")).json(t, &open)
	if len(open) != 1 || open[0].ClientOrderID != "buy-1" {
		t.Fatalf("openOrders %+v", open)
	}
	// The price falls through the limit: the order fills at its limit price, as the maker.
	if r := h.do(http.MethodPost, "/sim/price", "", `{"symbol":"BTCUSDT","price":"63990.00"}`, nil); r.status != 200 {
		t.Fatalf("/sim/price: %d %s", r.status, r.body)
	}
	h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "buy-1")).json(t, &o)
	if o.Status != "FILLED" || o.ExecutedQty != "0.01000000" || o.CummulativeQuoteQty != "640.00000000" {
		t.Fatalf("after cross: %+v", o)
	}
	if f, l := balance(t, h, "USDT"); f != "99360.00000000" || l != "0.00000000" {
		t.Fatalf("USDT after fill: free %s locked %s", f, l)
	}
	if f, _ := balance(t, h, "BTC"); f != "2.00999000" { // 0.01 less 0.1% commission
		t.Fatalf("BTC after fill: %s", f)
	}
	var trades []struct {
		ID, OrderID                             int64
		Price, Qty, Commission, CommissionAsset string
		IsBuyer, IsMaker                        bool
	}
	h.signed(http.MethodGet, "/api/v3/myTrades", vals("symbol", "BTCUSDT")).json(t, &trades)
	if len(trades) != 1 || trades[0].Price != "64000.00000000" || trades[0].Commission != "0.00001000" ||
		trades[0].CommissionAsset != "BTC" || !trades[0].IsBuyer || !trades[0].IsMaker || trades[0].OrderID != o.OrderID {
		t.Fatalf("myTrades %+v", trades)
	}
	// Cancelling a finished order is -2011.
	wantCode(t, h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "buy-1")),
		400, -2011, "Unknown order sent.")
}

func TestMarketOrderFillsAtOnce(t *testing.T) {
	h := newHarness(t, fixedPrice)
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "SELL", "type", "MARKET", "quantity", "0.5"))
	var o orderJSON
	r.json(t, &o)
	if o.Status != "FILLED" || o.Type != "MARKET" || o.Price != "0.00000000" || len(o.Fills) != 1 ||
		o.Fills[0].Price != "65000.00000000" || o.Fills[0].Commission != "32.50000000" || o.Fills[0].CommissionAsset != "USDT" {
		t.Fatalf("market sell: %s", r.body)
	}
	if len(o.ClientOrderID) != 22 {
		t.Fatalf("generated clientOrderId %q", o.ClientOrderID)
	}
	if f, _ := balance(t, h, "USDT"); f != "132467.50000000" { // 100000 + 32500 - 32.5
		t.Fatalf("USDT %s", f)
	}
	if f, _ := balance(t, h, "BTC"); f != "1.50000000" {
		t.Fatalf("BTC %s", f)
	}
	// quoteOrderQty buys as much as 1000 USDT can, on the step grid.
	r = h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET", "quoteOrderQty", "1000"))
	r.json(t, &o)
	if o.Status != "FILLED" || o.ExecutedQty != "0.01538000" {
		t.Fatalf("quoteOrderQty: %s", r.body)
	}
}

func TestCrossingLimitTakesAtMarket(t *testing.T) {
	h := newHarness(t, fixedPrice)
	var o orderJSON
	h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.01", "price", "66000")).json(t, &o)
	if o.Status != "FILLED" || o.Fills[0].Price != "65000.00000000" {
		t.Fatalf("%+v", o)
	}
	if f, l := balance(t, h, "USDT"); f != "99350.00000000" || l != "0.00000000" {
		t.Fatalf("USDT free %s locked %s", f, l)
	}
	// IOC that does not cross expires; LIMIT_MAKER that would cross is rejected.
	h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "IOC", "quantity", "0.01", "price", "60000")).json(t, &o)
	if o.Status != "EXPIRED" {
		t.Fatalf("IOC: %+v", o)
	}
	wantCode(t, h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "SELL", "type", "LIMIT_MAKER",
		"quantity", "0.01", "price", "60000")), 400, -2010, "Order would immediately match and take.")
}

func TestNewOrderRespTypes(t *testing.T) {
	h := newHarness(t, fixedPrice)
	for _, tc := range []struct {
		typ, resp string
		keys      []string
		absent    []string
	}{
		{"ACK", "ACK", []string{"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}, []string{"status", "fills"}},
		{"RESULT", "RESULT", []string{"status", "executedQty", "cummulativeQuoteQty", "workingTime", "selfTradePreventionMode"}, []string{"fills"}},
		{"FULL", "FULL", []string{"status", "fills"}, nil},
		{"default for MARKET", "", []string{"fills"}, nil},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			v := vals("symbol", "ETHUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.01")
			if tc.resp != "" {
				v.Set("newOrderRespType", tc.resp)
			}
			var m map[string]any
			h.signed(http.MethodPost, "/api/v3/order", v).json(t, &m)
			for _, k := range tc.keys {
				if _, ok := m[k]; !ok {
					t.Fatalf("%s missing in %v", k, m)
				}
			}
			for _, k := range tc.absent {
				if _, ok := m[k]; ok {
					t.Fatalf("%s present in %v", k, m)
				}
			}
		})
	}
}

func TestDuplicateClientOrderID(t *testing.T) {
	h := newHarness(t, fixedPrice)
	place := func() resp {
		return h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
			"timeInForce", "GTC", "quantity", "0.001", "price", "60000", "newClientOrderId", "dup"))
	}
	if r := place(); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	wantCode(t, place(), 400, -2010, "Duplicate order sent.")
	var c orderJSON
	r := h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "dup", "newClientOrderId", "cxl-1"))
	r.json(t, &c)
	if c.Status != "CANCELED" || c.OrigClientOrderID != "dup" || c.ClientOrderID != "cxl-1" {
		t.Fatalf("cancel: %s", r.body)
	}
	if f, l := balance(t, h, "USDT"); f != "100000.00000000" || l != "0.00000000" {
		t.Fatalf("funds not released: %s %s", f, l)
	}
	// Once the first is no longer live, the id may be reused.
	if r := place(); r.status != 200 {
		t.Fatalf("reuse: %d %s", r.status, r.body)
	}
	if n := len(h.s.Orders()); n != 2 {
		t.Fatalf("orders %d", n)
	}
}

func TestOrderErrors(t *testing.T) {
	h := newHarness(t, fixedPrice)
	base := func(kv ...string) func() resp {
		return func() resp {
			v := vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "GTC", "quantity", "0.001", "price", "60000")
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] == "" {
					v.Del(kv[i])
				} else {
					v.Set(kv[i], kv[i+1])
				}
			}
			return h.signed(http.MethodPost, "/api/v3/order", v)
		}
	}
	for _, tc := range []struct {
		name string
		send func() resp
		code int
		msg  string
	}{
		{"price off tick", base("price", "60000.001"), -1013, "Filter failure: PRICE_FILTER"},
		{"price over max", base("price", "2000000"), -1013, "Filter failure: PRICE_FILTER"},
		{"quantity off step", base("quantity", "0.000015"), -1013, "Filter failure: LOT_SIZE"},
		{"quantity below min", base("quantity", "0.000001"), -1013, "Filter failure: LOT_SIZE"},
		{"zero quantity", base("quantity", "0"), -1013, "Filter failure: LOT_SIZE"},
		{"notional too small", base("quantity", "0.00001", "price", "100"), -1013, "Filter failure: NOTIONAL"},
		{"insufficient balance", base("quantity", "10"), -2010, "Account has insufficient balance for requested action."},
		{"invalid symbol", base("symbol", "NOPE"), -1121, "Invalid symbol."},
		{"missing side", base("side", ""), -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed."},
		{"invalid side", base("side", "HOLD"), -1117, "Invalid side."},
		{"invalid type", base("type", "FANCY"), -1116, "Invalid orderType."},
		{"stop orders unsupported", base("type", "STOP_LOSS"), -2010, "Stop loss orders are not supported for this symbol."},
		{"invalid timeInForce", base("timeInForce", "DAY"), -1115, "Invalid timeInForce."},
		{"LIMIT without price", base("price", ""), -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."},
		{"MARKET with price", base("type", "MARKET", "timeInForce", ""), -1106, "Parameter 'price' sent when not required."},
		{"MARKET with timeInForce", base("type", "MARKET", "price", ""), -1106, "Parameter 'timeInForce' sent when not required."},
		{"MARKET without quantity", base("type", "MARKET", "price", "", "timeInForce", "", "quantity", ""), -1102,
			"Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"},
		{"illegal price", base("price", "6e4"), -1100, "Illegal characters found in parameter 'price'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'."},
		{"negative quantity", base("quantity", "-1"), -1100, ""},
		{"too much precision", base("quantity", "0.000000001"), -1111, "Parameter 'quantity' has too much precision."},
		{"bad client id", base("newClientOrderId", "has space"), -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'."},
		{"client id too long", base("newClientOrderId", "0123456789012345678901234567890123456"), -1100, ""},
		{"unknown parameter", base("colour", "red"), -1104, "Not all sent parameters were read; read '8' parameter(s) but was sent '9'."},
		{"bad newOrderRespType", base("newOrderRespType", "ALL"), -1130, "Data sent for parameter 'newOrderRespType' is not valid."},
		{"iceberg unsupported", base("icebergQty", "0.0001"), -1014, "Unsupported order combination."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.send()
			wantCode(t, r, http.StatusBadRequest, tc.code, tc.msg)
		})
	}
	if n := len(h.s.Orders()); n != 0 {
		t.Fatalf("rejected orders were booked: %d", n)
	}
}

func TestQueryAndCancelErrors(t *testing.T) {
	h := newHarness(t, fixedPrice)
	wantCode(t, h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "ghost")), 400, -2013, "Order does not exist.")
	wantCode(t, h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "orderId", "99")), 400, -2013, "Order does not exist.")
	wantCode(t, h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "orderId", "99")), 400, -2011, "Unknown order sent.")
	wantCode(t, h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT")), 400, -1102,
		"Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
	wantCode(t, h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "orderId", "x1")), 400, -1100, "")
	wantCode(t, h.signed(http.MethodDelete, "/api/v3/openOrders", vals("symbol", "BTCUSDT")), 400, -2011, "Unknown order sent.")
	var o orderJSON
	h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "60000", "newClientOrderId", "q1")).json(t, &o)
	wantCode(t, h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "orderId", "1", "origClientOrderId", "other")),
		400, -2039, "Client order ID is not correct for this order ID.")
	var got orderJSON
	h.signed(http.MethodGet, "/api/v3/order", vals("symbol", "BTCUSDT", "orderId", "1", "origClientOrderId", "q1")).json(t, &got)
	if got.OrderID != o.OrderID || got.Status != "NEW" {
		t.Fatalf("%+v", got)
	}
	h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "SELL", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "70000", "newClientOrderId", "q2"))
	var cancelled []orderJSON
	h.signed(http.MethodDelete, "/api/v3/openOrders", vals("symbol", "BTCUSDT")).json(t, &cancelled)
	if len(cancelled) != 2 || cancelled[0].Status != "CANCELED" || cancelled[1].OrigClientOrderID != "q2" {
		t.Fatalf("cancel all: %+v", cancelled)
	}
	var all []orderJSON
	h.signed(http.MethodGet, "/api/v3/allOrders", vals("symbol", "BTCUSDT")).json(t, &all)
	if len(all) != 2 {
		t.Fatalf("allOrders %+v", all)
	}
}

func TestPublicMarketData(t *testing.T) {
	h := newHarness(t, fixedPrice)
	var tp struct{ Symbol, Price string }
	h.get("/api/v3/ticker/price", "symbol=BTCUSDT").json(t, &tp)
	if tp.Symbol != "BTCUSDT" || tp.Price != "65000.00000000" {
		t.Fatalf("ticker/price %+v", tp)
	}
	var all []struct{ Symbol, Price string }
	h.get("/api/v3/ticker/price", "").json(t, &all)
	if len(all) != 3 || all[2].Symbol != "DOGEUSDT" {
		t.Fatalf("all prices %+v", all)
	}
	var bt struct{ Symbol, BidPrice, BidQty, AskPrice, AskQty string }
	h.get("/api/v3/ticker/bookTicker", "symbol=BTCUSDT").json(t, &bt)
	if bt.BidPrice != "64999.99000000" || bt.AskPrice != "65000.01000000" || bt.BidQty == "" {
		t.Fatalf("bookTicker %+v", bt)
	}
	var d struct {
		LastUpdateID int64
		Bids, Asks   [][2]string
	}
	h.get("/api/v3/depth", "symbol=BTCUSDT&limit=5").json(t, &d)
	if len(d.Bids) != 5 || len(d.Asks) != 5 || d.Bids[0][0] != bt.BidPrice || d.Asks[0][0] != bt.AskPrice {
		t.Fatalf("depth %+v", d)
	}
	var info struct {
		Timezone string
		Symbols  []struct {
			Symbol  string
			Filters []map[string]any
		}
	}
	h.get("/api/v3/exchangeInfo", "symbol=DOGEUSDT").json(t, &info)
	if info.Timezone != "UTC" || len(info.Symbols) != 1 || info.Symbols[0].Filters[0]["tickSize"] != "0.00001000" ||
		info.Symbols[0].Filters[2]["filterType"] != "NOTIONAL" {
		t.Fatalf("exchangeInfo %+v", info)
	}
	for _, tc := range []struct {
		path, query string
		code        int
	}{
		{"/api/v3/depth", "", -1102},
		{"/api/v3/depth", "symbol=NOPE", -1121},
		{"/api/v3/depth", "symbol=BTCUSDT&limit=abc", -1100},
		{"/api/v3/depth", "symbol=BTCUSDT&limit=0", -1130},
		{"/api/v3/ticker/price", "symbol=BTCUSDT&symbols=[\"BTCUSDT\"]", -1128},
		{"/api/v3/ticker/price", "symbols=notjson", -1100},
		{"/api/v3/ticker/price", "symbol=BTCUSDT&symbol=ETHUSDT", -1101},
		{"/api/v3/ticker/price", "symbol=%zz", -1100},
		{"/api/v3/exchangeInfo", "symbols=[\"BTCUSDT\",\"NOPE\"]", -1121},
		{"/api/v3/userDataStream", "", -1020},
	} {
		r := h.get(tc.path, tc.query)
		if r.code() != tc.code || r.status < 400 || r.status >= 500 {
			t.Fatalf("%s?%s: %d %s, want code %d", tc.path, tc.query, r.status, r.body, tc.code)
		}
	}
}

func TestPriceWalkIsDeterministic(t *testing.T) {
	prices := func(seed int64) []string {
		h := newHarness(t, func(c *sim.Config) { c.Seed = seed })
		var out []string
		for i := 0; i < 5; i++ {
			h.clk.Advance(10 * time.Second)
			p, _ := h.s.Price("ETHUSDT")
			out = append(out, p)
		}
		return out
	}
	a, b, c := prices(3), prices(3), prices(4)
	moved := false
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different walk: %v vs %v", a, b)
		}
		moved = moved || a[i] != c[i]
	}
	if !moved || a[0] == "3200.00000000" && a[4] == "3200.00000000" {
		t.Fatalf("walk does not move or ignores the seed: %v %v", a, c)
	}
}

func TestAccountBalances(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Balances = map[string]string{"USDT": "500", "BTC": "0"} })
	var acct struct {
		MakerCommission int
		CanTrade        bool
		AccountType     string
		Balances        []struct{ Asset, Free, Locked string }
	}
	h.signed(http.MethodGet, "/api/v3/account", nil).json(t, &acct)
	if acct.MakerCommission != 10 || !acct.CanTrade || acct.AccountType != "SPOT" || len(acct.Balances) != 2 ||
		acct.Balances[1].Asset != "USDT" || acct.Balances[1].Free != "500.00000000" {
		t.Fatalf("account %+v", acct)
	}
	h.signed(http.MethodGet, "/api/v3/account", vals("omitZeroBalances", "true")).json(t, &acct)
	if len(acct.Balances) != 1 {
		t.Fatalf("omitZeroBalances %+v", acct.Balances)
	}
}
