package paper_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/paper"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// live is a market-data-only exchange: a fixed book top; any account call fails the test.
type live struct {
	adapters.Exchange
	t        *testing.T
	bid, ask string
}

func (l *live) Name() string { return "live" }
func (l *live) ExchangeInfo(context.Context, ...adapters.CallOption) (adapters.ExchangeInfo, error) {
	return adapters.ExchangeInfo{Symbols: []adapters.SymbolInfo{{Symbol: "BTCUSDT", Status: "TRADING", BaseAsset: "BTC", QuoteAsset: "USDT"}}}, nil
}
func (l *live) BookTicker(_ context.Context, s string, _ ...adapters.CallOption) (adapters.BookTicker, error) {
	return adapters.BookTicker{Symbol: s, BidPrice: decimal.RequireFromString(l.bid), BidQty: decimal.NewFromInt(1),
		AskPrice: decimal.RequireFromString(l.ask), AskQty: decimal.NewFromInt(1)}, nil
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestPaperFillsAndRefusals(t *testing.T) {
	l := &live{t: t, bid: "99", ask: "101"}
	clk := clock.NewFake(time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC))
	ex := paper.New(l, paper.Config{Balances: map[string]decimal.Decimal{"USDT": d("1000")}, Commission: d("0.001"), Clock: clk})
	ctx := context.Background()
	req := func(id string, side adapters.Side, typ adapters.OrderType, qty, px string) adapters.OrderRequest {
		r := adapters.OrderRequest{Symbol: "BTCUSDT", Side: side, Type: typ, Quantity: d(qty), ClientOrderID: id}
		if px != "" {
			r.Price, r.TimeInForce = d(px), adapters.GTC
		}
		return r
	}
	// A resting buy locks its funds; a cancel gives them back.
	o, err := ex.PlaceOrder(ctx, req("a", adapters.Buy, adapters.Limit, "2", "95"))
	if err != nil || o.Status != adapters.StatusNew {
		t.Fatalf("rest: %v %+v", err, o)
	}
	bs, _ := ex.Balances(ctx)
	if bs[len(bs)-1].Asset != "USDT" || bs[len(bs)-1].Locked.String() != "190" || bs[len(bs)-1].Free.String() != "810" {
		t.Fatalf("after resting: %+v", bs)
	}
	if _, err := ex.CancelOrder(ctx, "BTCUSDT", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.CancelOrder(ctx, "BTCUSDT", "a"); !errors.Is(err, adapters.ErrOrderNotFound) {
		t.Fatalf("second cancel: %v", err)
	}
	// More than the balance: a validation refusal, nothing moves.
	if _, err := ex.PlaceOrder(ctx, req("b", adapters.Buy, adapters.Market, "10", "")); scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("over the balance: %v", err)
	}
	// A LIMIT_MAKER that would cross is refused; a duplicate id too.
	if _, err := ex.PlaceOrder(ctx, req("c", adapters.Buy, adapters.LimitMaker, "1", "101")); scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("crossing maker: %v", err)
	}
	// A crossing limit sell of what was bought fills at the bid.
	if o, err := ex.PlaceOrder(ctx, req("d", adapters.Buy, adapters.Limit, "1", "105")); err != nil || o.Status != adapters.StatusFilled || o.CumulativeQuote.String() != "101" {
		t.Fatalf("crossing buy fills at the ask 101: %v %+v", err, o)
	}
	if _, err := ex.PlaceOrder(ctx, req("d", adapters.Buy, adapters.Limit, "1", "105")); scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("duplicate id: %v", err)
	}
	// A resting sell fills when the bid rises to it, at its price, on the first look after the
	// last top read is stale (no stream here).
	if o, err := ex.PlaceOrder(ctx, req("e", adapters.Sell, adapters.Limit, "0.999", "110")); err != nil || o.Status != adapters.StatusNew {
		t.Fatalf("resting sell: %v %+v", err, o)
	}
	l.bid, l.ask = "111", "112"
	clk.Advance(6 * time.Second)
	open, _ := ex.OpenOrders(ctx, "")
	got, _ := ex.QueryOrder(ctx, "BTCUSDT", "e")
	if len(open) != 0 || got.Status != adapters.StatusFilled || got.CumulativeQuote.String() != "109.89" {
		t.Fatalf("after the bid rose: open %+v, order %+v", open, got)
	}
	// USDT: 1000 - 101 + 109.89 - 0.10989; BTC: 1 - 0.001 - 0.999 = 0.
	bs, _ = ex.Balances(ctx)
	if bs[0].Free.String() != "0" || bs[1].Free.String() != "1008.78011" {
		t.Fatalf("end balances %+v", bs)
	}
	fills, _ := ex.Trades(ctx, "BTCUSDT", 0)
	if len(fills) != 2 || !fills[1].IsMaker || fills[0].IsMaker {
		t.Fatalf("fills %+v", fills)
	}
}
