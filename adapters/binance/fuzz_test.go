package binance

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// The fuzz targets run their seed corpora (testdata/fuzz/<Name>/) as unit tests in the
// normal suite; `go test -fuzz=FuzzParseOrder ./adapters/binance/` explores further. Each
// checks that a hostile answer becomes ErrMalformedAnswer (never a panic) and that what is
// accepted is sane.

func checkDecimal(t *testing.T, field string, d decimal.Decimal) {
	t.Helper()
	if s := d.String(); len(s) > 2*maxDecimalLen {
		t.Fatalf("%s: accepted a decimal of %d characters", field, len(s))
	}
}

func checkMalformed(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrMalformedAnswer) {
		t.Fatalf("error is not ErrMalformedAnswer: %v", err)
	}
}

func checkOrder(t *testing.T, o adapters.Order) {
	t.Helper()
	if o.ClientOrderID == "" || o.Symbol == "" || o.ExchangeOrderID == "" {
		t.Fatalf("accepted an order without ids: %+v", o)
	}
	if _, ok := map[adapters.OrderStatus]bool{adapters.StatusNew: true, adapters.StatusPartiallyFilled: true,
		adapters.StatusFilled: true, adapters.StatusCanceled: true, adapters.StatusRejected: true, adapters.StatusExpired: true}[o.Status]; !ok {
		t.Fatalf("accepted status %q", o.Status)
	}
	if o.Side != adapters.Buy && o.Side != adapters.Sell {
		t.Fatalf("accepted side %q", o.Side)
	}
	for name, d := range map[string]decimal.Decimal{"price": o.Price, "qty": o.Quantity, "executed": o.ExecutedQty, "quote": o.CumulativeQuote} {
		checkDecimal(t, name, d)
	}
	if o.Price.IsNegative() || o.Quantity.IsNegative() || o.ExecutedQty.IsNegative() {
		t.Fatalf("accepted a negative amount: %+v", o)
	}
}

