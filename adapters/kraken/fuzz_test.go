package kraken

import (
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// The parsers and the classifier take whatever the network hands them: they must never
// panic, and what they accept must make sense.

func fuzzNames() *names {
	pairs := []byte(`{"error":[],"result":{"XBTUSDT":{"altname":"XBTUSDT","base":"XXBT","quote":"USDT","pair_decimals":2,"lot_decimals":5,"ordermin":"0.00001","costmin":"5","tick_size":"0.01","status":"online"}}}`)
	assets := []byte(`{"error":[],"result":{"XXBT":{"altname":"XBT"},"USDT":{"altname":"USDT"}}}`)
	n, err := parseNames(pairs, assets)
	if err != nil {
		panic(err)
	}
	return n
}

func FuzzParseOrders(f *testing.F) {
	f.Add([]byte(`{"error":[],"result":{"open":{"OQCLML-BW3P3-BUCMWZ":{"status":"open","opentm":1688666559.8974,"descr":{"pair":"XBTUSDT","type":"buy","ordertype":"limit","price":"30010.0"},"vol":"1.25000000","vol_exec":"0.37500000","cost":"11253.7","oflags":"fciq"}}}}`))
	f.Add([]byte(`{"error":[],"result":{"open":{"X":{"status":"closed","descr":{"pair":"XBTUSDT","type":"sell","ordertype":"market"},"vol":"1e400","vol_exec":"-1"}}}}`))
	n := fuzzNames()
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := parseOrderMap(body, "open")
		if err != nil {
			return
		}
		for txid, ko := range m {
			o, err := ko.order(txid, n, func(s string) string { return s })
			if err != nil {
				continue
			}
			if !o.Quantity.IsPositive() || o.ExecutedQty.IsNegative() || o.ExecutedQty.GreaterThan(o.Quantity) {
				t.Fatalf("accepted %+v", o)
			}
		}
	})
}

func FuzzParseMarket(f *testing.F) {
	f.Add([]byte(`{"error":[],"result":{"XBTUSDT":{"a":["30300.10000","1","1.000"],"b":["30300.00000","1","1.000"],"c":["30303.20000","0.00067643"]}}}`))
	f.Add([]byte(`{"error":[],"result":{"XBTUSDT":{"asks":[["30384.10000","2.059",1688671659]],"bids":[["30297.00000","1.115",1688671636]]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if bt, err := parseBookTicker(body, "BTCUSDT"); err == nil && (bt.AskPrice.LessThan(bt.BidPrice) || !bt.BidPrice.IsPositive()) {
			t.Fatalf("accepted %+v", bt)
		}
		if tk, err := parseTicker(body, "BTCUSDT"); err == nil && !tk.Price.IsPositive() {
			t.Fatalf("accepted %+v", tk)
		}
		if b, err := parseDepth(body, "BTCUSDT"); err == nil && len(b.Bids) > 0 && len(b.Asks) > 0 && !b.Asks[0].Price.GreaterThan(b.Bids[0].Price) {
			t.Fatalf("accepted a crossed book %+v", b)
		}
		_, _ = parseBalances(body, fuzzNames())
		_, _, _ = parseTrades(body, fuzzNames().bySymbol["BTCUSDT"])
		_, _ = parseFees(body, fuzzNames().bySymbol["BTCUSDT"])
		_, _ = parseAddOrder(body)
		_, _, _ = parseCancel(body)
	})
}

func FuzzParseNames(f *testing.F) {
	f.Add([]byte(`{"error":[],"result":{"XBTUSDT":{"altname":"XBTUSDT","base":"XXBT","quote":"USDT","lot_decimals":5,"tick_size":"0.01"}}}`),
		[]byte(`{"error":[],"result":{"XXBT":{"altname":"XBT"},"USDT":{"altname":"USDT"}}}`))
	f.Fuzz(func(t *testing.T, pairs, assets []byte) {
		n, err := parseNames(pairs, assets)
		if err != nil {
			return
		}
		for _, s := range n.symbols {
			if !s.TickSize.IsPositive() || !s.StepSize.IsPositive() || s.MinQty.IsNegative() {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}

func FuzzClassify(f *testing.F) {
	f.Add(200, []byte(`{"error":["EService:Throttled: 1700000010"]}`))
	f.Add(200, []byte(`{"error":["EOrder:Rate limit exceeded"]}`))
	f.Add(503, []byte(`<html>`))
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var out scheduler.Outcome
		classify(rest.Answer{Status: status, Body: body, Write: true, Now: now}, &out, 15)
		if out.RetryAfter < 0 || out.RetryAfter > maxRetryAfter+time.Second {
			t.Fatalf("retry after %v", out.RetryAfter)
		}
		if status != 200 && out.Class == scheduler.ClassNone {
			t.Fatalf("status %d classified ok", status)
		}
	})
}
