package binance

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

const orderJSONDoc = `{"symbol":"LTCBTC","orderId":1,"orderListId":-1,"clientOrderId":"myOrder1","price":"0.1","origQty":"1.0","executedQty":"0.0","cummulativeQuoteQty":"0.0","status":"NEW","timeInForce":"GTC","type":"LIMIT","side":"BUY","stopPrice":"0.0","icebergQty":"0.0","time":1499827319559,"updateTime":1499827319559,"isWorking":true,"workingTime":1499827319559,"origQuoteOrderQty":"0.000000","selfTradePreventionMode":"NONE"}`

const cancelJSONDoc = `{"symbol":"LTCBTC","origClientOrderId":"myOrder1","orderId":4,"orderListId":-1,"clientOrderId":"cancelMyOrder1","transactTime":1684804350068,"price":"2.00000000","origQty":"1.00000000","executedQty":"0.00000000","origQuoteOrderQty":"0.000000","cummulativeQuoteQty":"0.00000000","status":"CANCELED","timeInForce":"GTC","type":"LIMIT","side":"BUY","selfTradePreventionMode":"NONE"}`

const exchangeInfoDoc = `{"timezone":"UTC","serverTime":1565246363776,"rateLimits":[
 {"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000},
 {"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50},
 {"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":160000},
 {"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":300000}],
 "exchangeFilters":[],"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
 "filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
 {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
 {"filterType":"ICEBERG_PARTS","limit":10},
 {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
 {"filterType":"MAX_NUM_ORDERS","maxNumOrders":200}]}]}`

func TestParseOrder(t *testing.T) {
	o, err := parseOrder([]byte(orderJSONDoc))
	if err != nil {
		t.Fatal(err)
	}
	want := adapters.Order{Symbol: "LTCBTC", ClientOrderID: "myOrder1", ExchangeOrderID: "1", Side: adapters.Buy,
		Type: adapters.Limit, TimeInForce: adapters.GTC, Status: adapters.StatusNew}
	if o.Symbol != want.Symbol || o.ClientOrderID != want.ClientOrderID || o.ExchangeOrderID != want.ExchangeOrderID ||
		o.Side != want.Side || o.Type != want.Type || o.TimeInForce != want.TimeInForce || o.Status != want.Status {
		t.Fatalf("got %+v", o)
	}
	if o.Price.String() != "0.1" || o.Quantity.String() != "1" || !o.ExecutedQty.IsZero() {
		t.Fatalf("decimals: %s %s %s", o.Price, o.Quantity, o.ExecutedQty)
	}
	if !o.CreatedAt.Equal(time.UnixMilli(1499827319559)) {
		t.Fatalf("created %v", o.CreatedAt)
	}

	c, err := parseCancel([]byte(cancelJSONDoc))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClientOrderID != "myOrder1" || c.Status != adapters.StatusCanceled || !c.UpdatedAt.Equal(time.UnixMilli(1684804350068)) {
		t.Fatalf("cancel: %+v", c)
	}
}

func TestParseOrderRejectsHostileAnswers(t *testing.T) {
	tests := map[string]string{
		"not json":          `<html>502 Bad Gateway</html>`,
		"empty":             ``,
		"array":             `[]`,
		"missing orderId":   `{"symbol":"X","clientOrderId":"a","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"missing status":    `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","type":"LIMIT","side":"BUY"}`,
		"unknown status":    `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"WAT","type":"LIMIT","side":"BUY"}`,
		"price as number":   `{"symbol":"X","orderId":1,"clientOrderId":"a","price":1,"origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"huge exponent":     `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1e999999999","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"NaN price":         `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"NaN","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"Infinity qty":      `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1","origQty":"Infinity","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"negative qty":      `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1","origQty":"-1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"orderId overflow":  `{"symbol":"X","orderId":99999999999999999999999,"clientOrderId":"a","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"long decimal":      `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1000000000000000000000000000000000000000000000000000000000000000000000","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"side wrong":        `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"HOLD"}`,
		"two dots":          `{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1.2.3","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`,
		"control in symbol": "{\"symbol\":\"X\\u0000\",\"orderId\":1,\"clientOrderId\":\"a\",\"price\":\"1\",\"origQty\":\"1\",\"executedQty\":\"0\",\"cummulativeQuoteQty\":\"0\",\"status\":\"NEW\",\"type\":\"LIMIT\",\"side\":\"BUY\"}",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseOrder([]byte(body)); !errors.Is(err, ErrMalformedAnswer) {
				t.Fatalf("got %v, want ErrMalformedAnswer", err)
			}
		})
	}
}