func FuzzParseOrder(f *testing.F) {
	f.Add([]byte(orderJSONSeed))
	f.Add([]byte(`{"symbol":"X","orderId":1,"clientOrderId":"a","price":"1e9999999","origQty":"1","executedQty":"0","cummulativeQuoteQty":"0","status":"NEW","type":"LIMIT","side":"BUY"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, parse := range []func([]byte) (adapters.Order, error){parseOrder, parseCancel} {
			o, err := parse(body)
			checkMalformed(t, err)
			if err == nil {
				checkOrder(t, o)
			}
		}
		os, err := parseOrders(body)
		checkMalformed(t, err)
		for _, o := range os {
			checkOrder(t, o)
		}
		os, err = parseCancelAll(body)
		checkMalformed(t, err)
		for _, o := range os {
			checkOrder(t, o)
		}
	})
}

const orderJSONSeed = `{"symbol":"LTCBTC","orderId":1,"orderListId":-1,"clientOrderId":"myOrder1","price":"0.1","origQty":"1.0","executedQty":"0.0","cummulativeQuoteQty":"0.0","status":"NEW","timeInForce":"GTC","type":"LIMIT","side":"BUY","time":1499827319559,"updateTime":1499827319559}`

func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"code":-1121,"msg":"Invalid symbol."}`))
	f.Add([]byte(`{"code":-2013,"msg":"Order does not exist."}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, msg, ok := parseError(body)
		if !ok {
			if code != 0 || msg != "" {
				t.Fatalf("not ok but code %d msg %q", code, msg)
			}
			return
		}
		if code > 0 || code < -99999 {
			t.Fatalf("code %d out of range", code)
		}
		if len(msg) > maxMessageLen+len("…") || !utf8.ValidString(msg) {
			t.Fatalf("message not cleaned: %d bytes", len(msg))
		}
		for _, r := range msg {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character %U in message", r)
			}
		}
		// Classification is total.
		for _, status := range []int{200, 400, 401, 403, 418, 429, 500, 503} {
			for _, write := range []bool{false, true} {
				c, _ := classify(status, code, write)
				if status >= 400 && c == scheduler.ClassNone {
					t.Fatalf("status %d code %d classified ok", status, code)
				}
			}
		}
	})
}

func FuzzParseExchangeInfo(f *testing.F) {
	f.Add([]byte(exchangeInfoSeed))
	f.Fuzz(func(t *testing.T, body []byte) {
		info, err := parseExchangeInfo(body)
		checkMalformed(t, err)
		if err != nil {
			return
		}
		for _, s := range info.Symbols {
			if s.Symbol == "" || s.Status == "" {
				t.Fatalf("symbol without name or status: %+v", s)
			}
			for name, d := range map[string]decimal.Decimal{"tick": s.TickSize, "step": s.StepSize, "minNotional": s.MinNotional,
				"minPrice": s.MinPrice, "maxPrice": s.MaxPrice, "minQty": s.MinQty, "maxQty": s.MaxQty, "maxNotional": s.MaxNotional} {
				checkDecimal(t, name, d)
				if d.IsNegative() {
					t.Fatalf("%s negative", name)
				}
			}
		}
		for _, l := range info.RateLimits {
			if l.Window == "" || l.Interval <= 0 || l.Limit < 1 || l.Limit > maxLimit {
				t.Fatalf("bad rate limit accepted: %+v", l)
			}
		}
	})
}

const exchangeInfoSeed = `{"timezone":"UTC","serverTime":1565246363776,"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000},{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50},{"rateLimitType":"ORDERS","interval":"DAY","intervalNum":1,"limit":160000},{"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":300000}],"exchangeFilters":[],"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01","maxPrice":"1000000.00","tickSize":"0.01"},{"filterType":"LOT_SIZE","minQty":"0.00001","maxQty":"9000","stepSize":"0.00001"},{"filterType":"NOTIONAL","minNotional":"5","applyMinToMarket":true,"maxNotional":"9000000","applyMaxToMarket":false,"avgPriceMins":5}]}]}`

func FuzzParseMarketData(f *testing.F) {
	f.Add([]byte(`{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}`))
	f.Add([]byte(`{"symbol":"LTCBTC","bidPrice":"4.00000000","bidQty":"431.00000000","askPrice":"4.00000200","askQty":"9.00000000"}`))
	f.Add([]byte(`{"symbol":"LTCBTC","price":"4.00000200"}`))
	f.Add([]byte(`{"serverTime":1499827319559}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := parseDepth(body, "X")
		checkMalformed(t, err)
		if err == nil {
			if len(b.Bids) > maxBookLevels || len(b.Asks) > maxBookLevels {
				t.Fatal("too many levels accepted")
			}
			for i := 1; i < len(b.Bids); i++ {
				if b.Bids[i].Price.GreaterThan(b.Bids[i-1].Price) {
					t.Fatal("bids unsorted")
				}
			}
		}
		bt, err := parseBookTicker(body)
		checkMalformed(t, err)
		if err == nil {
			checkDecimal(t, "bid", bt.BidPrice)
		}
		tk, err := parseTicker(body)
		checkMalformed(t, err)
		if err == nil {
			checkDecimal(t, "price", tk.Price)
		}
		_, err = parseServerTime(body)
		checkMalformed(t, err)
	})
}

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(`{"makerCommission":15,"canTrade":true,"balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"}],"permissions":["SPOT"]}`))
	f.Add([]byte(`[{"symbol":"BNBBTC","id":28457,"orderId":100234,"orderListId":-1,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","commission":"10.10000000","commissionAsset":"BNB","time":1499865549590,"isBuyer":true,"isMaker":false,"isBestMatch":true}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		bs, err := parseAccount(body)
		checkMalformed(t, err)
		for _, b := range bs {
			if b.Asset == "" || b.Free.IsNegative() || b.Locked.IsNegative() {
				t.Fatalf("bad balance accepted: %+v", b)
			}
		}
		a, err := parseAccountInfo(body)
		checkMalformed(t, err)
		if err == nil {
			checkRates(t, "account", a.Commission)
			if len(a.Permissions) > maxPermissions {
				t.Fatalf("%d permissions accepted", len(a.Permissions))
			}
			for _, p := range a.Permissions {
				if !isIdent(p, 64) {
					t.Fatalf("permission %q accepted", p)
				}
			}
		}
		fs, err := parseTrades(body)
		checkMalformed(t, err)
		for _, x := range fs {
			if x.Symbol == "" || x.ExchangeOrderID == "" || x.Price.IsNegative() || x.Quantity.IsNegative() {
				t.Fatalf("bad fill accepted: %+v", x)
			}
		}
	})
}

func checkRates(t *testing.T, what string, r adapters.CommissionRates) {
	t.Helper()
	for _, d := range []decimal.Decimal{r.Maker, r.Taker, r.Buyer, r.Seller} {
		checkDecimal(t, what, d)
		if d.IsNegative() || d.GreaterThan(one) {
			t.Fatalf("%s: rate %s accepted", what, d)
		}
	}
}

// FuzzParseCommission: GET /api/v3/account/commission. What is accepted is for the symbol
// asked for, with every rate and the discount in [0, 1].
func FuzzParseCommission(f *testing.F) {
	f.Add([]byte(`{"symbol":"BTCUSDT","standardCommission":{"maker":"0.00000010","taker":"0.00000020","buyer":"0.00000030","seller":"0.00000040"},"specialCommission":{"maker":"0.01000000","taker":"0.02000000","buyer":"0.03000000","seller":"0.04000000"},"taxCommission":{"maker":"0.00000112","taker":"0.00000114","buyer":"0.00000118","seller":"0.00000116"},"discount":{"enabledForAccount":true,"enabledForSymbol":true,"discountAsset":"BNB","discount":"0.75000000"}}`))
	f.Add([]byte(`{"symbol":"BTCUSDT","standardCommission":{"maker":"NaN","taker":"Infinity","buyer":"1e400","seller":"-0"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fees, err := parseCommission(body, "BTCUSDT")
		checkMalformed(t, err)
		if err != nil {
			return
		}
		if fees.Symbol != "BTCUSDT" {
			t.Fatalf("fees for %q accepted", fees.Symbol)
		}
		checkRates(t, "standard", fees.Standard)
		checkRates(t, "tax", fees.Tax)
		checkRates(t, "special", fees.Special)
		checkDecimal(t, "discount", fees.Discount.Rate)
		if fees.Discount.Rate.IsNegative() || fees.Discount.Rate.GreaterThan(one) {
			t.Fatalf("discount %s accepted", fees.Discount.Rate)
		}
	})
}

// roundTrip answers every request with a canned response.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzAnswer feeds an arbitrary HTTP answer (status, headers, body) to one attempt of a
// write and of a read, and checks the outcome is classified as the table says: an
// unreadable 2xx is unknown for a write and transient for a read; an error status never
// passes as success; usage and Retry-After stay in range.
func FuzzAnswer(f *testing.F) {
	f.Add(200, "X-MBX-USED-WEIGHT-1M: 12\nX-MBX-ORDER-COUNT-10S: 1", []byte(orderJSONSeed))
	f.Add(429, "Retry-After: 7\nX-MBX-USED-WEIGHT-1M: 6001", []byte(`{"code":-1003,"msg":"Too much request weight used"}`))
	f.Add(418, "", []byte(`{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000120000."}`))
	f.Add(503, "", []byte(`{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}`))
	f.Add(200, "", []byte(`{"symbol":"LTCBTC","orderId":1`))
	f.Fuzz(func(t *testing.T, status int, headers string, body []byte) {
		if status < 100 || status > 999 {
			status = 200 + (status%800+800)%800
		}
		h := http.Header{}
		for _, line := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		c, err := New(Config{BaseURL: "http://exchange.invalid", APIKey: "k", APISecret: "s", RecvWindow: 5000, Timeout: time.Second},
			attemptOnce{}, WithHTTPClient(&http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(string(body))), Request: r}, nil
			})}))
		if err != nil {
			t.Fatal(err)
		}
		c.intervals = map[string]time.Duration{WindowRequestWeight: time.Minute, WindowOrders10s: 10 * time.Second}
		now := time.Now()
		c.time.Record(now, now, now)
		for _, ep := range []endpoint{epNewOrder, epQueryOrder} {
			var parsed bool
			o, _ := c.do(context.Background(), call{ep: ep, params: params{{"symbol", "X"}},
				parse: func(b []byte) error { _, err := parseOrder(b); parsed = err == nil; return err }})
			switch {
			case status >= 200 && status < 300 && parsed:
				if o.Class != scheduler.ClassNone {
					t.Fatalf("a readable %d answer classified %s", status, o.Class)
				}
			case status >= 200 && status < 300:
				want := scheduler.ClassTransient
				if ep.write {
					want = scheduler.ClassUnknown
				}
				if o.Class != want || !errors.Is(o.Err, ErrMalformedAnswer) {
					t.Fatalf("an unreadable %d answer: class %s err %v", status, o.Class, o.Err)
				}
			case status >= 400 && o.Class == scheduler.ClassNone:
				t.Fatalf("status %d classified ok", status)
			}
			if o.RetryAfter < 0 || o.RetryAfter > maxRetryAfter {
				t.Fatalf("Retry-After %v out of range", o.RetryAfter)
			}
			for _, u := range o.Usage {
				if u.Used < 0 || u.Window == "" {
					t.Fatalf("bad usage %+v", u)
				}
			}
		}
	})
}

// attemptOnce is a scheduler that runs one attempt and returns its outcome as is.
type attemptOnce struct{}

func (attemptOnce) Do(ctx context.Context, r *scheduler.Request) (scheduler.Outcome, error) {
	return r.Attempt(ctx, 1), nil
}
