package sim

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// streamBook is what a market keeps for the depth stream: how deep its book is, which price
// levels any book since the last diff update held (so the next update can zero the ones that
// left), and the walk's trades not yet sent. Guarded by s.mu with the market.
//
// Consistency with GET /api/v3/depth (web-socket-streams.md "How to manage a local order book
// correctly"): the book at update id X is a function of the price at X. A diff update U..u
// carries the absolute quantity at u of every level held by any book between U-1 and u (zero
// when it left), so it turns the book at any id in [U-1, u] — in particular a snapshot's
// lastUpdateId — into the book at u.
type streamBook struct {
	levels             int
	emittedID          int64 // u of the last diff update computed
	touchBid, touchAsk map[int64]struct{}
	trades             []walkTrade
	tradeID            int64
	lastBid, lastAsk   int64 // best bid/ask ticks last sent on bookTicker
}

type walkTrade struct {
	id    int64
	ticks int64
	qty   decimal.Decimal
	buyer bool // the buyer was the maker (the price fell)
	at    time.Time
}

func (m *market) initDepth(levels int) {
	m.depth = streamBook{levels: levels, emittedID: m.updateID,
		touchBid: map[int64]struct{}{}, touchAsk: map[int64]struct{}{}}
	m.touch(false)
}

// touch records the current book's levels as held since the last diff update, and a trade at
// the new price when the walk moved it.
// requires that s.mu is held.
func (m *market) touch(trade bool) {
	if m.depth.touchBid == nil {
		return // a market built without initDepth (not through New)
	}
	for i := 1; i <= m.depth.levels; i++ {
		if bt := m.ticks - int64(i); bt > 0 {
			m.depth.touchBid[bt] = struct{}{}
		}
		m.depth.touchAsk[m.ticks+int64(i)] = struct{}{}
	}
	if trade {
		m.depth.tradeID++
		prev := int64(0)
		if n := len(m.depth.trades); n > 0 {
			prev = m.depth.trades[n-1].ticks
		}
		m.depth.trades = append(m.depth.trades, walkTrade{id: m.depth.tradeID, ticks: m.ticks,
			qty: m.baseQty(), buyer: m.ticks < prev, at: m.lastStep})
		if len(m.depth.trades) > 1000 {
			m.depth.trades = m.depth.trades[len(m.depth.trades)-1000:]
		}
	}
}

func (m *market) baseQty() decimal.Decimal {
	if !m.minQty.IsZero() {
		return m.minQty
	}
	return m.step
}

// levelQty is the quantity resting at a price level: a deterministic function of the level,
// 10 to 59 times the minimum quantity.
func (m *market) levelQty(t int64) decimal.Decimal {
	h := uint64(t) * 0x9e3779b97f4a7c15
	return m.baseQty().Mul(decimal.NewFromInt(int64(10 + (h>>33)%50)))
}

func (m *market) tickPrice(t int64) decimal.Decimal { return m.tick.Mul(decimal.NewFromInt(t)) }

// inBook reports whether tick t is a bid (side 0) or ask (side 1) level of the current book.
func (m *market) inBook(t int64, ask bool) bool {
	l := int64(m.depth.levels)
	if ask {
		return t > m.ticks && t <= m.ticks+l
	}
	return t < m.ticks && t >= m.ticks-l && t > 0
}

// depthDiff is one diff update: U..u and the levels, best first.
type depthDiff struct {
	first, final int64
	bids, asks   []bookLevel
}

// diff computes the diff update since the last one, or false when the book's update id did not
// move, and starts the next one from the current book.
// requires that s.mu is held.
func (m *market) diff() (depthDiff, bool) {
	if m.updateID <= m.depth.emittedID {
		return depthDiff{}, false
	}
	d := depthDiff{first: m.depth.emittedID + 1, final: m.updateID}
	side := func(touched map[int64]struct{}, ask bool) []bookLevel {
		ts := make([]int64, 0, len(touched))
		for t := range touched {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool {
			if ask {
				return ts[i] < ts[j]
			}
			return ts[i] > ts[j]
		})
		out := make([]bookLevel, 0, len(ts))
		for _, t := range ts {
			q := "0.00000000"
			if m.inBook(t, ask) {
				q = m.fmtQty(m.levelQty(t))
			}
			out = append(out, bookLevel{m.fmtPrice(m.tickPrice(t)), q})
		}
		return out
	}
	d.bids, d.asks = side(m.depth.touchBid, false), side(m.depth.touchAsk, true)
	m.depth.emittedID = m.updateID
	clear(m.depth.touchBid)
	clear(m.depth.touchAsk)
	m.touch(false)
	return d, true
}
