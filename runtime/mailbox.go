package runtime

import (
	"sync"

	"github.com/keelbot/keel/strategy"
)

// maxPendingTrades bounds the trades waiting for one strategy: a busy symbol prints hundreds
// a second, and a stalled strategy must not turn that into unbounded memory.
const maxPendingTrades = 4096

// mailbox is one strategy's inbox. Put never blocks, so a slow strategy can never hold up
// the main loop, another strategy or the scheduler. What a slow strategy misses is coalesced,
// not queued without bound: only the latest quote per symbol, the latest data status per
// symbol, one pending tick and the newest maxPendingTrades trades are kept. Order updates are
// never dropped: each is a fact the strategy must see, in order.
type mailbox struct {
	mu      sync.Mutex
	orders  []strategy.OrderUpdate
	trades  []strategy.Trade
	candles []strategy.Candle // closes, a few a minute: kept whole
	dropped int               // trades dropped since the last TakeDropped
	quotes  map[string]strategy.Quote
	status  map[string]strategy.DataStatus
	qorder  []string // symbols in arrival order of their pending quote or status
	tick    *strategy.Tick
	closed  bool
	ready   chan struct{} // has a value while anything is pending
	spare   pending       // emptied sets the last Take gave back, for the next one to swap in
}

// pending is a mailbox's sets of events, kept for reuse between Takes.
type pending struct {
	orders  []strategy.OrderUpdate
	trades  []strategy.Trade
	candles []strategy.Candle
	qorder  []string
	quotes  map[string]strategy.Quote
	status  map[string]strategy.DataStatus
}

func newMailbox() *mailbox {
	return &mailbox{
		quotes: map[string]strategy.Quote{},
		status: map[string]strategy.DataStatus{},
		ready:  make(chan struct{}, 1),
		spare:  pending{quotes: map[string]strategy.Quote{}, status: map[string]strategy.DataStatus{}},
	}
}

// Put adds ev, coalescing as described on mailbox.
func (m *mailbox) Put(ev strategy.Event) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	switch e := ev.(type) {
	case strategy.OrderUpdate:
		m.orders = append(m.orders, e)
	case strategy.Trade:
		if len(m.trades) == maxPendingTrades { // drop the oldest quarter: amortized O(1)
			n := maxPendingTrades / 4
			m.trades = append(m.trades[:0], m.trades[n:]...)
			m.dropped += n
		}
		m.trades = append(m.trades, e)
	case strategy.Candle:
		m.candles = append(m.candles, e)
	case strategy.Quote:
		m.markSymbolLocked(e.Symbol)
		m.quotes[e.Symbol] = e
	case strategy.DataStatus:
		m.markSymbolLocked(e.Symbol)
		m.status[e.Symbol] = e
	case strategy.Tick:
		m.tick = &e
	}
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// requires that m.mu is held.
func (m *mailbox) markSymbolLocked(symbol string) {
	_, q := m.quotes[symbol]
	_, s := m.status[symbol]
	if !q && !s {
		m.qorder = append(m.qorder, symbol)
	}
}

// Take returns everything pending in delivery order: order updates first (they change what
// the strategy owns), then trades as they printed, then closed candles in order, then per symbol its data status and latest
// quote, then the tick.
//
// It holds the lock only to swap the pending sets for empty ones (kept from the last Take),
// and builds the events after: a strategy goroutine preempted while building them (a busy
// host) must not hold up the stream reader's Put behind the lock. One goroutine takes (the
// strategy's runner): the spare sets are its.
func (m *mailbox) Take() []strategy.Event {
	m.mu.Lock()
	orders, trades, candles, qorder, tick := m.orders, m.trades, m.candles, m.qorder, m.tick
	quotes, status := m.quotes, m.status
	m.orders, m.trades, m.candles, m.qorder, m.tick = m.spare.orders, m.spare.trades, m.spare.candles, m.spare.qorder, nil
	m.quotes, m.status = m.spare.quotes, m.spare.status
	m.spare = pending{}
	m.mu.Unlock()

	out := make([]strategy.Event, 0, len(orders)+len(trades)+len(candles)+2*len(qorder)+1)
	for _, o := range orders {
		out = append(out, o)
	}
	for _, t := range trades {
		out = append(out, t)
	}
	for _, c := range candles {
		out = append(out, c)
	}
	for _, sym := range qorder {
		if s, ok := status[sym]; ok {
			out = append(out, s)
		}
		if q, ok := quotes[sym]; ok {
			out = append(out, q)
		}
	}
	if tick != nil {
		out = append(out, *tick)
	}
	clear(quotes)
	clear(status)
	m.mu.Lock()
	m.spare = pending{orders: orders[:0], trades: trades[:0], candles: candles[:0], qorder: qorder[:0], quotes: quotes, status: status}
	m.mu.Unlock()
	return out
}

// TakeDropped returns how many trades were dropped for want of room since the last call.
func (m *mailbox) TakeDropped() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.dropped
	m.dropped = 0
	return n
}

// Ready has a value whenever Take would return something.
func (m *mailbox) Ready() <-chan struct{} { return m.ready }

// Close makes further Puts no-ops.
func (m *mailbox) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
}
