package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/strategy"
)

// fakeOrders is a strategy.Orders that records placements and cancels. It answers with the
// errors the runtime's own packages return (so the strategy's checks against strategy's
// sentinels are checks against the real thing): the kill switch's while halted is set, an
// unknown outcome while unknown is set (the order recorded all the same, as it may be live),
// and "already filled" for cancels of ids in filled.
type fakeOrders struct {
	halted    bool
	unknown   bool
	filled    map[string]bool
	placed    []strategy.Intent
	cancelled []string
}

func (o *fakeOrders) Place(_ context.Context, in strategy.Intent) (adapters.Order, error) {
	if o.halted {
		return adapters.Order{}, &killswitch.HaltedError{Reason: killswitch.Reason{Why: "test"}}
	}
	o.placed = append(o.placed, in)
	placed := adapters.Order{ClientOrderID: fmt.Sprintf("q%d", len(o.placed)), Symbol: in.Symbol, Side: in.Side}
	if o.unknown {
		placed.Status = adapters.StatusUnknown
		return placed, &orders.UnknownOutcomeError{ClientOrderID: placed.ClientOrderID, Symbol: in.Symbol, Err: errors.New("timeout")}
	}
	return placed, nil
}
func (o *fakeOrders) Cancel(_ context.Context, symbol, id string) error {
	if o.filled[id] {
		return fmt.Errorf("orders: cancel %s on %s: already filled: %w", id, symbol, orders.ErrNotOpen)
	}
	o.cancelled = append(o.cancelled, id)
	return nil
}
func (o *fakeOrders) Open() []adapters.Order { return nil }

