package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// Replay makes one symbol's price follow recorded candles instead of the seeded random walk
// (`keel sim --replay file.csv`, and the backtest's matching engine). Each candle becomes four
// public trades a quarter of its length apart: open, then low and high (high first when the
// candle closed below its open), then close — the usual path assumed from OHLC alone, which
// fills a resting order whenever the candle's range reaches it. The candle's volume is split
// evenly among the four trades (on the step grid, the remainder on the close), so the
// simulator's own klines of the replayed interval repeat the file's open, high, low, close and
// volume (their trade count is 4). Prices are rounded to the symbol's tick. After the last
// candle the price stays at its close and nothing trades.
//
// With Trades, the recorded trades are the path instead: each is one public trade at its own
// time, price and quantity, so a resting order fills only when a recorded trade reached its
// price, and the simulator's klines are those trades aggregated (as Binance's are). Candles
// may then be empty; when given, they only place the path in time (Start stands for the
// first candle's open, as without trades).
type Replay struct {
	Symbol  string
	Candles []adapters.Candle
	// Trades, in time order, replace the four points per candle (see above).
	Trades []ReplayTrade
	// Start is the server time at which the first candle opens; zero: when the server starts.
	// With Config.TimeScale the file runs that many times faster (at 60, a file minute lasts
	// a second).
	Start time.Time
}

// ReplayTrade is one recorded public trade (a row of Binance's trades file).
type ReplayTrade struct {
	Time       time.Time
	Price, Qty decimal.Decimal
	// BuyerMaker: the taker sold (Binance's isBuyerMaker).
	BuyerMaker bool
}

// replayPath is a market's replay state. Guarded by s.mu with the market.
type replayPath struct {
	candles []adapters.Candle
	trades  []ReplayTrade
	start   time.Time // server time of origin()
	scale   float64
	next    int // the next path point: candle next/4, point next%4; or trade next
}

// origin is the file time the replay's start stands for: the first candle's open, or
// without candles the first trade's time.
func (p *replayPath) origin() time.Time {
	if len(p.candles) > 0 {
		return p.candles[0].OpenTime
	}
	return p.trades[0].Time
}

// points is the number of path points.
func (p *replayPath) points() int {
	if p.trades != nil {
		return len(p.trades)
	}
	return 4 * len(p.candles)
}

// firstPrice is the price the book opens at.
func (r *Replay) firstPrice() decimal.Decimal {
	if len(r.Trades) > 0 {
		return r.Trades[0].Price
	}
	return r.Candles[0].Open
}

func (r *Replay) validate(i int) error {
	if r.Symbol == "" {
		return fmt.Errorf("sim: Replay[%d].Symbol: empty", i)
	}
	if len(r.Candles) == 0 && len(r.Trades) == 0 {
		return fmt.Errorf("sim: Replay[%d] (%s): no candles and no trades", i, r.Symbol)
	}
	for j, t := range r.Trades {
		if !t.Price.IsPositive() || t.Qty.IsNegative() {
			return fmt.Errorf("sim: Replay[%d] (%s): trade %d: want a positive price and a non-negative quantity", i, r.Symbol, j)
		}
		if j > 0 && t.Time.Before(r.Trades[j-1].Time) {
			return fmt.Errorf("sim: Replay[%d] (%s): trade %d is before the one before it", i, r.Symbol, j)
		}
	}
	for j, c := range r.Candles {
		if !c.Open.IsPositive() || c.Low.GreaterThan(c.Open) || c.Low.GreaterThan(c.Close) || c.High.LessThan(c.Open) ||
			c.High.LessThan(c.Close) || c.Volume.IsNegative() || !c.CloseTime.After(c.OpenTime) {
			return fmt.Errorf("sim: Replay[%d] (%s): candle %d: want 0 < low <= open, close <= high, a close after the open", i, r.Symbol, j)
		}
		if j > 0 && !c.OpenTime.After(r.Candles[j-1].OpenTime) {
			return fmt.Errorf("sim: Replay[%d] (%s): candle %d opens before the one before it", i, r.Symbol, j)
		}
	}
	return nil
}

// at is the server time of path point k.
func (p *replayPath) at(k int) time.Time {
	if p.trades != nil {
		return p.start.Add(time.Duration(float64(p.trades[k].Time.Sub(p.origin())) / p.scale))
	}
	c := p.candles[k/4]
	span := c.CloseTime.Add(time.Millisecond).Sub(c.OpenTime)
	file := c.OpenTime.Sub(p.candles[0].OpenTime) + time.Duration(k%4)*span/4
	return p.start.Add(time.Duration(float64(file) / p.scale))
}

// point is path point k's price and quantity.
func (m *market) point(k int) (decimal.Decimal, decimal.Decimal) {
	if t := m.replay.trades; t != nil {
		return t[k].Price, t[k].Qty
	}
	c := m.replay.candles[k/4]
	px := c.Close
	switch k % 4 {
	case 0:
		px = c.Open
	case 1, 2:
		lowFirst := !c.Close.LessThan(c.Open)
		if (k%4 == 1) == lowFirst {
			px = c.Low
		} else {
			px = c.High
		}
	}
	quarter := c.Volume.Div(decimal.NewFromInt(4))
	if !m.step.IsZero() {
		quarter = quarter.Div(m.step).Floor().Mul(m.step)
	}
	if k%4 == 3 {
		return px, c.Volume.Sub(quarter.Mul(decimal.NewFromInt(3)))
	}
	return px, quarter
}

// replayTo plays every path point due by now; visit runs after each, as after a walk step.
// requires that s.mu is held.
func (m *market) replayTo(now time.Time, visit func()) {
	p := m.replay
	for p.next < p.points() && !p.at(p.next).After(now) {
		px, qty := m.point(p.next)
		t := px.Div(m.tick).Round(0).IntPart()
		m.ticks = max(t, 1)
		m.stepAt, m.replayQty = p.at(p.next), qty
		m.updateID++
		m.touch(true)
		visit()
		p.next++
	}
}

// errReplaySymbol names a replay of a symbol the simulator does not list.
var errReplaySymbol = errors.New("sim: a replay names a symbol that Config.Symbols does not list")
