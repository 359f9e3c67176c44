package coinbase

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
)

// FuzzParsers: no answer makes a parser panic, and what they accept is sane.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{
		`{"iso":"2024-01-01T00:00:00Z","epochSeconds":"1704067200","epochMillis":"1704067200000"}`,
		`{"pricebook":{"bids":[{"price":"1.5","size":"2"}],"asks":[{"price":"1.6","size":"1"}]}}`,
		`{"products":[{"product_id":"BTC-USD","base_increment":"0.00000001","quote_increment":"0.01","status":"online"}]}`,
		`{"accounts":[{"currency":"BTC","available_balance":{"value":"1"},"hold":{"value":"0"}}],"has_next":false}`,
		`{"success":false,"error_response":{"error":"INSUFFICIENT_FUND"}}`,
		`{"results":[{"success":false,"failure_reason":"UNKNOWN_CANCEL_ORDER"}]}`,
		`{"candles":[{"start":"1704067200","low":"1","high":"2","open":"1.5","close":"1.8","volume":"3"}]}`,
		`<html><body>429</body></html>`, ``, `null`, `{"pricebook":{"bids":[{"price":"2","size":"1"}],"asks":[{"price":"1","size":"1"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseServerTime(b)
		if book, err := parseBook(b, "X"); err == nil && len(book.Bids) > 0 && len(book.Asks) > 0 && !book.Asks[0].Price.GreaterThan(book.Bids[0].Price) {
			t.Fatal("a crossed book accepted")
		}
		if ps, err := parseProducts(b); err == nil {
			for _, p := range ps {
				if si, err := p.info(); err == nil && (!si.TickSize.IsPositive() || !si.StepSize.IsPositive()) {
					t.Fatal("a product without increments accepted")
				}
			}
		}
		if bs, _, err := parseAccounts(b); err == nil {
			for _, x := range bs {
				if x.Free.IsNegative() || x.Locked.IsNegative() {
					t.Fatal("a negative balance accepted")
				}
			}
		}
		if a, err := parseCreate(b); err == nil {
			a.failure()
		}
		_, _ = parseCancel(b)
		if cs, err := parseCandles(b); err == nil {
			for _, c := range cs {
				if c.Low.GreaterThan(c.High) || c.Close.GreaterThan(c.High) || c.Open.LessThan(c.Low) {
					t.Fatalf("a candle outside its range accepted: %+v", c)
				}
			}
		}
		if m := gatewayMessage(b); strings.Contains(strings.ToLower(m), "<html") {
			t.Fatal("an HTML page reached a message")
		}
	})
}

// FuzzStreamMessages: no WebSocket message makes the market stream or the user channel's
// order parser panic; a book only ever holds positive quantities at positive prices.
func FuzzStreamMessages(f *testing.F) {
	for _, s := range []string{
		`{"channel":"l2_data","timestamp":"2024-01-01T00:00:00Z","sequence_num":0,"events":[{"type":"snapshot","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2024-01-01T00:00:00Z","price_level":"1.5","new_quantity":"2"},{"side":"offer","price_level":"1.6","new_quantity":"1"}]}]}`,
		`{"channel":"l2_data","sequence_num":1,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","price_level":"1.5","new_quantity":"0"}]}]}`,
		`{"channel":"market_trades","sequence_num":2,"events":[{"type":"update","trades":[{"trade_id":"7","product_id":"BTC-USD","price":"1.55","size":"0.1","side":"SELL","time":"2024-01-01T00:00:00Z"}]}]}`,
		`{"channel":"ticker","sequence_num":3,"events":[{"type":"update","tickers":[{"product_id":"BTC-USD","price":"1.55","best_bid":"1.5","best_ask":"1.6"}]}]}`,
		`{"channel":"candles","sequence_num":4,"events":[{"type":"update","candles":[{"start":"1704067200","open":"1","high":"2","low":"1","close":"2","volume":"3","product_id":"BTC-USD"}]}]}`,
		`{"type":"error","message":"authentication failure"}`, `{"channel":"heartbeats","sequence_num":9}`, ``, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &MarketStream{h: adapters.MarketHandler{}, opts: StreamOptions{OnTicker: func(TickerEvent) {}, OnCandle: func(CandleEvent) {}},
			symbols: []string{"BTCUSD"}, books: map[string]*adapters.OrderBook{"BTCUSD": adapters.NewOrderBook("BTCUSD")},
			bySym: map[string]string{"BTC-USD": "BTCUSD"}, l2id: map[string]int64{}}
		m.h.OnTrade = func(tr adapters.Trade) {
			if !tr.Price.IsPositive() || tr.Quantity.IsNegative() {
				t.Fatalf("trade %+v", tr)
			}
		}
		m.books["BTCUSD"].Resync()
		_ = m.onMessage(b)
		book := m.books["BTCUSD"].Levels(0)
		for _, l := range append(book.Bids, book.Asks...) {
			if !l.Price.IsPositive() || !l.Quantity.IsPositive() {
				t.Fatalf("a book level %+v", l)
			}
		}
		var ev struct {
			Events []struct {
				Orders []wsUserOrder `json:"orders"`
			} `json:"events"`
		}
		if json.Unmarshal(b, &ev) == nil {
			for _, e := range ev.Events {
				for _, o := range e.Orders {
					if ord, err := o.toOrder("BTCUSD", time.Time{}); err == nil && (ord.Quantity.IsNegative() || ord.ExecutedQty.IsNegative()) {
						t.Fatalf("order %+v", ord)
					}
				}
			}
		}
	})
}
