package main

import (
	"context"
	"fmt"
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

// fakeOrders is a strategy.Orders that records placements and cancels, and refuses
// placements with the kill switch's error while halted is set.
type fakeOrders struct {
	halted    bool
	placed    []strategy.Intent
	cancelled []string
}

func (o *fakeOrders) Place(_ context.Context, in strategy.Intent) (adapters.Order, error) {
	if o.halted {
		return adapters.Order{}, &killswitch.HaltedError{Reason: killswitch.Reason{Why: "test"}}
	}
	o.placed = append(o.placed, in)
	return adapters.Order{ClientOrderID: fmt.Sprintf("q%d", len(o.placed))}, nil
}
func (o *fakeOrders) Cancel(_ context.Context, _, id string) error {
	o.cancelled = append(o.cancelled, id)
	return nil
}
func (o *fakeOrders) Open() []adapters.Order { return nil }

// TestHaltIsNotAStrategyError: while halted the market maker neither fails every quote nor
// floods the log; it says so once and quotes again when trading resumes.
func TestHaltIsNotAStrategyError(t *testing.T) {
	orders := &fakeOrders{halted: true}
	var logs syncbuf.Buffer
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.New(&logs), Orders: orders, Market: nopMarket{}},
		Config{Symbol: "BTCUSDT", Quantity: decimal.RequireFromString("0.001"), SpreadBps: 10, RequoteBps: 5})
	if err != nil {
		t.Fatal(err)
	}
	quote := strategy.Quote{Symbol: "BTCUSDT", BidPrice: decimal.NewFromInt(100), AskPrice: decimal.NewFromInt(101),
		BidQty: decimal.NewFromInt(1), AskQty: decimal.NewFromInt(1), Time: time.Unix(1, 0)}
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

// TestStaleDataPullsQuotes: a stale-data signal cancels both resting quotes and no quote is
// placed on the (old) prices that keep coming until the data is fresh again.
func TestStaleDataPullsQuotes(t *testing.T) {
	orders := &fakeOrders{}
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.Nop(), Orders: orders, Market: nopMarket{}},
		Config{Symbol: "BTCUSDT", Quantity: decimal.RequireFromString("0.001"), SpreadBps: 10, RequoteBps: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	quote := strategy.Quote{Symbol: "BTCUSDT", BidPrice: decimal.NewFromInt(100), AskPrice: decimal.NewFromInt(101),
		BidQty: decimal.NewFromInt(1), AskQty: decimal.NewFromInt(1), Time: time.Unix(1, 0)}
	if err := mm.OnEvent(ctx, quote); err != nil || len(orders.placed) != 2 {
		t.Fatalf("first quote: err %v, placed %d", err, len(orders.placed))
	}
	if err := mm.OnEvent(ctx, strategy.DataStatus{Symbol: "BTCUSDT", Stale: true, Reason: "stream down"}); err != nil {
		t.Fatal(err)
	}
	if len(orders.cancelled) != 2 {
		t.Fatalf("stale data cancelled %d quotes, want both", len(orders.cancelled))
	}
	moved := quote
	moved.BidPrice, moved.AskPrice = decimal.NewFromInt(200), decimal.NewFromInt(201)
	if err := mm.OnEvent(ctx, moved); err != nil || len(orders.placed) != 2 {
		t.Fatalf("a quote while stale placed %d orders in all (err %v), want none new", len(orders.placed), err)
	}
	if err := mm.OnEvent(ctx, strategy.DataStatus{Symbol: "BTCUSDT"}); err != nil {
		t.Fatal(err)
	}
	if err := mm.OnEvent(ctx, moved); err != nil || len(orders.placed) != 4 {
		t.Fatalf("fresh again: placed %d in all (err %v), want both sides again", len(orders.placed), err)
	}
}

// TestInsaneQuotesAreNeverTraded: a quote with an empty side, an all-zero quote and a crossed
// one place nothing and do not panic (a zero mid used to divide by zero).
func TestInsaneQuotesAreNeverTraded(t *testing.T) {
	orders := &fakeOrders{}
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.Nop(), Orders: orders, Market: nopMarket{}},
		Config{Symbol: "BTCUSDT", Quantity: decimal.RequireFromString("0.001"), SpreadBps: 10, RequoteBps: 5})
	if err != nil {
		t.Fatal(err)
	}
	one, d := decimal.NewFromInt(1), decimal.RequireFromString
	for name, q := range map[string]strategy.Quote{
		"zero bid": {BidPrice: d("0"), BidQty: d("0"), AskPrice: d("100"), AskQty: one},
		"all zero": {},
		"crossed":  {BidPrice: d("101"), BidQty: one, AskPrice: d("100"), AskQty: one},
		"locked":   {BidPrice: d("100"), BidQty: one, AskPrice: d("100"), AskQty: one},
		"no size":  {BidPrice: d("99"), BidQty: d("0"), AskPrice: d("100"), AskQty: one},
	} {
		q.Symbol, q.Time = "BTCUSDT", time.Unix(1, 0)
		if err := mm.OnEvent(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(orders.placed) != 0 {
			t.Fatalf("%s: placed %+v", name, orders.placed)
		}
	}
}
