package adapters

import (
	"slices"
	"sync"

	"github.com/shopspring/decimal"
)

// OrderBook is a local order book kept from diff updates, the way web-socket-streams.md "How to
// manage a local order book correctly" describes: updates are buffered until a snapshot
// arrives; updates with FinalID <= the snapshot's LastUpdateID are dropped; the first applied
// update must cover LastUpdateID+1; then each update's FirstID must be the previous FinalID+1,
// else the book has a gap and must resync. An OrderBook never fetches anything itself: Update and
// Reset say when a snapshot is needed, and at most one is asked for until Snapshot is called
// (bounded resync: a gap triggers one snapshot, not one per update). Safe for concurrent use.
//
// Each side is a slice of levels kept sorted best first and found by binary search on the
// price: an update on the stream's hot path allocates nothing for the book (no map key per
// level), the top is the first element, and a copy of the book needs no sort.
type OrderBook struct {
	symbol string

	mu        sync.Mutex
	bids      side // best (highest) first
	asks      side // best (lowest) first
	last      int64
	synced    bool
	wanting   bool // a snapshot was asked for and has not arrived
	bridging  bool // synced from a snapshot, no update applied since: the next may straddle it
	stale     int64
	buf       []DepthUpdate
	maxBuffer int
}

// NewOrderBook builds an empty, unsynced book.
func NewOrderBook(symbol string) *OrderBook {
	return &OrderBook{symbol: symbol, bids: side{desc: true}, asks: side{}, maxBuffer: 1000}
}

// Synced reports whether the book follows the stream (a snapshot applied, no gap since).
func (b *OrderBook) Synced() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.synced
}

// StaleSnapshots is how many snapshots turned out older than the stream's updates, which
// web-socket-streams.md answers with a new snapshot ("if the snapshot's lastUpdateId is
// strictly less than U, get a new snapshot"). A snapshot still in flight across a reconnect
// is the usual cause.
func (b *OrderBook) StaleSnapshots() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stale
}

// LastUpdateID is the id the book is at.
func (b *OrderBook) LastUpdateID() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// Reset forgets the book (after a reconnect: updates may have been missed) and buffers
// from now on. The caller must fetch a snapshot when Update next returns true.
func (b *OrderBook) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resetLocked()
	b.wanting = false
}

// requires that b.mu is held.
func (b *OrderBook) resetLocked() {
	b.synced = false
	b.buf = b.buf[:0]
	b.bids.clear()
	b.asks.clear()
}

// Resync is Reset for a caller that fetches a snapshot right away (after a reconnect, so a
// quiet book syncs without waiting for an update): Update will not ask for another until
// Snapshot is called.
func (b *OrderBook) Resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.resetLocked()
	b.wanting = true
}

// Update takes one diff update. It returns applied when the book moved, and needSnapshot
// when the caller should fetch a snapshot now: the first update after a Reset, or a gap. It
// returns needSnapshot once until Snapshot is called.
func (b *OrderBook) Update(u DepthUpdate) (applied, needSnapshot bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.synced {
		switch {
		case u.FinalID <= b.last:
			return false, false // old news
		case b.bridging && u.FirstID <= b.last+1:
			b.applyLocked(u)
			return true, false
		case b.bridging:
			// The snapshot landed before any update was buffered (a reconnect while it was in
			// flight) and the first update starts past it: the snapshot was stale, not the stream.
			b.stale++
			b.resetLocked()
		case u.FirstID != b.last+1:
			b.resetLocked() // a gap: resync from a new snapshot
		default:
			b.applyLocked(u)
			return true, false
		}
	}
	if len(b.buf) >= b.maxBuffer {
		b.buf = b.buf[1:] // the snapshot is late; it will be found stale if this mattered
	}
	b.buf = append(b.buf, u)
	if b.wanting {
		return false, false
	}
	b.wanting = true
	return false, true
}

