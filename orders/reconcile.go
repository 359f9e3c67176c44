package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/scheduler"
)

// Reconciliation summarises one Reconcile.
type Reconciliation struct {
	// Unresolved is how many journal entries were reserved, sent or unknown at start.
	Unresolved int
	// Found of them were held by the exchange (adopted: now acked, or resolved if final).
	Found int
	// Resent of those Found were settled by resending the identical create, on an exchange
	// with lasting client order ids (adapters.LastingClientIDs) within the entry's send
	// deadline; the rest of them were looked up.
	Resent int
	// NotPlaced of them were proven absent and resolved as never placed (not resent).
	NotPlaced int
	// Finished is how many acked entries had reached a final state while the bot was down.
	Finished int
	// Adopted is how many open orders of this bot had no journal entry.
	Adopted int
	// Fills is how many trades were attached to events.
	Fills int
	// Open is how many orders the manager tracks afterwards.
	Open int
	// Compacted is how many resolved entries past retention were deleted.
	Compacted int
	// TakenOver is how many entries (of those above) were taken over from instances of the
	// fleet that are gone; LeftToOthers how many unsettled or acked entries belong to other
	// instances and were left to them (a fleet's shared journal only).
	TakenOver, LeftToOthers int
}

// Reconcile brings the manager and the journal in line with the exchange. Run it once at
// start-up, before any strategy runs (it may run again later; it is idempotent):
//
//   - every unresolved journal entry (reserved, sent or unknown) is queried by its key, at
//     critical priority: found means the order is adopted (its entry acked, or resolved if it
//     is final); proven absent means it was never placed, and the entry is resolved so
//     (REJECTED with ErrNotPlaced). "Not found" proves absence only once no try of the
//     request can land any more: Config.SettleTime after the last instant a try could have
//     been signed, which for a sent entry is its journalled deadline (Entry.SendBy; see
//     Config.SendTimeout), not when it was marked sent, since it may have waited in the
//     scheduler's queue until then. An entry not settled yet is queried again once it is,
//     and Reconcile waits for that;
//   - on an exchange whose adapter declares lasting client order ids
//     (adapters.LastingClientIDs: a repeated create is answered with the original order, never
//     a second one), a sent or unknown entry whose journalled send deadline (Entry.SendBy) has
//     not passed is settled by resending the identical create instead — same intent, same key,
//     signed no later than that deadline — and the exchange's answer is the order. That is the
//     retry the strategy still expects, within the budget it gave the placement, and it cannot
//     duplicate. Past the deadline the entry is looked up as above, never resent: the intent
//     is stale. A resend whose outcome is again undecided falls back to the lookup;
//   - a proven-absent intent is settled, not resent: its event reaches the owning strategy,
//     which decides whether it still wants the order. After a crash and a wait, the market
//     and the strategy's state have moved on, and the strategy may already have placed a
//     replacement; an automatic resend would place an order nobody decided on now;
//   - every acked entry is checked against the exchange's open orders, and those no longer
//     open are queried: their fills and cancels while the bot was down are applied and the
//     entry resolved;
//   - every open order on the exchange whose client id carries this bot's prefix is adopted;
//   - the trades since each symbol's journalled cursor are attached to the events of the
//     orders they belong to, and the cursors move on;
//   - rejected entries are resolved, and resolved entries past Config.Retention compacted.
//
// With a journal a fleet shares (idempotency.Shared) and keys that name the instance
// (InstanceKeys), all of this concerns this instance's entries and orders only: each is
// claimed first (idempotency.Claim), so two instances never settle one entry; another
// instance's are left to it unless it is gone (not alive, and none of its entries touched for
// Config.TakeoverAfter), in which case they are taken over. Open orders journalled by another
// instance are never adopted.
//
// Events for all of it reach subscribers before Reconcile returns. A journal that cannot be
// read fails Reconcile (start-up must stop); so does any entry whose outcome could not be
// decided, after everything else was applied.
func (m *Manager) Reconcile(ctx context.Context) (Reconciliation, error) {
	var sum Reconciliation
	// One read of the journal (a full fetch when it lives in Redis), split by state; each
	// part keeps the store's oldest-first order.
	entries, err := m.store.List(ctx, idempotency.StateReserved, idempotency.StateSent, idempotency.StateUnknown,
		idempotency.StateAcked, idempotency.StateRejected)
	if err != nil {
		return sum, fmt.Errorf("orders: reconcile: %w", err)
	}
	var unresolved, acked, rejected []idempotency.Entry
	for _, e := range entries {
		switch {
		case e.State.Unresolved():
			unresolved = append(unresolved, e)
		case e.State == idempotency.StateAcked:
			acked = append(acked, e)
		default:
			rejected = append(rejected, e)
		}
	}

	var (
		errs      []error
		reports   = map[string][]adapters.Order{}
		journaled = map[string]bool{} // every live entry, whoever owns it: none is adopted as unjournaled
		absent    []idempotency.Entry
		young     []idempotency.Entry
		found     []adapters.Order // unresolved entries the exchange holds
	)
	live := append(append([]idempotency.Entry(nil), unresolved...), acked...)
	for _, e := range live {
		journaled[e.Key] = true
	}
	// In a fleet, only this instance's entries (and those of instances that are gone).
	sp, err := m.claimEntries(ctx, live)
	if err != nil {
		errs = append(errs, err)
	}
	sum.TakenOver, sum.LeftToOthers = sp.takenOver, sp.others
	unresolved, acked = nil, nil
	for _, e := range sp.mine {
		if e.State.Unresolved() {
			unresolved = append(unresolved, e)
		} else if e.State == idempotency.StateAcked {
			acked = append(acked, e)
		}
	}
	sum.Unresolved = len(unresolved)
	for _, e := range append(append([]idempotency.Entry(nil), unresolved...), acked...) {
		status := adapters.OrderStatus("")
		if e.State == idempotency.StateUnknown {
			status = adapters.StatusUnknown
		}
		o, oerr := entryOrder(e, status)
		if oerr != nil {
			errs = append(errs, oerr)
			continue
		}
		m.track(e.Key, o, e.Intent.Strategy, true, m.sendBy(e))
	}

	// sentBy is the latest instant a try of e's placement was or may yet be signed: the
	// journal's word (Manager.sendBy), or its deadline if this reconcile resent the create
	// (which was signed by then, and after this manager started).
	resent := map[string]bool{}
	sentBy := func(e idempotency.Entry) time.Time {
		if resent[e.Key] {
			return e.SendBy
		}
		return m.sendBy(e)
	}
	lasting := false
	if l, ok := m.ex.(adapters.LastingClientIDs); ok {
		lasting = l.LastingClientIDs()
	}
	for _, e := range unresolved {
		if lasting && e.State != idempotency.StateReserved {
			o, ok, sent := m.resendCreate(ctx, e)
			resent[e.Key] = sent
			if ok {
				sum.Found++
				sum.Resent++
				reports[o.Symbol] = append(reports[o.Symbol], o)
				found = append(found, o)
				continue
			}
		}
		o, err := m.ex.QueryOrder(ctx, e.Intent.Symbol, e.Key, adapters.WithPriority(settlePriority))
		switch {
		case err == nil:
			sum.Found++
			reports[o.Symbol] = append(reports[o.Symbol], o)
			found = append(found, o)
		case !errors.Is(err, adapters.ErrOrderNotFound):
			errs = append(errs, fmt.Errorf("orders: reconcile %s: query: %w", e.Key, err))
		case e.State == idempotency.StateReserved || m.settled(sentBy(e)):
			// Reserved: the entry is marked sent, durably, before a request leaves, so
			// nothing left. Otherwise no try can land any more.
			absent = append(absent, e)
		default:
			young = append(young, e)
		}
	}
	if len(young) > 0 {
		var until time.Time
		for _, e := range young {
			if t := sentBy(e).Add(m.cfg.SettleTime); t.After(until) {
				until = t
			}
		}
		if err := m.wait(ctx, until.Sub(m.clock.Now())); err != nil {
			return sum, fmt.Errorf("orders: reconcile: waiting for %d recent placements to settle: %w", len(young), err)
		}
		for _, e := range young {
			o, err := m.ex.QueryOrder(ctx, e.Intent.Symbol, e.Key, adapters.WithPriority(settlePriority))
			switch {
			case err == nil:
				sum.Found++
				reports[o.Symbol] = append(reports[o.Symbol], o)
				found = append(found, o)
			case errors.Is(err, adapters.ErrOrderNotFound):
				absent = append(absent, e)
			default:
				errs = append(errs, fmt.Errorf("orders: reconcile %s: query: %w", e.Key, err))
			}
		}
	}

	open, err := unshed(ctx, func() ([]adapters.Order, error) {
		return m.ex.OpenOrders(ctx, "", adapters.WithPriority(pollPriority))
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("orders: reconcile: open orders: %w", err))
	}
	isOpen := map[string]bool{}
	for _, o := range open {
		if !m.adoptable(o.ClientOrderID) {
			continue
		}
		isOpen[o.ClientOrderID] = true
		if !journaled[o.ClientOrderID] {
			sum.Adopted++
			m.metrics.inc(m.metrics.Adopted, o.Symbol)
			m.log.Info().Str("client_order_id", o.ClientOrderID).Str("symbol", o.Symbol).
				Msg("orders: adopting an open order of this bot without a journal entry")
		}
		reports[o.Symbol] = append(reports[o.Symbol], o)
	}
	if err == nil {
		for _, e := range acked {
			if isOpen[e.Key] {
				continue
			}
			o, qerr := unshed(ctx, func() (adapters.Order, error) {
				return m.ex.QueryOrder(ctx, e.Intent.Symbol, e.Key, adapters.WithPriority(pollPriority))
			})
			switch {
			case qerr == nil:
				if o.Status.Final() {
					sum.Finished++
				}
				reports[o.Symbol] = append(reports[o.Symbol], o)
			case errors.Is(qerr, adapters.ErrOrderNotFound):
				// Acknowledged once, unknown now (archived by the exchange): nothing is live.
				m.log.Warn().Str("client_order_id", e.Key).Str("symbol", e.Intent.Symbol).
					Msg("orders: the exchange no longer knows an acknowledged order; resolving its entry")
				m.untrack(e.Key)
				m.journalMove(ctx, e.Key, idempotency.StateResolved, adapters.Order{}, "resolved: not found at reconciliation")
			default:
				errs = append(errs, fmt.Errorf("orders: reconcile %s: query: %w", e.Key, qerr))
			}
		}
	}

	for _, symbol := range sortedKeys(reports) {
		n, err := m.applyReports(ctx, SourceReconcile, symbol, reports[symbol])
		sum.Fills += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	// An entry found at the exchange whose order this manager already knew in that state (its
	// journal write failed after the answer came) did not move, so nothing wrote the journal:
	// bring it in line now.
	for _, o := range found {
		m.journalStatus(ctx, o.ClientOrderID, m.current(o), nil)
	}
	// Proven absent: settled as never placed, and deliberately not resent (see above); the
	// strategy gets the REJECTED event with ErrNotPlaced and decides.
	for _, e := range absent {
		sum.NotPlaced++
		m.notPlaced(ctx, SourceReconcile, e.Key)
	}
	for _, e := range rejected {
		if m.owns(e) {
			m.journalMove(ctx, e.Key, idempotency.StateResolved, adapters.Order{}, "")
		}
	}
	if n, err := m.Compact(ctx); err != nil {
		errs = append(errs, fmt.Errorf("orders: reconcile: %w", err))
	} else {
		sum.Compacted = n
	}
	sum.Open = len(m.Open(""))
	return sum, errors.Join(errs...)
}

// resendCreate settles an unresolved entry (sent or unknown) on an exchange with lasting client
// order ids by resending its identical create, if its journalled send deadline (Entry.SendBy)
// has not passed. It returns the order the exchange answered with and ok; !ok when the entry
// is past its deadline (or has none: journalled before SendBy existed) or the resend's outcome
// was undecided, and the caller looks the order up. sent reports that a try may have left,
// signed no later than Entry.SendBy.
//
// Before the request leaves, the entry is marked sent again, durably, keeping its deadline: a
// crash during the resend leaves an entry whose SendBy still bounds every try (an unknown
// entry's bound is its UpdatedAt, which the resend would outlive).
func (m *Manager) resendCreate(ctx context.Context, e idempotency.Entry) (o adapters.Order, ok, sent bool) {
	lg := m.log.With().Str("idempotency_key", e.Key).Str("symbol", e.Intent.Symbol).Time("send_by", e.SendBy).Logger()
	left := e.SendBy.Sub(m.clock.Now())
	if e.SendBy.IsZero() || left <= 0 {
		lg.Info().Str("path", "lookup").
			Msg("orders: reconcile: send deadline passed; looking the order up, not resending a stale intent")
		return adapters.Order{}, false, false
	}
	req, err := entryOrder(e, "")
	if err != nil {
		return adapters.Order{}, false, false // the caller reports the corrupt entry
	}
	if _, err := m.store.Update(ctx, e.Key, func(x *idempotency.Entry) error {
		x.State = idempotency.StateSent
		x.Attempts++
		return nil
	}); err != nil {
		lg.Warn().Err(err).Str("path", "lookup").
			Msg("orders: reconcile: cannot journal the resend; looking the order up instead")
		return adapters.Order{}, false, false
	}
	lg.Info().Str("path", "resend").Dur("left", left).
		Msg("orders: reconcile: resending the identical create (lasting client order id, send deadline not passed)")
	m.markSendBy(e.Key, e.SendBy)
	// Every try is signed before the journalled deadline: the scheduler starts none after its
	// context ends. The context's deadline is on the wall clock; what is left is carried over.
	sctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	o, err = m.ex.PlaceOrder(sctx, adapters.OrderRequest{
		Symbol: req.Symbol, Side: req.Side, Type: req.Type, TimeInForce: req.TimeInForce,
		Quantity: req.Quantity, Price: req.Price, ClientOrderID: e.Key,
	}, adapters.WithPriority(placePriority))
	if err != nil {
		lg.Warn().Err(err).Str("path", "lookup").
			Msg("orders: reconcile: the identical create left the outcome undecided; looking the order up")
		return adapters.Order{}, false, true
	}
	if o.ClientOrderID == "" {
		o.ClientOrderID = e.Key
	}
	if o.Status == "" || o.Status == adapters.StatusUnknown {
		o.Status = adapters.StatusNew
	}
	lg.Info().Str("status", string(o.Status)).Str("exchange_order_id", o.ExchangeOrderID).
		Msg("orders: reconcile: the exchange answered the identical create with the order")
	return o, true, true
}

// unshed runs read again while the scheduler sheds it (scheduler.ErrShed: it waited past its
// MaxWait and was never sent), until it is sent or ctx ends. Reconcile's reads run at poll
// priority so as not to crowd out orders and cancels, but unlike a periodic refresh, whose
// next round makes up for a shed read, a reconcile that gives up fails start-up: a busy
// scheduler (a fleet whose bucket slots are all held elsewhere, a loaded machine) must make
// it wait, not fail.
func unshed[T any](ctx context.Context, read func() (T, error)) (T, error) {
	for {
		v, err := read()
		if !errors.Is(err, scheduler.ErrShed) || ctx.Err() != nil {
			return v, err
		}
	}
}

// Compact deletes resolved journal entries older than Config.Retention and returns how many.
// Reconcile runs it; a long-running bot also runs it now and then, so the journal (which
// Reconcile reads whole) stays small.
func (m *Manager) Compact(ctx context.Context) (int, error) {
	n, err := m.store.Compact(ctx, m.clock.Now().Add(-m.cfg.Retention))
	if err != nil {
		return 0, fmt.Errorf("orders: compact: %w", err)
	}
	return n, nil
}

// sendBy returns the latest instant a try of an unresolved entry's request could have been
// signed, from the journal alone (after a crash nothing else is left):
//
//   - sent: Entry.SendBy, the placement's deadline. An entry journalled before SendBy
//     existed gets the longest budget a placement could have had (Config.SendTimeout, and
//     at least DefaultSendTimeout, the scheduler's default budget that bounded placements
//     then) counted from its UpdatedAt, when it was marked sent.
//   - unknown: the same, but no later than UpdatedAt: an entry is marked unknown only after
//     the placement returned, every try signed by then, and later writes only move
//     UpdatedAt later.
//   - reserved: zero; nothing was sent.
//
// With Params.ExclusiveJournal, and before this manager sent anything, no later than the
// manager's start: the process that wrote the entry is gone.
func (m *Manager) sendBy(e idempotency.Entry) time.Time {
	if e.State == idempotency.StateReserved {
		return time.Time{}
	}
	by := e.SendBy
	if by.IsZero() {
		by = e.UpdatedAt.Add(max(m.cfg.SendTimeout, DefaultSendTimeout))
	}
	if e.State == idempotency.StateUnknown && e.UpdatedAt.Before(by) {
		by = e.UpdatedAt
	}
	if !m.started.IsZero() && !m.sending.Load() && m.started.Before(by) {
		by = m.started // an exclusive journal: whoever wrote it is gone (Params.ExclusiveJournal)
	}
	return by
}

// wait blocks for d on the manager's clock, or until ctx ends.
func (m *Manager) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	c, stop := m.clock.NewTimer(d)
	defer stop()
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