func TestParseExchangeInfo(t *testing.T) {
	info, err := parseExchangeInfo([]byte(exchangeInfoDoc))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := info.Symbol("BTCUSDT")
	if !ok || s.TickSize.String() != "0.01" || s.StepSize.String() != "0.00001" || s.MinNotional.String() != "5" ||
		s.MaxPrice.String() != "1000000" || s.MinQty.String() != "0.00001" || s.BaseAsset != "BTC" || s.QuoteAsset != "USDT" {
		t.Fatalf("symbol: %+v", s)
	}
	want := map[string]adapters.RateLimit{
		WindowRequestWeight: {Window: WindowRequestWeight, Kind: "REQUEST_WEIGHT", Interval: time.Minute, Limit: 6000},
		WindowOrders10s:     {Window: WindowOrders10s, Kind: "ORDERS", Interval: 10 * time.Second, Limit: 50},
		WindowOrders1d:      {Window: WindowOrders1d, Kind: "ORDERS", Interval: 24 * time.Hour, Limit: 160000},
		WindowRawRequests:   {Window: WindowRawRequests, Kind: "RAW_REQUESTS", Interval: 5 * time.Minute, Limit: 300000},
	}
	if len(info.RateLimits) != len(want) {
		t.Fatalf("rate limits: %+v", info.RateLimits)
	}
	for _, l := range info.RateLimits {
		if want[l.Window] != l {
			t.Errorf("got %+v, want %+v", l, want[l.Window])
		}
	}
}

