package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/strategy"
)

// haltableOrders is a strategy.Orders whose placements fail with the kill switch's error
// while halted is set.
type haltableOrders struct {
	halted bool
	placed []strategy.Intent
}

func (o *haltableOrders) Place(_ context.Context, in strategy.Intent) (adapters.Order, error) {
	if o.halted {
		return adapters.Order{}, &killswitch.HaltedError{Reason: killswitch.Reason{Why: "test"}}
	}
	o.placed = append(o.placed, in)
	return adapters.Order{ClientOrderID: "id" + string(rune('a'+len(o.placed)))}, nil
}
func (o *haltableOrders) Cancel(context.Context, string, string) error { return nil }
func (o *haltableOrders) Open() []adapters.Order                       { return nil }

// TestHaltIsNotAStrategyError: while halted the market maker neither fails every quote nor
// floods the log; it says so once and quotes again when trading resumes.
func TestHaltIsNotAStrategyError(t *testing.T) {
	orders := &haltableOrders{halted: true}
	var logs syncbuf.Buffer
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.New(&logs), Orders: orders, Market: nopMarket{}},
		Config{Symbol: "BTCUSDT", Quantity: decimal.RequireFromString("0.001"), SpreadBps: 10, RequoteBps: 5})
	if err != nil {
		t.Fatal(err)
	}
	quote := strategy.Quote{Symbol: "BTCUSDT", BidPrice: decimal.NewFromInt(100), AskPrice: decimal.NewFromInt(101), Time: time.Unix(1, 0)}
	for range 10 {
		if err := mm.OnEvent(context.Background(), quote); err != nil {
			t.Fatalf("a quote while halted returned %v", err)
		}
	}
	if n := strings.Count(logs.String(), "kill switch tripped"); n != 1 {
		t.Fatalf("the halt was logged %d times in 10 quotes, want once:\n%s", n, logs.String())
	}
	orders.halted = false
	if err := mm.OnEvent(context.Background(), quote); err != nil || len(orders.placed) != 2 {
		t.Fatalf("after resume: err %v, %d placed, want both sides", err, len(orders.placed))
	}
	if !strings.Contains(logs.String(), "quoting again") {
		t.Fatal("the resume was not logged")
	}
}

// nopMarket is a strategy.Market with nothing in it.
type nopMarket struct{}

func (nopMarket) Subscribe(...string)                    {}
func (nopMarket) Quote(string) (strategy.Quote, bool)    { return strategy.Quote{}, false }
func (nopMarket) Book(string, int) (adapters.Book, bool) { return adapters.Book{}, false }
func (nopMarket) Symbol(context.Context, string) (adapters.SymbolInfo, error) {
	return adapters.SymbolInfo{}, nil
}
func (nopMarket) Fees(context.Context, string) (adapters.TradingFees, error) {
	return adapters.TradingFees{}, nil
}
