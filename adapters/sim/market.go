package sim

import (
	"math/rand/v2"
	"time"

	"github.com/shopspring/decimal"
)

// market is one symbol: its filters, and a price that takes one step of a seeded random walk
// every (scaled) WalkInterval. Prices are kept as a whole number of ticks so the walk never
// leaves the tick grid and never touches a float. Not safe for concurrent use; the server's
// mutex guards it.
type market struct {
	sym                      Symbol
	tick, step               decimal.Decimal
	minPrice, maxPrice       decimal.Decimal
	minQty, maxQty           decimal.Decimal
	minNotional, maxNotional decimal.Decimal
	priceScale, qtyScale     int32
	ticks                    int64 // current price in ticks
	floorTicks               int64 // the walk never goes below this
	rng                      *rand.Rand
	lastStep                 time.Time       // start of the walk step the price belongs to
	stepAt                   time.Time       // the time of the step being taken (its trade's time)
	tape                     tape            // the public trades as bars (candles.go)
	replay                   *replayPath     // recorded candles instead of the walk (replay.go)
	replayQty                decimal.Decimal // the quantity of the replay point being played
	updateID                 int64
	open                     []*order   // resting orders, oldest first
	depth                    streamBook // shape, diff tracking and stream state (ws_book.go)
	tickUnits, baseUnits     int64      // tick and base quantity in 1e-8 units, 0 if not whole (book.go)
}

func newMarket(sym Symbol, seed int64, index int, now time.Time) *market {
	dec := func(s string) decimal.Decimal {
		if s == "" {
			return decimal.Zero
		}
		return decimal.RequireFromString(s)
	}
	m := &market{
		sym: sym, tick: dec(sym.TickSize), step: dec(sym.StepSize),
		minPrice: dec(sym.MinPrice), maxPrice: dec(sym.MaxPrice),
		minQty: dec(sym.MinQty), maxQty: dec(sym.MaxQty),
		minNotional: dec(sym.MinNotional), maxNotional: dec(sym.MaxNotional),
		rng:      rand.New(rand.NewPCG(uint64(seed), uint64(index)+1)),
		lastStep: now,
		updateID: 1000,
		tape:     newTape(),
	}
	m.priceScale = -m.tick.Exponent()
	if m.priceScale < 0 {
		m.priceScale = 0
	}
	m.qtyScale = -m.step.Exponent()
	if m.qtyScale < 0 {
		m.qtyScale = 0
	}
	m.tickUnits, m.baseUnits = units8(m.tick), units8(m.baseQty())
	m.ticks = dec(sym.Price).Div(m.tick).IntPart()
	m.floorTicks = m.ticks / 100
	if m.floorTicks < 1 {
		m.floorTicks = 1
	}
	return m
}

// price is the last traded price.
func (m *market) price() decimal.Decimal { return m.tick.Mul(decimal.NewFromInt(m.ticks)) }

// walk advances the price to now, one step per interval; it returns each intermediate price
// through visit so resting orders can fill at the price that crossed them. A server idle for
// long catches up at most maxSteps steps.
func (m *market) walk(now time.Time, interval time.Duration, visit func()) {
	if m.replay != nil {
		m.replayTo(now, visit)
		return
	}
	const maxSteps = 10000
	n := int64(now.Sub(m.lastStep) / interval)
	if n <= 0 {
		return
	}
	from := m.lastStep
	m.lastStep = m.lastStep.Add(time.Duration(n) * interval)
	skipped := int64(0)
	if n > maxSteps {
		skipped, n = n-maxSteps, maxSteps
	}
	for i := int64(0); i < n; i++ {
		// Each step trades at its own time, so candles built from the tape are right however
		// late the catch-up runs; steps dropped by maxSteps leave a gap (flat candles).
		m.stepAt = from.Add(time.Duration(skipped+i+1) * interval)
		// One step moves up to 0.05% of the price (at least one tick) either way.
		k := m.ticks / 2000
		if k < 1 {
			k = 1
		}
		m.ticks += m.rng.Int64N(2*k+1) - k
		if m.ticks < m.floorTicks {
			m.ticks = m.floorTicks
		}
		m.updateID++
		m.touch(true)
		visit()
	}
}

// setPrice moves the price (admin API), rounded down to the tick grid.
func (m *market) setPrice(p decimal.Decimal) {
	t := p.Div(m.tick).IntPart()
	if t < 1 {
		t = 1
	}
	m.ticks = t
	m.updateID++
	m.touch(false)
}

// fmt8 prints an amount as Binance does, with eight decimals ("4.00000200").
func fmt8(d decimal.Decimal) string { return d.StringFixed(8) }