// A simulator running 60 times faster announces shorter windows; they still map by rank.
func TestRateLimitsScaledWindows(t *testing.T) {
	limits, err := parseRateLimits([]rateLimitJSON{
		{"ORDERS", "DAY", 1, 160000}, // listed out of order on purpose
		{"REQUEST_WEIGHT", "SECOND", 1, 6000},
		{"ORDERS", "MINUTE", 24, 160000},
		{"RAW_REQUESTS", "SECOND", 5, 300000},
		{"ORDERS", "SECOND", 1, 50},
		{"SOMETHING_NEW", "SECOND", 1, 1},
		{"ORDERS", "FORTNIGHT", 1, 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Duration{}
	for _, l := range limits {
		got[l.Window] = l.Interval
	}
	// Three ORDERS windows do not match the adapter's two: they keep interval names.
	want := map[string]time.Duration{
		WindowRequestWeight: time.Second, WindowRawRequests: 5 * time.Second,
		"ORDERS_1S": time.Second, "ORDERS_24M": 24 * time.Minute, "ORDERS_1D": 24 * time.Hour,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for w, d := range want {
		if got[w] != d {
			t.Errorf("%s: got %v, want %v", w, got[w], d)
		}
	}

	two, _ := parseRateLimits([]rateLimitJSON{{"ORDERS", "MINUTE", 24, 160000}, {"ORDERS", "SECOND", 1, 50}})
	for _, l := range two {
		if (l.Interval == time.Second) != (l.Window == WindowOrders10s) {
			t.Errorf("rank mapping: %+v", l)
		}
	}
}

func TestParseDepthSortsAndValidates(t *testing.T) {
	b, err := parseDepth([]byte(`{"lastUpdateId":7,"bids":[["1.0","2"],["3.0","1"]],"asks":[["5","1"],["4","1"]]}`), "X")
	if err != nil {
		t.Fatal(err)
	}
	if b.Bids[0].Price.String() != "3" || b.Asks[0].Price.String() != "4" || b.Symbol != "X" || b.LastUpdateID != 7 {
		t.Fatalf("%+v", b)
	}
	for _, bad := range []string{`{"bids":[],"asks":[]}`, `{"lastUpdateId":1,"bids":[["1"]],"asks":[]}`, `{"lastUpdateId":1,"bids":[[1,2]],"asks":[]}`} {
		if _, err := parseDepth([]byte(bad), "X"); !errors.Is(err, ErrMalformedAnswer) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		body string
		code int
		msg  string
		ok   bool
	}{
		{`{"code":-1121,"msg":"Invalid symbol."}`, -1121, "Invalid symbol.", true},
		{`{"code":-2013,"msg":"Order does not exist."}`, -2013, "Order does not exist.", true},
		{`{"code":"-1121","msg":"x"}`, 0, "", false},
		{`{"msg":"x"}`, 0, "", false},
		{`{"code":5,"msg":"x"}`, 0, "", false},
		{`<html>`, 0, "", false},
		{"{\"code\":-1,\"msg\":\"a\\nb\"}", -1, "a b", true},
	}
	for _, tt := range tests {
		code, msg, ok := parseError([]byte(tt.body))
		if code != tt.code || msg != tt.msg || ok != tt.ok {
			t.Errorf("%s: got %d %q %v", tt.body, code, msg, ok)
		}
	}
}

func TestParseAccountAndTrades(t *testing.T) {
	bs, err := parseAccount([]byte(`{"makerCommission":15,"balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"}]}`))
	if err != nil || len(bs) != 1 || bs[0].Free.String() != "4723846.89208129" {
		t.Fatalf("%v %+v", err, bs)
	}
	if _, err := parseAccount([]byte(`{}`)); !errors.Is(err, ErrMalformedAnswer) {
		t.Fatalf("missing balances: %v", err)
	}
	fs, err := parseTrades([]byte(`[{"symbol":"BNBBTC","id":28457,"orderId":100234,"orderListId":-1,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","commission":"10.10000000","commissionAsset":"BNB","time":1499865549590,"isBuyer":true,"isMaker":false,"isBestMatch":true}]`))
	if err != nil || len(fs) != 1 || fs[0].TradeID != 28457 || fs[0].ExchangeOrderID != "100234" || !fs[0].IsBuyer {
		t.Fatalf("%v %+v", err, fs)
	}
}

func TestRetryAfterAndBan(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for v, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "0.5": 500 * time.Millisecond, "-1": 0, "x": 0, "NaN": 0,
		"999999999": maxRetryAfter, now.Add(10 * time.Second).UTC().Format(http.TimeFormat): 10 * time.Second,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("%q: got %v, want %v", v, got, want)
		}
	}
	msg := "Way too much request weight used; IP banned until 1700000120000. Please use WebSocket Streams"
	if got := banUntil(msg, now); got != 2*time.Minute {
		t.Errorf("banUntil: %v", got)
	}
}

func TestIntervalSuffix(t *testing.T) {
	for d, s := range map[time.Duration]string{time.Minute: "1M", 10 * time.Second: "10S", 24 * time.Hour: "1D", 5 * time.Minute: "5M", time.Hour: "1H"} {
		if got := intervalSuffix(d); got != s {
			t.Errorf("%v: %s", d, got)
		}
		if back, ok := parseIntervalSuffix(s); !ok || back != d {
			t.Errorf("%s: %v", s, back)
		}
	}
}

// commissionDoc is rest-api.md's "Query Commission Rates" example.
const commissionDoc = `{"symbol":"BTCUSDT",
 "standardCommission":{"maker":"0.00000010","taker":"0.00000020","buyer":"0.00000030","seller":"0.00000040"},
 "specialCommission":{"maker":"0.01000000","taker":"0.02000000","buyer":"0.03000000","seller":"0.04000000"},
 "taxCommission":{"maker":"0.00000112","taker":"0.00000114","buyer":"0.00000118","seller":"0.00000116"},
 "discount":{"enabledForAccount":true,"enabledForSymbol":true,"discountAsset":"BNB","discount":"0.75000000"}}`

// accountDoc is rest-api.md's "Account information" example.
const accountDoc = `{"makerCommission":15,"takerCommission":15,"buyerCommission":0,"sellerCommission":0,
 "commissionRates":{"maker":"0.00150000","taker":"0.00150000","buyer":"0.00000000","seller":"0.00000000"},
 "canTrade":true,"canWithdraw":true,"canDeposit":true,"brokered":false,"requireSelfTradePrevention":false,
 "preventSor":false,"updateTime":123456789,"accountType":"SPOT",
 "balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"},{"asset":"LTC","free":"4763368.68006011","locked":"0.00000000"}],
 "permissions":["SPOT"],"uid":354937868}`

func TestParseCommission(t *testing.T) {
	f, err := parseCommission([]byte(commissionDoc), "BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	d := decimal.RequireFromString
	want := adapters.TradingFees{Symbol: "BTCUSDT",
		Standard: adapters.CommissionRates{Maker: d("0.0000001"), Taker: d("0.0000002"), Buyer: d("0.0000003"), Seller: d("0.0000004")},
		Special:  adapters.CommissionRates{Maker: d("0.01"), Taker: d("0.02"), Buyer: d("0.03"), Seller: d("0.04")},
		Tax:      adapters.CommissionRates{Maker: d("0.00000112"), Taker: d("0.00000114"), Buyer: d("0.00000118"), Seller: d("0.00000116")},
		Discount: adapters.FeeDiscount{EnabledForAccount: true, EnabledForSymbol: true, Asset: "BNB", Rate: d("0.75")}}
	same := func(a, b adapters.CommissionRates) bool {
		return a.Maker.Equal(b.Maker) && a.Taker.Equal(b.Taker) && a.Buyer.Equal(b.Buyer) && a.Seller.Equal(b.Seller)
	}
	if f.Symbol != want.Symbol || !same(f.Standard, want.Standard) || !same(f.Special, want.Special) || !same(f.Tax, want.Tax) ||
		f.Discount.Asset != "BNB" || !f.Discount.Applies() || !f.Discount.Rate.Equal(want.Discount.Rate) {
		t.Fatalf("got %+v", f)
	}
	// The commission FAQ's worked example: a taker SELL pays standard taker+seller, tax
	// taker+seller and special taker+seller on the notional.
	if got := f.Rate(false, adapters.Sell); !got.Equal(d("0.0000002").Add(d("0.0000004")).Add(d("0.0000023")).Add(d("0.06"))) {
		t.Fatalf("taker sell rate %s", got)
	}
	if got := f.Standard.Rate(true, adapters.Buy); !got.Equal(d("0.0000004")) {
		t.Fatalf("standard maker buy rate %s", got)
	}

	for name, body := range map[string]string{
		"other symbol":      strings.Replace(commissionDoc, `"BTCUSDT"`, `"ETHUSDT"`, 1),
		"no standard":       `{"symbol":"BTCUSDT","taxCommission":{"maker":"0","taker":"0","buyer":"0","seller":"0"}}`,
		"negative":          strings.Replace(commissionDoc, `"maker":"0.00000010"`, `"maker":"-0.1"`, 1),
		"above one":         strings.Replace(commissionDoc, `"taker":"0.02000000"`, `"taker":"1.5"`, 1),
		"exponent":          strings.Replace(commissionDoc, `"seller":"0.00000040"`, `"seller":"1e-9"`, 1),
		"number not string": strings.Replace(commissionDoc, `"maker":"0.00000010"`, `"maker":0.1`, 1),
		"discount above 1":  strings.Replace(commissionDoc, `"discount":"0.75000000"`, `"discount":"7.5"`, 1),
		"html":              `<html>502</html>`,
	} {
		if _, err := parseCommission([]byte(body), "BTCUSDT"); !errors.Is(err, ErrMalformedAnswer) {
			t.Errorf("%s: err %v, want ErrMalformedAnswer", name, err)
		}
	}
	// An answer from before specialCommission existed still reads.
	old := `{"symbol":"BTCUSDT","standardCommission":{"maker":"0.001","taker":"0.001","buyer":"0","seller":"0"},"taxCommission":{"maker":"0","taker":"0","buyer":"0","seller":"0"}}`
	if f, err := parseCommission([]byte(old), "BTCUSDT"); err != nil || !f.Special.Maker.IsZero() || f.Discount.Applies() {
		t.Fatalf("older answer: %+v %v", f, err)
	}
}

func TestParseAccountInfo(t *testing.T) {
	a, err := parseAccountInfo([]byte(accountDoc))
	if err != nil {
		t.Fatal(err)
	}
	if !a.CanTrade || !a.CanWithdraw || !a.CanDeposit || a.Type != "SPOT" || !a.Permitted("SPOT") || a.Permitted("MARGIN") ||
		!a.Commission.Taker.Equal(decimal.RequireFromString("0.0015")) || len(a.Balances) != 2 ||
		!a.UpdatedAt.Equal(time.UnixMilli(123456789)) {
		t.Fatalf("got %+v", a)
	}
	for name, body := range map[string]string{
		"no canTrade":     strings.Replace(accountDoc, `"canTrade":true,`, ``, 1),
		"canTrade string": strings.Replace(accountDoc, `"canTrade":true`, `"canTrade":"true"`, 1),
		"bad permission":  strings.Replace(accountDoc, `["SPOT"]`, `["SPOT\n"]`, 1),
		"bad type":        strings.Replace(accountDoc, `"accountType":"SPOT"`, `"accountType":"spot; drop"`, 1),
		"rate above one":  strings.Replace(accountDoc, `"maker":"0.00150000"`, `"maker":"15"`, 1),
		"no balances":     `{"canTrade":true,"canWithdraw":true,"canDeposit":true}`,
	} {
		if _, err := parseAccountInfo([]byte(body)); !errors.Is(err, ErrMalformedAnswer) {
			t.Errorf("%s: err %v, want ErrMalformedAnswer", name, err)
		}
	}
	// Balances alone still read the older, shorter answers.
	if bs, err := parseAccount([]byte(`{"balances":[{"asset":"BTC","free":"1","locked":"0"}]}`)); err != nil || len(bs) != 1 {
		t.Fatalf("balances: %v %v", bs, err)
	}
}
