package sim

import (
	"math"
	"strconv"

	"github.com/shopspring/decimal"
)

// The synthetic order book. Each side holds up to Streams.BookLevels levels (default 5000,
// the deepest GET /api/v3/depth serves): the first denseLevels one tick apart next to the
// price, the rest on a coarser grid of every gridTicks-th tick, anchored to multiples of
// gridTicks. A level's quantity depends on its tick only (levelQty), so the book is a pure
// function of the price, and a move changes only the levels that enter or leave it: the
// dense run next to the price, and a few grid levels at the dense run's edge and at the far
// end. That keeps depth diff updates small however deep the book is (ws_book.go).

// denseLevels is how many levels per side sit one tick apart next to the price.
const denseLevels = 50

// bookLevel is one price level: [price, qty] as strings.
type bookLevel [2]string

// sideSpan is one side of the book at a price: the dense ticks dLo..dHi and the grid ticks
// gLo, gLo+g, ..., gHi. Either run may be empty (lo > hi). The runs never overlap.
type sideSpan struct{ dLo, dHi, gLo, gHi int64 }

// has reports whether tick t is a level of the side; g is the grid spacing.
func (sp sideSpan) has(t, g int64) bool {
	return (t >= sp.dLo && t <= sp.dHi) || (t >= sp.gLo && t <= sp.gHi && t%g == 0)
}

// bidSpan is the bid side at price p (in ticks): p-1 down to p-dense, then the grid below,
// never at or below zero.
func (m *market) bidSpan(p int64) sideSpan {
	d, g, n := int64(m.depth.dense), m.depth.grid, int64(m.depth.levels-m.depth.dense)
	sp := sideSpan{dLo: max(1, p-d), dHi: p - 1, gLo: 1, gHi: 0}
	if top := p - d - 1; n > 0 && top >= g {
		sp.gHi = top / g * g
		sp.gLo = max(g, sp.gHi-(n-1)*g)
	}
	return sp
}

// askSpan is the ask side at price p: p+1 up to p+dense, then the grid above.
func (m *market) askSpan(p int64) sideSpan {
	d, g, n := int64(m.depth.dense), m.depth.grid, int64(m.depth.levels-m.depth.dense)
	sp := sideSpan{dLo: p + 1, dHi: p + d, gLo: 1, gHi: 0}
	if n > 0 {
		sp.gLo = ((p+d)/g + 1) * g
		sp.gHi = sp.gLo + (n-1)*g
	}
	return sp
}

// book is the current book, at most levels a side, best first.
func (m *market) book(levels int) (bids, asks []bookLevel) {
	levels = min(levels, m.depth.levels)
	g := m.depth.grid
	bs, as := m.bidSpan(m.ticks), m.askSpan(m.ticks)
	bids = make([]bookLevel, 0, min(levels, 64))
	for t := bs.dHi; t >= bs.dLo && len(bids) < levels; t-- {
		bids = append(bids, m.level(t))
	}
	for t := bs.gHi; t >= bs.gLo && len(bids) < levels; t -= g {
		bids = append(bids, m.level(t))
	}
	asks = make([]bookLevel, 0, min(levels, 64))
	for t := as.dLo; t <= as.dHi && len(asks) < levels; t++ {
		asks = append(asks, m.level(t))
	}
	for t := as.gLo; t <= as.gHi && len(asks) < levels; t += g {
		asks = append(asks, m.level(t))
	}
	return bids, asks
}

// level is tick t as a book level with its resting quantity.
func (m *market) level(t int64) bookLevel { return bookLevel{m.fmtTick(t), m.fmtQty(t)} }

func (m *market) baseQty() decimal.Decimal {
	if !m.minQty.IsZero() {
		return m.minQty
	}
	return m.step
}

// levelMultiple is the quantity at tick t in base quantities: 10 to 59, a deterministic
// function of the tick.
func levelMultiple(t int64) int64 {
	h := uint64(t) * 0x9e3779b97f4a7c15
	return int64(10 + (h>>33)%50)
}

// levelQty is the quantity resting at a price level.
func (m *market) levelQty(t int64) decimal.Decimal {
	return m.baseQty().Mul(decimal.NewFromInt(levelMultiple(t)))
}

func (m *market) tickPrice(t int64) decimal.Decimal { return m.tick.Mul(decimal.NewFromInt(t)) }

// units8 is d in units of 1e-8 when that is a whole number, else 0 (amounts then print
// through decimal, slower).
func units8(d decimal.Decimal) int64 {
	u := d.Shift(8)
	if !u.IsInteger() || !u.IsPositive() || u.GreaterThan(decimal.NewFromInt(1<<40)) {
		return 0
	}
	return u.IntPart()
}

// fmtTick prints tick t's price with eight decimals; a deep book prints thousands of them.
func (m *market) fmtTick(t int64) string {
	if m.tickUnits > 0 && t >= 0 && t <= math.MaxInt64/m.tickUnits {
		return fmtUnits(t * m.tickUnits)
	}
	return fmt8(m.tickPrice(t))
}

// fmtQty prints the quantity at tick t with eight decimals.
func (m *market) fmtQty(t int64) string {
	if m.baseUnits > 0 {
		return fmtUnits(m.baseUnits * levelMultiple(t))
	}
	return fmt8(m.levelQty(t))
}

// fmtUnits prints u·1e-8 with eight decimals; u >= 0.
func fmtUnits(u int64) string {
	frac := strconv.FormatInt(u%1e8, 10)
	return strconv.FormatInt(u/1e8, 10) + "." + "00000000"[len(frac):] + frac
}