// TestHaltIsNotAStrategyError: while halted the market maker neither fails every quote nor
// floods the log; it says so once and quotes again when trading resumes.
func TestHaltIsNotAStrategyError(t *testing.T) {
	ords := &fakeOrders{halted: true}
	var logs syncbuf.Buffer
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.New(&logs), Orders: ords, Market: nopMarket{}},
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
	ords.halted = false
	if err := mm.OnEvent(context.Background(), quote); err != nil || len(ords.placed) != 2 {
		t.Fatalf("after resume: err %v, %d placed, want both sides", err, len(ords.placed))
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
func (nopMarket) Candles(context.Context, string, adapters.Interval, int) ([]strategy.Candle, error) {
	return nil, adapters.ErrNoCandles
}

// TestStaleDataPullsQuotes: a stale-data signal cancels both resting quotes and no quote is
// placed on the (old) prices that keep coming until the data is fresh again.
func TestStaleDataPullsQuotes(t *testing.T) {
	ords := &fakeOrders{}
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.Nop(), Orders: ords, Market: nopMarket{}},
		Config{Symbol: "BTCUSDT", Quantity: decimal.RequireFromString("0.001"), SpreadBps: 10, RequoteBps: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	quote := strategy.Quote{Symbol: "BTCUSDT", BidPrice: decimal.NewFromInt(100), AskPrice: decimal.NewFromInt(101),
		BidQty: decimal.NewFromInt(1), AskQty: decimal.NewFromInt(1), Time: time.Unix(1, 0)}
	if err := mm.OnEvent(ctx, quote); err != nil || len(ords.placed) != 2 {
		t.Fatalf("first quote: err %v, placed %d", err, len(ords.placed))
	}
	if err := mm.OnEvent(ctx, strategy.DataStatus{Symbol: "BTCUSDT", Stale: true, Reason: "stream down"}); err != nil {
		t.Fatal(err)
	}
	if len(ords.cancelled) != 2 {
		t.Fatalf("stale data cancelled %d quotes, want both", len(ords.cancelled))
	}
	moved := quote
	moved.BidPrice, moved.AskPrice = decimal.NewFromInt(200), decimal.NewFromInt(201)
	if err := mm.OnEvent(ctx, moved); err != nil || len(ords.placed) != 2 {
		t.Fatalf("a quote while stale placed %d orders in all (err %v), want none new", len(ords.placed), err)
	}
	if err := mm.OnEvent(ctx, strategy.DataStatus{Symbol: "BTCUSDT"}); err != nil {
		t.Fatal(err)
	}
	if err := mm.OnEvent(ctx, moved); err != nil || len(ords.placed) != 4 {
		t.Fatalf("fresh again: placed %d in all (err %v), want both sides again", len(ords.placed), err)
	}
}

// TestUnknownOutcomeCountsAsLive: a placement whose outcome is unknown may be resting, so the
// market maker neither fails nor places a second quote beside it; when the mid moves it
// cancels that order by its id before quoting again, and it quotes that side again once the
// order's update settles it. A cancel that finds its quote already filled is not an error.
func TestUnknownOutcomeCountsAsLive(t *testing.T) {
	ords := &fakeOrders{unknown: true, filled: map[string]bool{}}
	var logs syncbuf.Buffer
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.New(&logs), Orders: ords, Market: nopMarket{}},
		Config{Symbol: "BTCUSDT", Quantity: decimal.RequireFromString("0.001"), SpreadBps: 10, RequoteBps: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	quote := strategy.Quote{Symbol: "BTCUSDT", BidPrice: decimal.NewFromInt(100), AskPrice: decimal.NewFromInt(101),
		BidQty: decimal.NewFromInt(1), AskQty: decimal.NewFromInt(1), Time: time.Unix(1, 0)}
	if err := mm.OnEvent(ctx, quote); err != nil {
		t.Fatalf("unknown outcomes returned %v; they are the runtime's to settle", err)
	}
	if len(ords.placed) != 2 || !strings.Contains(logs.String(), "outcome unknown") {
		t.Fatalf("placed %d, log:\n%s", len(ords.placed), logs.String())
	}
	// The same prices again: both quotes count as resting, nothing new is placed.
	if err := mm.OnEvent(ctx, quote); err != nil || len(ords.placed) != 2 {
		t.Fatalf("a second quote placed %d in all (err %v), want the 2 possibly live ones only", len(ords.placed), err)
	}

	// The mid moves: the bid (q1) is cancelled by its id and replaced; the ask (q2) filled in
	// the meantime, which is no error, and no second ask is placed until its update arrives.
	ords.unknown = false
	ords.filled["q2"] = true
	moved := quote
	moved.BidPrice, moved.AskPrice, moved.Time = decimal.NewFromInt(200), decimal.NewFromInt(201), time.Unix(2, 0)
	if err := mm.OnEvent(ctx, moved); err != nil {
		t.Fatalf("requote: %v", err)
	}
	if len(ords.cancelled) != 1 || ords.cancelled[0] != "q1" || len(ords.placed) != 3 || ords.placed[2].Side != adapters.Buy {
		t.Fatalf("requote cancelled %v and placed %+v; want q1 cancelled and one new bid", ords.cancelled, ords.placed)
	}
	err = mm.OnEvent(ctx, strategy.OrderUpdate{Order: adapters.Order{ClientOrderID: "q2", Symbol: "BTCUSDT", Side: adapters.Sell,
		Status: adapters.StatusFilled}, Previous: adapters.StatusUnknown})
	if err != nil {
		t.Fatal(err)
	}
	if err := mm.OnEvent(ctx, moved); err != nil || len(ords.placed) != 4 || ords.placed[3].Side != adapters.Sell {
		t.Fatalf("after the ask's fill: placed %+v (err %v), want a new ask", ords.placed, err)
	}
}

// TestInsaneQuotesAreNeverTraded: a quote with an empty side, an all-zero quote and a crossed
// one place nothing and do not panic (a zero mid used to divide by zero).
func TestInsaneQuotesAreNeverTraded(t *testing.T) {
	ords := &fakeOrders{}
	mm, err := New(strategy.Env{Name: "mm", Log: zerolog.Nop(), Orders: ords, Market: nopMarket{}},
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
		if len(ords.placed) != 0 {
			t.Fatalf("%s: placed %+v", name, ords.placed)
		}
	}
}
