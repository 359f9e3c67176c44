package bybit

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// The fuzz targets run their seed corpora (testdata/fuzz/<Name>/, the docs' examples and
// hostile variants) as unit tests in the normal suite; `go test -fuzz=FuzzParseOrders
// ./adapters/bybit/` explores further. Each checks that a hostile answer becomes
// ErrMalformedAnswer (or, for a symbol missing from a list, errNoSuchSymbol), never a panic,
// and that what is accepted is sane.

func checkMalformed(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrMalformedAnswer) && !errors.Is(err, errNoSuchSymbol) {
		t.Fatalf("error is neither ErrMalformedAnswer nor errNoSuchSymbol: %v", err)
	}
}

func checkDecimal(t *testing.T, field string, d decimal.Decimal) {
	t.Helper()
	if len(d.String()) > 64 {
		t.Fatalf("%s: accepted a decimal of %d characters", field, len(d.String()))
	}
}

// result is the envelope's result of body, or body itself when it is no envelope (the
// parsers see results).
func result(body []byte) json.RawMessage {
	if e, err := parseEnvelope(body); err == nil && len(e.Result) > 0 {
		return e.Result
	}
	return body
}

func FuzzParseOrders(f *testing.F) {
	f.Add([]byte(`{"list":[{"orderId":"1","orderLinkId":"a","symbol":"BTCUSDT","price":"1e9","qty":"1","side":"Buy","orderStatus":"New","cumExecQty":"0","cumExecValue":"0","timeInForce":"GTC","orderType":"Limit","createdTime":"1","updatedTime":"1"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := parseOrderList(result(body))
		checkMalformed(t, err)
		for _, x := range l.List {
			o, err := x.toOrder()
			checkMalformed(t, err)
			if err != nil {
				continue
			}
			if o.ExchangeOrderID == "" || o.Symbol == "" || (o.Side != adapters.Buy && o.Side != adapters.Sell) || o.Status == "" {
				t.Fatalf("accepted %+v", o)
			}
			for name, d := range map[string]decimal.Decimal{"price": o.Price, "qty": o.Quantity, "executed": o.ExecutedQty, "quote": o.CumulativeQuote} {
				checkDecimal(t, name, d)
				if d.IsNegative() {
					t.Fatalf("accepted a negative %s: %+v", name, o)
				}
			}
			if o.ExecutedQty.GreaterThan(o.Quantity) {
				t.Fatalf("accepted executed > qty: %+v", o)
			}
		}
	})
}

func FuzzParseExecutions(f *testing.F) {
	f.Add([]byte(`{"list":[{"symbol":"BTCUSDT","orderId":"1","side":"Sell","execId":"x","execPrice":"-1","execQty":"1","execValue":"1","execFee":"-0.1","feeCurrency":"USDT","execTime":"1","execType":"Trade","isMaker":true}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var l executionList
		if err := decode("execution list", result(body), &l); err != nil {
			checkMalformed(t, err)
			return
		}
		for _, e := range l.List {
			fl, err := e.toFill()
			checkMalformed(t, err)
			if err == nil && (fl.Price.IsNegative() || fl.Quantity.IsNegative() || fl.TradeID < 0) {
				t.Fatalf("accepted %+v", fl)
			}
		}
	})
}

func FuzzParseInstruments(f *testing.F) {
	f.Add([]byte(`{"list":[{"symbol":"BTCUSDT","baseCoin":"BTC","quoteCoin":"USDT","status":"Trading","lotSizeFilter":{"basePrecision":"0"},"priceFilter":{"tickSize":"0.1"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		syms, err := parseInstruments(result(body))
		checkMalformed(t, err)
		for _, s := range syms {
			if !s.TickSize.IsPositive() || !s.StepSize.IsPositive() || s.MinQty.IsNegative() || s.MinNotional.IsNegative() {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}

func FuzzParseMarketData(f *testing.F) {
	f.Add([]byte(`{"list":[{"symbol":"BTCUSDT","lastPrice":"0","bid1Price":"2","bid1Size":"1","ask1Price":"1","ask1Size":"1"}]}`))
	f.Add([]byte(`{"s":"BTCUSDT","b":[["1","1"],["2","1"]],"a":[["3","1"]],"u":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := result(body)
		if tk, err := parseLastPrice(r, "BTCUSDT"); err == nil && !tk.Price.IsPositive() {
			t.Fatalf("accepted %+v", tk)
		} else {
			checkMalformed(t, err)
		}
		if bt, err := parseBookTicker(r, "BTCUSDT"); err == nil && bt.BidPrice.IsPositive() && bt.AskPrice.IsPositive() && bt.AskPrice.LessThan(bt.BidPrice) {
			t.Fatalf("accepted a crossed book ticker %+v", bt)
		} else {
			checkMalformed(t, err)
		}
		b, err := parseOrderbook(r, "BTCUSDT")
		checkMalformed(t, err)
		if err == nil {
			for i := 1; i < len(b.Bids); i++ {
				if !b.Bids[i].Price.LessThan(b.Bids[i-1].Price) {
					t.Fatal("accepted unsorted bids")
				}
			}
			if len(b.Bids) > 0 && len(b.Asks) > 0 && !b.Asks[0].Price.GreaterThan(b.Bids[0].Price) {
				t.Fatal("accepted a crossed book")
			}
		}
	})
}

func FuzzParseAccount(f *testing.F) {
	f.Add([]byte(`{"list":[{"coin":[{"coin":"BTC","walletBalance":"-1","locked":"2"}]}]}`))
	f.Add([]byte(`{"readOnly":7,"permissions":{"Spot":["SpotTrade"]}}`))
	f.Add([]byte(`{"list":[{"symbol":"BTCUSDT","takerFeeRate":"2","makerFeeRate":"-0.0001"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := result(body)
		bs, err := parseWallet(r)
		checkMalformed(t, err)
		for _, b := range bs {
			if b.Asset == "" || b.Free.IsNegative() || b.Locked.IsNegative() {
				t.Fatalf("accepted %+v", b)
			}
		}
		a, err := parseAPIKeyInfo(r)
		checkMalformed(t, err)
		if err == nil && a.CanTrade && !a.Permitted("SPOT") {
			t.Fatalf("accepted %+v", a)
		}
		fees, err := parseFeeRate(r, "BTCUSDT")
		checkMalformed(t, err)
		if err == nil && (fees.Standard.Taker.IsNegative() || fees.Standard.Taker.GreaterThan(decimal.NewFromInt(1))) {
			t.Fatalf("accepted %+v", fees)
		}
	})
}

// FuzzAnswer: any status, headers and body classify without panicking; a success is only
// ever a 200 with retCode 0, and a wait is never negative nor beyond the bounds.
func FuzzAnswer(f *testing.F) {
	f.Add(200, "", "", []byte(`{"retCode":0,"retMsg":"OK","result":{},"retExtInfo":{},"time":1}`))
	f.Add(200, "20", "1700000000750", []byte(`{"retCode":10006,"retMsg":"Too many visits!","result":{},"retExtInfo":{},"time":1700000000000}`))
	f.Add(403, "", "", []byte(`access too frequent`))
	f.Fuzz(func(t *testing.T, status int, limit, reset string, body []byte) {
		sch, _ := scheduler.New(scheduler.Config{Windows: SchedulerWindows(), Buckets: SchedulerBuckets()})
		defer sch.Close()
		c, err := New(Config{BaseURL: "http://127.0.0.1:1"}, sch)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("X-Bapi-Limit", limit)
		h.Set("X-Bapi-Limit-Status", "0")
		h.Set("X-Bapi-Limit-Reset-Timestamp", reset)
		for _, write := range []bool{false, true} {
			var out scheduler.Outcome
			c.classifyAnswer(rest.Answer{Endpoint: epCreate.path, Method: epCreate.method, Status: status, Header: h, Body: body, Write: write, Now: time.Now()}, &out)
			if out.Class == scheduler.ClassNone && out.Err == nil && status != 200 {
				t.Fatalf("status %d classified a success", status)
			}
			if out.RetryAfter < 0 || out.RetryAfter > maxLimitWait && !out.Ban {
				t.Fatalf("wait %v", out.RetryAfter)
			}
			for _, u := range out.Usage {
				if u.Used < 0 {
					t.Fatalf("usage %+v", u)
				}
			}
		}
	})
}
