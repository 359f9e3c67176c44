package orders

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
)

// Manager places and cancels orders, tracks their state and settles unknown outcomes. Every
// placement gets an idempotency key journalled before anything is sent, and the journal entry
// is marked sent, durably, before the request leaves; an outcome the exchange leaves unknown is
// settled by querying the order by that key, never by a blind resend. Run Reconcile once
// before any strategy places an order.
//
// A Manager is safe for concurrent use. It starts no goroutines, so it needs no Close; the
// caller closes the Store. Its zero value is not usable; call New.
type Manager struct {
	ex      adapters.Exchange
	store   idempotency.Store
	keys    Keys
	log     zerolog.Logger
	clock   clock.Clock
	metrics Metrics
	cfg     Config
	info    *infoCache
	guard   *guard
	balance func(asset string) (adapters.Balance, bool)

	// shared is the journal when a fleet shares it, and instance this instance's key tag: then
	// the manager settles and adopts only this instance's orders (see fleet.go). nil, "" for a
	// journal of one's own.
	shared   idempotency.Shared
	instance string

	// started is when the manager was built, if Params.ExclusiveJournal: no earlier process
	// signs anything after it. sending turns true with this manager's first placement, after
	// which its own entries are in the journal too and the bound no longer holds for all.
	started time.Time
	sending atomic.Bool

	mu     sync.Mutex
	orders map[string]*tracked // guarded by mu: orders not final yet, by client order id
	done   finished            // guarded by mu: recently finished client order ids
	// takenOver lists instances whose entries this one took over (they are gone); foreign
	// lists keys with this instance's tag that another instance took over. Both guarded by mu.
	takenOver map[string]bool
	foreign   map[string]bool
	subs      map[int]func(Event) // guarded by mu
	subSeq    int                 // guarded by mu

	// emitMu serialises event delivery. It is taken while mu is held and mu is released
	// before subscribers run, so events reach subscribers in the order moves were accepted
	// and subscribers may read the manager (Open, Lookup) but not place or cancel.
	emitMu sync.Mutex
}

// tracked is an order the manager follows until it is final.
type tracked struct {
	// order is the order as last known; Status "" while its first placement is on its way
	// (or, during Reconcile, until the exchange is asked).
	order    adapters.Order
	strategy string
	journal  bool // the order has a journal entry (false for adopted foreign keys)
	// sendBy is the latest instant a try of its placement was or may yet be signed: the
	// placement's deadline while it is on its way, when Place got its answer afterwards, the
	// journal's word for an entry Reconcile loaded (see Manager.sendBy). Zero if unknown:
	// then no amount of time proves the order absent.
	sendBy time.Time
}

// New returns a Manager. Exchange, Store and Keys are required; an invalid Config is refused
// with an error naming the key.
func New(p Params) (*Manager, error) {
	switch {
	case p.Exchange == nil:
		return nil, errors.New("orders: Params.Exchange is required")
	case p.Store == nil:
		return nil, errors.New("orders: Params.Store is required")
	case p.Keys == nil:
		return nil, errors.New("orders: Params.Keys is required")
	}
	if err := p.Config.Validate(); err != nil {
		return nil, err
	}
	p.Config.setDefaults()
	if p.Clock == nil {
		p.Clock = clock.Real{}
	}
	m := &Manager{
		ex: p.Exchange, store: p.Store, keys: p.Keys, log: p.Log, clock: p.Clock,
		metrics: p.Metrics, cfg: p.Config, guard: newGuard(p.Config.ValidationGuard, p.Log), balance: p.Balance,
		orders: map[string]*tracked{}, done: newFinished(finishedMemory), subs: map[int]func(Event){},
		takenOver: map[string]bool{}, foreign: map[string]bool{},
	}
	if sh, ok := p.Store.(idempotency.Shared); ok {
		if ik, ok := p.Keys.(InstanceKeys); ok && ik.Instance() != "" {
			m.shared, m.instance = sh, ik.Instance()
		}
	}
	if p.ExclusiveJournal && m.shared == nil {
		m.started = m.clock.Now()
	}
	m.info = &infoCache{fetch: p.Info, ex: p.Exchange, ttl: p.Config.InfoTTL, clock: p.Clock}
	return m, nil
}

