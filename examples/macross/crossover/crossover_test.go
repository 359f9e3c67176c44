package crossover

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/strategy"
)

func closes(vs ...int64) []strategy.Candle {
	out := make([]strategy.Candle, len(vs))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, v := range vs {
		out[i] = strategy.Candle{Symbol: "BTCUSDT", Interval: "1m", OpenTime: t0.Add(time.Duration(i) * time.Minute),
			Close: decimal.NewFromInt(v), Closed: true}
	}
	return out
}

// TestSignal: fast 2, slow 4 over hand-checkable closes.
func TestSignal(t *testing.T) {
	for _, tc := range []struct {
		closes []int64
		want   adapters.Side
	}{
		// before: fast (10+10)/2=10 <= slow (10+10+10+10)/4=10; now: fast (10+14)/2=12 > slow 11
		{[]int64{10, 10, 10, 10, 14}, adapters.Buy},
		// before: fast 12 >= slow 11; now: fast (14+6)/2=10 equals slow (10+10+14+6)/4=10: no cross
		{[]int64{10, 10, 10, 14, 6}, ""},
		{[]int64{10, 10, 10, 14, 4}, adapters.Sell}, // fast 9 < slow 9.5
		{[]int64{10, 11, 12, 13, 14}, ""},           // rising all along: fast stays above
		{[]int64{10, 10, 10, 14}, ""},               // too short
	} {
		if got := Signal(closes(tc.closes...), 2, 4); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.closes, got, tc.want)
		}
	}
}

type fakeMarket struct {
	strategy.Market
	cs []strategy.Candle
}

func (m *fakeMarket) Candles(_ context.Context, _ string, _ adapters.Interval, n int) ([]strategy.Candle, error) {
	return m.cs[max(0, len(m.cs)-n):], nil
}

type fakePortfolio struct{ free decimal.Decimal }

func (p fakePortfolio) Balance(asset string) adapters.Balance {
	return adapters.Balance{Asset: asset, Free: p.free}
}
func (fakePortfolio) Balances() []adapters.Balance      { return nil }
func (fakePortfolio) Account() (adapters.Account, bool) { return adapters.Account{}, false }
func (fakePortfolio) Position(string) strategy.Position { return strategy.Position{} }
func (fakePortfolio) PnL() strategy.PnL                 { return strategy.PnL{} }

type fakeOrders struct {
	strategy.Orders
	placed []strategy.Intent
}

func (o *fakeOrders) Place(_ context.Context, in strategy.Intent) (adapters.Order, error) {
	o.placed = append(o.placed, in)
	return adapters.Order{Symbol: in.Symbol, Side: in.Side, Status: adapters.StatusFilled}, nil
}

// TestTradesOnCrossesOnly: a cross up buys once, a second cross up while long buys nothing,
// a cross down sells.
func TestTradesOnCrossesOnly(t *testing.T) {
	m, o := &fakeMarket{}, &fakeOrders{}
	cfg := Config{Symbol: "BTCUSDT", Fast: 2, Slow: 4, Quantity: decimal.RequireFromString("0.5")}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, _ := New(strategy.Env{Market: m, Orders: o, Portfolio: fakePortfolio{decimal.RequireFromString("0.4995")}}, cfg)
	ctx := context.Background()
	step := func(vs ...int64) {
		t.Helper()
		m.cs = closes(vs...)
		if err := s.OnEvent(ctx, m.cs[len(m.cs)-1]); err != nil {
			t.Fatal(err)
		}
	}
	step(10, 10, 10, 10, 14) // cross up: buy
	step(10, 10, 10, 10, 14) // the same again: already long
	step(10, 10, 10, 14, 4)  // cross down: sell
	step(10, 10, 10, 14, 4)  // flat: a cross down sells nothing
	// The sell is what the account holds after the buy's commission, not the configured 0.5.
	if len(o.placed) != 2 || o.placed[0].Side != adapters.Buy || o.placed[1].Side != adapters.Sell ||
		o.placed[0].Type != adapters.Market || !o.placed[0].Quantity.Equal(cfg.Quantity) || o.placed[1].Quantity.String() != "0.4995" {
		t.Fatalf("placed %+v", o.placed)
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, c := range []Config{
		{Quantity: decimal.NewFromInt(1)},
		{Symbol: "BTCUSDT", Interval: "2m", Quantity: decimal.NewFromInt(1)},
		{Symbol: "BTCUSDT", Fast: 20, Slow: 5, Quantity: decimal.NewFromInt(1)},
		{Symbol: "BTCUSDT"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