// Snapshot applies a depth snapshot and the buffered updates after it. It returns false
// when the snapshot is older than every buffered update (they start after LastUpdateID+1):
// the caller should fetch another. Either way the next needSnapshot comes from Update.
func (b *OrderBook) Snapshot(s Book) (ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wanting = false
	buf := b.buf
	b.buf = nil
	b.resetLocked()
	// Every level is kept as the snapshot gives it (a zero quantity included), the last of
	// two at one price winning; the snapshot's order is not relied on.
	for _, l := range s.Bids {
		b.bids.put(l)
	}
	for _, l := range s.Asks {
		b.asks.put(l)
	}
	b.last = s.LastUpdateID
	first := true
	for _, u := range buf {
		if u.FinalID <= b.last {
			continue
		}
		if first && u.FirstID > b.last+1 {
			// Missed updates between the snapshot and the buffer: this snapshot is stale.
			b.stale++
			b.resetLocked()
			b.buf = append(b.buf[:0], buf...)
			b.wanting = true
			return false
		}
		if !first && u.FirstID != b.last+1 {
			b.resetLocked()
			b.buf = append(b.buf[:0], u)
			b.wanting = true
			return false
		}
		first = false
		b.applyLocked(u)
	}
	b.synced = true
	b.bridging = first
	return true
}

// requires that b.mu is held.
func (b *OrderBook) applyLocked(u DepthUpdate) {
	for _, l := range u.Bids {
		b.bids.set(l)
	}
	for _, l := range u.Asks {
		b.asks.set(l)
	}
	b.last = u.FinalID
	b.bridging = false
}

// side is one side of a book: levels sorted best first (descending prices for bids,
// ascending for asks), one per price. Prices compare by value, so "1.0" and "1.00" are one
// level, as they were when the price's canonical string keyed a map.
type side struct {
	desc   bool
	levels []Level
}

// find returns where price is, or where it would go, and whether it is there.
func (s *side) find(price decimal.Decimal) (int, bool) {
	return slices.BinarySearchFunc(s.levels, price, func(l Level, p decimal.Decimal) int {
		if s.desc {
			return p.Cmp(l.Price)
		}
		return l.Price.Cmp(p)
	})
}

// set applies one level of a diff update: a zero quantity removes the price, any other
// replaces or adds it.
func (s *side) set(l Level) {
	if l.Quantity.IsZero() {
		if i, ok := s.find(l.Price); ok {
			s.levels = slices.Delete(s.levels, i, i+1)
		}
		return
	}
	s.put(l)
}

// put replaces or adds l, whatever its quantity.
func (s *side) put(l Level) {
	i, ok := s.find(l.Price)
	if ok {
		s.levels[i] = l
		return
	}
	s.levels = slices.Insert(s.levels, i, l)
}

func (s *side) clear() {
	clear(s.levels) // drop the decimals' references for the collector
	s.levels = s.levels[:0]
}

// best is the first level, if any.
func (s *side) best() (Level, bool) {
	if len(s.levels) == 0 {
		return Level{}, false
	}
	return s.levels[0], true
}

// top returns a copy of up to depth levels, best first (depth <= 0: all).
func (s *side) top(depth int) []Level {
	n := len(s.levels)
	if depth > 0 && n > depth {
		n = depth
	}
	return append(make([]Level, 0, n), s.levels[:n]...)
}

// Top returns the best bid and ask; ok is false while unsynced, when a side is empty, or when
// the top is crossed or locked (bid >= ask): a local book in that state is wrong (missed or
// reordered updates, a bad snapshot) and its top is not a price to trade on. The levels found
// are returned either way (a zero Level for an empty side), so a caller can say why.
func (b *OrderBook) Top() (bid, ask Level, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.synced {
		return bid, ask, false
	}
	bid, hasBid := b.bids.best()
	ask, hasAsk := b.asks.best()
	return bid, ask, hasBid && hasAsk && bid.Price.LessThan(ask.Price)
}

// Levels is a copy of the local book: up to depth levels a side, best first (depth <= 0: all).
func (b *OrderBook) Levels(depth int) Book {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := Book{Symbol: b.symbol, LastUpdateID: b.last}
	out.Bids = b.bids.top(depth)
	out.Asks = b.asks.top(depth)
	return out
}
