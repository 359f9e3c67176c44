package adapters

import (
	"sort"
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
type OrderBook struct {
	symbol string

	mu        sync.Mutex
	bids      map[string]Level
	asks      map[string]Level
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
	return &OrderBook{symbol: symbol, bids: map[string]Level{}, asks: map[string]Level{}, maxBuffer: 1000}
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
	clear(b.bids)
	clear(b.asks)
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
	for _, l := range s.Bids {
		b.bids[key(l.Price)] = l
	}
	for _, l := range s.Asks {
		b.asks[key(l.Price)] = l
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
		set(b.bids, l)
	}
	for _, l := range u.Asks {
		set(b.asks, l)
	}
	b.last = u.FinalID
	b.bridging = false
}

func set(side map[string]Level, l Level) {
	if l.Quantity.IsZero() {
		delete(side, key(l.Price))
		return
	}
	side[key(l.Price)] = l
}

func key(p decimal.Decimal) string { return p.String() }

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
	hasBid, hasAsk := false, false
	for _, l := range b.bids {
		if !hasBid || l.Price.GreaterThan(bid.Price) {
			bid, hasBid = l, true
		}
	}
	for _, l := range b.asks {
		if !hasAsk || l.Price.LessThan(ask.Price) {
			ask, hasAsk = l, true
		}
	}
	return bid, ask, hasBid && hasAsk && bid.Price.LessThan(ask.Price)
}

// Levels is a copy of the local book: up to depth levels a side, best first (depth <= 0: all).
func (b *OrderBook) Levels(depth int) Book {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := Book{Symbol: b.symbol, LastUpdateID: b.last}
	out.Bids = sorted(b.bids, true, depth)
	out.Asks = sorted(b.asks, false, depth)
	return out
}

func sorted(side map[string]Level, desc bool, depth int) []Level {
	out := make([]Level, 0, len(side))
	for _, l := range side {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if desc {
			return out[i].Price.GreaterThan(out[j].Price)
		}
		return out[i].Price.LessThan(out[j].Price)
	})
	if depth > 0 && len(out) > depth {
		out = out[:depth]
	}
	return out
}
