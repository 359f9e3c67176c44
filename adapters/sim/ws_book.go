package sim

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// streamBook is what a market keeps for its book (book.go) and the depth stream: the book's
// shape, which price levels changed since the last diff update (so the next one can carry
// them), and the walk's trades not yet sent. Guarded by s.mu with the market.
//
// Consistency with GET /api/v3/depth (web-socket-streams.md "How to manage a local order book
// correctly"): the book at update id X is a function of the price at X. A diff update U..u
// carries the absolute quantity at u (zero when absent) of every level that is in some but
// not every book between U-1 and u — the levels whose membership changed along the way — so
// it turns the book at any id in [U-1, u], in particular a snapshot's lastUpdateId, into the
// book at u. A level held throughout has the same quantity throughout and needs no update.
type streamBook struct {
	levels             int   // per side
	dense              int   // levels one tick apart next to the price
	grid               int64 // spacing of the deeper levels, in ticks
	emittedID          int64 // u of the last diff update computed
	prevTicks          int64 // the price the touched sets are up to date with
	touchBid, touchAsk map[int64]struct{}
	trades             []walkTrade
	tradeID            int64
	lastBid, lastAsk   int64    // best bid/ask ticks last sent on bookTicker
	slow               slowDiff // the 100ms diffs merged for the 1000ms @depth (ws_market.go)
	lastPushedID       int64    // the trade id the last 1000ms push saw (ws_market.go)
}

type walkTrade struct {
	id    int64
	ticks int64
	qty   decimal.Decimal
	buyer bool // the buyer was the maker (the price fell)
	at    time.Time
}

// initDepth shapes the book: levels per side, denseLevels of them one tick apart, the rest
// spaced so that one step of the walk (up to ticks/2000) crosses about eight grid levels.
func (m *market) initDepth(levels int) {
	m.depth = streamBook{levels: levels, dense: min(levels, denseLevels), grid: max(1, m.ticks/16000),
		emittedID: m.updateID, prevTicks: m.ticks,
		touchBid: map[int64]struct{}{}, touchAsk: map[int64]struct{}{}}
}

// touch records the levels the last price change moved in or out of the book, and a trade at
// the new price when the walk moved it.
// requires that s.mu is held.
func (m *market) touch(trade bool) {
	if m.depth.touchBid == nil {
		return // a market built without initDepth (not through New)
	}
	if p, q := m.depth.prevTicks, m.ticks; p != q {
		g := m.depth.grid
		changed(m.bidSpan(p), m.bidSpan(q), g, m.depth.touchBid)
		changed(m.askSpan(p), m.askSpan(q), g, m.depth.touchAsk)
		m.depth.prevTicks = q
	}
	if trade {
		m.depth.tradeID++
		prev := m.tape.lastTicks
		qty, buyer := m.baseQty(), m.ticks < prev
		if m.replay != nil {
			qty = m.replayQty
			if m.replay.trades != nil {
				buyer = m.replay.trades[m.replay.next].BuyerMaker // the recorded side
			}
		}
		wt := walkTrade{id: m.depth.tradeID, ticks: m.ticks, qty: qty, buyer: buyer, at: m.stepAt}
		m.depth.trades = append(m.depth.trades, wt)
		m.record(wt)
		if len(m.depth.trades) > 1000 {
			m.depth.trades = m.depth.trades[len(m.depth.trades)-1000:]
		}
	}
}

// changed adds to into every tick in exactly one of a and b. A tick in one side but not the
// other is in one's dense run but not the other's, or in one's grid run but not the other's,
// so only those runs' differences are visited: about dense + |move|/g ticks, not the book.
func changed(a, b sideSpan, g int64, into map[int64]struct{}) {
	visit := func(t int64) {
		if a.has(t, g) != b.has(t, g) {
			into[t] = struct{}{}
		}
	}
	for _, sp := range []sideSpan{a, b} {
		for t := sp.dLo; t <= sp.dHi; t++ {
			visit(t)
		}
	}
	// Grid ticks of x outside y's grid run: below it and above it.
	outside := func(x, y sideSpan) {
		for t := x.gLo; t <= x.gHi && t < y.gLo; t += g {
			visit(t)
		}
		for t := max(x.gLo, y.gHi+g); t <= x.gHi; t += g {
			visit(t)
		}
	}
	outside(a, b)
	outside(b, a)
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
	g := m.depth.grid
	side := func(touched map[int64]struct{}, now sideSpan, ask bool) []bookLevel {
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
			if now.has(t, g) {
				out = append(out, m.level(t))
			} else {
				out = append(out, bookLevel{m.fmtTick(t), "0.00000000"})
			}
		}
		return out
	}
	d.bids = side(m.depth.touchBid, m.bidSpan(m.ticks), false)
	d.asks = side(m.depth.touchAsk, m.askSpan(m.ticks), true)
	m.discardDiff()
	return d, true
}

// discardDiff starts the next diff update from the current book without computing this
// one: while no stream has ever connected nobody can miss it, and the touched sets stay
// small.
// requires that s.mu is held.
func (m *market) discardDiff() {
	m.depth.emittedID = m.updateID
	clear(m.depth.touchBid)
	clear(m.depth.touchAsk)
}