// Subscribe registers fn to receive every Event, and returns a function that removes it.
// fn runs synchronously on the goroutine that caused the move, one event at a time, in the
// order moves were accepted; it must be quick and must not call Place, Cancel, CancelAll,
// Refresh, Apply or Reconcile (the runtime's main loop hands events to a mailbox).
func (m *Manager) Subscribe(fn func(Event)) (unsubscribe func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subSeq++
	id := m.subSeq
	m.subs[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

// Open returns the orders that are not final yet (UNKNOWN ones included, those still being
// placed excluded), sorted by client order id. strategy "" means every strategy's.
func (m *Manager) Open(strategy string) []adapters.Order {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []adapters.Order
	for _, t := range m.orders {
		if t.order.Status != "" && (strategy == "" || t.strategy == strategy) {
			out = append(out, t.order)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientOrderID < out[j].ClientOrderID })
	return out
}

// Lookup returns a tracked order by client order id and the strategy that owns it; false for
// an order that is final, being placed, or unknown to the manager.
func (m *Manager) Lookup(clientOrderID string) (adapters.Order, string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.orders[clientOrderID]
	if !ok || t.order.Status == "" {
		return adapters.Order{}, "", false
	}
	return t.order, t.strategy, true
}

// Apply takes an order update from an external feed (the user-data stream) and returns
// whether it moved the order. An update for an order the manager does not track is adopted if
// its client id carries this bot's prefix and ignored otherwise; a stale update is ignored.
func (m *Manager) Apply(ctx context.Context, o adapters.Order) bool {
	_, moved := m.observe(ctx, SourceFeed, o, nil, nil)
	return moved
}

// report is what observe needs to know about a move beyond the order itself.
type report struct {
	fills []adapters.Fill
	err   error
}

// observe feeds one report into the state machine: it moves the tracked order (adopting an
// order of this bot it did not track), emits the event, and brings the journal along. It
// returns the order as now known and whether it moved.
func (m *Manager) observe(ctx context.Context, src Source, o adapters.Order, fills []adapters.Fill, err error) (adapters.Order, bool) {
	key := o.ClientOrderID
	m.mu.Lock()
	t := m.orders[key]
	if t == nil {
		if m.done.has(key) || !m.adoptableLocked(key) {
			m.mu.Unlock()
			return o, false
		}
		t = &tracked{}
		m.orders[key] = t
		if src != SourceReconcile {
			m.log.Warn().Str("client_order_id", key).Str("symbol", o.Symbol).Str("source", string(src)).
				Msg("orders: adopting an order of this bot the manager did not track")
			m.metrics.inc(m.metrics.Adopted, o.Symbol)
		}
	}
	cur, ev, moved := advance(t.order, o)
	t.order = cur
	if cur.Status.Final() {
		delete(m.orders, key)
		m.done.add(key)
	}
	if !moved {
		m.mu.Unlock()
		return cur, false
	}
	ev.Strategy, ev.Source, ev.Fills, ev.Err = t.strategy, src, fills, err
	journal := t.journal
	subs := make([]func(Event), 0, len(m.subs))
	for _, id := range sortedIDs(m.subs) {
		subs = append(subs, m.subs[id])
	}
	m.emitMu.Lock()
	m.mu.Unlock()
	for _, fn := range subs {
		fn(ev)
	}
	m.emitMu.Unlock()

	if journal {
		m.journalStatus(ctx, key, cur, err)
	}
	return cur, true
}

func sortedIDs(subs map[int]func(Event)) []int {
	ids := make([]int, 0, len(subs))
	for id := range subs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// errSkip aborts a journal update that has nothing to change.
var errSkip = errors.New("orders: journal entry already further along")

// journalStatus brings an order's journal entry in line with its status: UNKNOWN → unknown,
// NEW and PARTIALLY_FILLED → acked, REJECTED → rejected then resolved, other finals → resolved.
// An entry already further along (a concurrent report got there first) is left alone.
func (m *Manager) journalStatus(ctx context.Context, key string, o adapters.Order, cause error) {
	var to idempotency.State
	switch {
	case o.Status == adapters.StatusUnknown:
		to = idempotency.StateUnknown
	case o.Status == adapters.StatusRejected:
		to = idempotency.StateRejected
	case o.Status.Final():
		to = idempotency.StateResolved
	default:
		to = idempotency.StateAcked
	}
	note := ""
	if cause != nil {
		note = string(o.Status) + ": " + cause.Error()
	}
	m.journalMove(ctx, key, to, o, note)
	if to == idempotency.StateRejected {
		m.journalMove(ctx, key, idempotency.StateResolved, o, "")
	}
}

// journalMove moves an entry to state to, recording what o tells. Failures are logged, not
// returned: the exchange's state is what it is, and Reconcile repairs a lagging journal.
func (m *Manager) journalMove(ctx context.Context, key string, to idempotency.State, o adapters.Order, note string) {
	_, err := m.store.Update(ctx, key, func(e *idempotency.Entry) error {
		if e.State == to && e.OrderStatus == string(o.Status) || !idempotency.CanMove(e.State, to) {
			return errSkip
		}
		e.State = to
		if o.ExchangeOrderID != "" {
			e.ExchangeOrderID = o.ExchangeOrderID
		}
		if o.Status != "" && o.Status != adapters.StatusUnknown {
			e.OrderStatus = string(o.Status)
		}
		if note != "" {
			e.Note = note
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, errSkip):
	case errors.Is(err, idempotency.ErrNotFound):
		// Every caller moves an entry that was journalled: it vanished under us.
		m.log.Error().Str("idempotency_key", key).Str("state", string(to)).
			Msg("orders: journal entry gone: the journal lost it (a Redis flushed, restarted without persistence, " +
				"failed over or evicting?) or compacted it; this order's state is no longer journalled")
	default:
		m.log.Error().Err(err).Str("idempotency_key", key).Str("state", string(to)).
			Msg("orders: journal update failed; reconciliation will repair it")
	}
}

// track starts following an order under key. Requires that key is not tracked yet.
func (m *Manager) track(key string, o adapters.Order, strategy string, journal bool, sendBy time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.orders[key]; ok {
		if t.strategy == "" {
			t.strategy = strategy
		}
		t.journal = t.journal || journal
		return
	}
	m.done.forget(key)
	m.orders[key] = &tracked{order: o, strategy: strategy, journal: journal, sendBy: sendBy}
}

// current returns the order as the manager knows it now: tracked, or o (a report of an order
// that is final by now).
func (m *Manager) current(o adapters.Order) adapters.Order {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.orders[o.ClientOrderID]; ok {
		return t.order
	}
	return o
}

// markSendBy records the latest instant a try of key's placement was or may yet be signed.
func (m *Manager) markSendBy(key string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.orders[key]; ok {
		t.sendBy = at
	}
}

// untrack forgets an order that was never sent.
func (m *Manager) untrack(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.orders, key)
}

// resolveCtx is the context for work that must follow a request that left (journal writes,
// queries), even when the caller's context has ended.
func (m *Manager) resolveCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), m.cfg.ResolveTimeout)
}

// finishedMemory is how many finished client order ids the manager remembers, so a late
// report about a finished order is not mistaken for an order to adopt.
const finishedMemory = 4096

// finished is a bounded set of recently finished keys (oldest forgotten first).
type finished struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newFinished(n int) finished {
	return finished{set: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (f *finished) has(key string) bool { _, ok := f.set[key]; return ok }

func (f *finished) add(key string) {
	if f.has(key) {
		return
	}
	if old := f.ring[f.next]; old != "" {
		delete(f.set, old)
	}
	f.ring[f.next] = key
	f.set[key] = struct{}{}
	f.next = (f.next + 1) % len(f.ring)
}

func (f *finished) forget(key string) { delete(f.set, key) }

// infoCache keeps the exchange's rules for ttl, or asks fetch when the runtime supplies it.
type infoCache struct {
	fetch InfoFunc
	ex    adapters.Exchange
	ttl   time.Duration
	clock clock.Clock

	mu   sync.Mutex // held while fetching, so concurrent callers share one request
	info adapters.ExchangeInfo
	at   time.Time
}

// symbol returns a symbol's rules, or a *ValidationError for a symbol the exchange does not list.
func (c *infoCache) symbol(ctx context.Context, name string) (adapters.SymbolInfo, error) {
	info, err := c.get(ctx)
	if err != nil {
		return adapters.SymbolInfo{}, fmt.Errorf("orders: exchange info: %w", err)
	}
	s, ok := info.Symbol(name)
	if !ok {
		return adapters.SymbolInfo{}, invalid(name, "symbol", "", "not listed by the exchange")
	}
	return s, nil
}

func (c *infoCache) get(ctx context.Context) (adapters.ExchangeInfo, error) {
	if c.fetch != nil {
		return c.fetch(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	if !c.at.IsZero() && now.Sub(c.at) < c.ttl {
		return c.info, nil
	}
	info, err := c.ex.ExchangeInfo(ctx, adapters.WithPriority(infoPriority))
	if err != nil {
		if !c.at.IsZero() {
			return c.info, nil // stale rules beat none; they change rarely
		}
		return adapters.ExchangeInfo{}, err
	}
	c.info, c.at = info, now
	return info, nil
}
