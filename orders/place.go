package orders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/scheduler"
)

// Priorities of the manager's calls. Queries that settle a placement's outcome run at critical
// priority: they are rare, they decide whether a live order exists (which a halted bot must
// know as well, and the kill switch's gate does not stop critical calls), and a placement
// waiting on them holds its strategy up.
const (
	placePriority  = scheduler.PriorityOrders
	cancelPriority = scheduler.PriorityCritical
	settlePriority = scheduler.PriorityCritical
	pollPriority   = scheduler.PriorityAccount
	infoPriority   = scheduler.PriorityAccount
)

// Place validates and rounds the intent (Prepare), journals a new key for it, marks the entry
// sent (with the deadline by which its last try is signed: Config.SendTimeout, or ctx's
// deadline if sooner) and submits it at orders priority, and returns the order as the
// exchange acknowledged it. Nothing is sent for an invalid intent (a *ValidationError, an
// order the known free balance cannot cover included), while the validation guard refuses
// its kind (a *GuardError: the exchange refused the same order too often; guard.go) or when
// the journal cannot record the entry.
//
// When the exchange's answer leaves the outcome unknown (a timeout, a 5xx, -1007), the order
// is queried by its key: found means acknowledged; "not found" is proof of absence only once
// the exchange can no longer accept the request (Config.RecvWindow + Config.ClockSkew after
// the last try left; Place waits for that on its clock and asks again), and then the intent
// is resent with the same key (Config.MaxResends times); anything else leaves it UNKNOWN, reported by a log
// line, the UnknownOutcome metric and an Event, and Place returns an *UnknownOutcomeError
// (errors.Is(err, scheduler.ErrUnknownOutcome)). Refresh and Reconcile settle it later; never
// place the intent again yourself. A refused order returns the exchange's error and a
// REJECTED order.
func (m *Manager) Place(ctx context.Context, in Intent) (adapters.Order, error) {
	info, err := m.info.symbol(ctx, in.Symbol)
	if err != nil {
		return adapters.Order{}, err
	}
	req, err := Prepare(in, info, m.cfg.PriceRounding)
	if err != nil {
		return adapters.Order{}, err
	}
	if err := m.guard.check(in.Strategy, req.Symbol, m.clock.Now()); err != nil {
		// Per order at info: the incident's warning and escalation are the guard's own events.
		m.log.Info().Str("event", "request_refused").Str("reason", "validation_guard").Str("strategy", in.Strategy).
			Str("symbol", req.Symbol).Str("error_message", err.Error()).Msg("")
		return adapters.Order{}, err
	}
	if err := m.checkFunds(req, info); err != nil {
		return adapters.Order{}, err
	}
	req.ClientOrderID = m.keys.Next()
	key := req.ClientOrderID
	err = m.store.Reserve(ctx, idempotency.Entry{
		Key: key, Intent: intentRecord(req, in.Strategy), State: idempotency.StateReserved,
		CreatedAt: m.clock.Now(),
	})
	if err != nil {
		return adapters.Order{}, fmt.Errorf("orders: journal %s: %w", key, err)
	}
	m.track(key, requestOrder(req, ""), in.Strategy, true, m.clock.Now())
	o, err := m.submit(ctx, req)
	m.guard.observe(in.Strategy, req.Symbol, err, m.clock.Now())
	return o, err
}

// requestOrder is the order a request describes, before the exchange said anything.
func requestOrder(req adapters.OrderRequest, status adapters.OrderStatus) adapters.Order {
	return adapters.Order{
		Symbol: req.Symbol, ClientOrderID: req.ClientOrderID, Side: req.Side, Type: req.Type,
		TimeInForce: req.TimeInForce, Price: req.Price, Quantity: req.Quantity, Status: status,
	}
}

// submit sends a reserved request and settles its outcome.
func (m *Manager) submit(ctx context.Context, req adapters.OrderRequest) (adapters.Order, error) {
	key := req.ClientOrderID
	resends := 0
	for {
		// The entry is sent, durably, before the request leaves: a crash from here on leaves
		// an entry that Reconcile queries instead of forgetting. With it goes the deadline by
		// which the request's last try is signed, which is what tells a restart how long the
		// request may still land: it can wait in the scheduler's queue long after this write.
		m.sending.Store(true)
		sctx, cancelSend, sendBy := m.sendDeadline(ctx)
		_, err := m.store.Update(ctx, key, func(e *idempotency.Entry) error {
			e.State = idempotency.StateSent
			e.Attempts++
			e.SendBy = sendBy
			return nil
		})
		if err != nil {
			cancelSend()
			if resends == 0 {
				// Nothing left: close the entry (the caller's context may have ended, or the
				// journal hiccupped); if the journal refuses that too, it stays reserved and
				// Reconcile resolves it as not placed.
				m.untrack(key)
				rctx, cancel := m.resolveCtx(ctx)
				defer cancel()
				m.journalMove(rctx, key, idempotency.StateResolved, adapters.Order{}, "not sent: "+err.Error())
				return adapters.Order{}, fmt.Errorf("orders: journal %s: %w", key, err)
			}
			err = fmt.Errorf("orders: journal %s before a resend: %w", key, err)
			rctx, cancel := m.resolveCtx(ctx)
			defer cancel()
			return m.unknown(rctx, req, err, nil)
		}
		m.markSendBy(key, sendBy)

		var probe probe
		o, err := m.ex.PlaceOrder(sctx, req, adapters.WithPriority(placePriority),
			adapters.WithRetrySafe(m.retrySafe(req.Symbol, key, &probe)))
		cancelSend()
		// Every try of the placement was signed before PlaceOrder returned: the exchange may
		// accept the last one until this instant plus its recvWindow (and our clock's error).
		returned := m.clock.Now()
		rctx, cancel := m.resolveCtx(ctx)
		defer cancel()
		if err == nil {
			return m.acked(rctx, o)
		}
		if found, ok := probe.found(); ok {
			return m.acked(rctx, found)
		}
		if resends == 0 && !probe.asked() && notSent(err) {
			return m.rejected(rctx, req, err)
		}

		// The outcome is unknown: ask the exchange before anything else is sent.
		m.markSendBy(key, returned) // Refresh's SettleTime counts from here
		found, qerr := m.query(rctx, req.Symbol, key)
		if errors.Is(qerr, adapters.ErrOrderNotFound) {
			// "Not found" proves nothing while the request may still be on its way: the
			// exchange accepts it until its timestamp plus recvWindow. Ask again once that has
			// passed; only that answer lets the same key go out again.
			// The wait is the caller's to cut short (a shutdown): the entry then stays unknown
			// and reconciliation settles it, as for any undecided outcome.
			if left := returned.Add(m.cfg.acceptWindow()).Sub(m.clock.Now()); left > 0 {
				if werr := m.wait(ctx, left); werr != nil {
					return m.unknown(rctx, req, err, fmt.Errorf("orders: waiting out the acceptance window of %s: %w", key, werr))
				}
				found, qerr = m.query(rctx, req.Symbol, key)
			}
		}
		switch {
		case qerr == nil:
			return m.acked(rctx, found)
		case errors.Is(qerr, adapters.ErrOrderNotFound) && resends < m.cfg.MaxResends:
			resends++
			m.metrics.inc(m.metrics.Resent, req.Symbol)
			m.log.Info().Str("idempotency_key", key).Str("symbol", req.Symbol).Int("resend", resends).
				Msg("orders: the exchange proved the placement absent; resending with the same key")
			continue
		}
		return m.unknown(rctx, req, err, qerr)
	}
}

// sendDeadline returns the context a placement's request runs under and the instant by which
// its last try is signed: Config.SendTimeout from now, or the caller's deadline if sooner. The
// scheduler starts no try once the context has ended, and a try is signed before it is
// written, so no try is signed after the instant returned. The context is made before the
// manager's clock is read, so its deadline is never later than that instant.
func (m *Manager) sendDeadline(ctx context.Context) (context.Context, context.CancelFunc, time.Time) {
	budget := m.cfg.SendTimeout
	if dl, ok := ctx.Deadline(); ok {
		// A context's deadline is on the wall clock, as its timer is; what is left of it is
		// carried over to the manager's clock.
		budget = min(budget, max(time.Until(dl), 0))
	}
	sctx, cancel := context.WithTimeout(ctx, budget)
	return sctx, cancel, m.clock.Now().Add(budget)
}

// notSent reports whether a placement's error proves the order is not at the exchange: the
// request never left (refused by the scheduler, a breaker, the gate, or the adapter before
// sending), or its only attempt was answered with a refusal. Anything else may have landed.
func notSent(err error) bool {
	var se *scheduler.Error
	var be *scheduler.BreakerOpenError
	var ge *scheduler.GateClosedError
	switch {
	case errors.As(err, &se):
		if se.Attempts == 0 {
			return true
		}
		if se.Attempts > 1 {
			return false
		}
		switch se.Class {
		case scheduler.ClassValidation, scheduler.ClassAuth, scheduler.ClassRateLimit:
			return true
		}
		return false
	case errors.As(err, &be), errors.As(err, &ge),
		errors.Is(err, scheduler.ErrShed), errors.Is(err, scheduler.ErrInvalidRequest),
		errors.Is(err, scheduler.ErrClosed), errors.Is(err, scheduler.ErrNotSent):
		return true
	}
	// A bare context error could come from an adapter after it wrote the request: unknown.
	return false
}

// probe records what the scheduler's RetrySafe query found. The scheduler calls RetrySafe on
// the request's goroutine, but nothing promises that, hence the mutex.
type probe struct {
	mu     sync.Mutex
	was    bool
	order  adapters.Order
	exists bool
}

func (p *probe) record(o adapters.Order, exists bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.was = true
	if exists {
		p.order, p.exists = o, true
	}
}

func (p *probe) found() (adapters.Order, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.order, p.exists
}

func (p *probe) asked() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.was
}

// retrySafe is the scheduler's RetrySafe for a placement: before a try whose outcome was
// unknown is retried, query the key. Found: not safe, and the found order is the answer.
// Not found: not safe either, since the scheduler asks right after the try, while the exchange
// may still accept it (its timestamp plus recvWindow has not passed); the scheduler gives the
// unknown outcome back and submit waits that window out before it believes "not found".
// Undecidable: not safe.
func (m *Manager) retrySafe(symbol, key string, p *probe) scheduler.RetrySafeFunc {
	return func(ctx context.Context, _ scheduler.Outcome) (bool, error) {
		o, err := m.ex.QueryOrder(ctx, symbol, key, adapters.WithPriority(settlePriority))
		switch {
		case err == nil:
			p.record(o, true)
			return false, nil
		case errors.Is(err, adapters.ErrOrderNotFound):
			p.record(adapters.Order{}, false)
			return false, nil
		}
		p.record(adapters.Order{}, false)
		return false, err
	}
}

// query asks the exchange for an order by key, up to Config.ResolveQueries times while the
// answer is neither the order nor adapters.ErrOrderNotFound. Each query is retried by the
// scheduler too, with its backoff.
func (m *Manager) query(ctx context.Context, symbol, key string) (adapters.Order, error) {
	var err error
	for range m.cfg.ResolveQueries {
		var o adapters.Order
		o, err = m.ex.QueryOrder(ctx, symbol, key, adapters.WithPriority(settlePriority))
		if err == nil || errors.Is(err, adapters.ErrOrderNotFound) || ctx.Err() != nil {
			return o, err
		}
	}
	return adapters.Order{}, err
}

// acked records an order the exchange holds.
func (m *Manager) acked(ctx context.Context, o adapters.Order) (adapters.Order, error) {
	m.metrics.inc(m.metrics.Placed, o.Symbol)
	if o.Status == "" || o.Status == adapters.StatusUnknown {
		o.Status = adapters.StatusNew
	}
	cur, _ := m.observe(ctx, SourcePlace, o, nil, nil)
	return cur, nil
}

// rejected records a placement the exchange refused or that never left.
func (m *Manager) rejected(ctx context.Context, req adapters.OrderRequest, err error) (adapters.Order, error) {
	m.metrics.inc(m.metrics.Rejected, req.Symbol)
	err = fmt.Errorf("orders: place %s on %s: %w", req.ClientOrderID, req.Symbol, err)
	cur, _ := m.observe(ctx, SourcePlace, requestOrder(req, adapters.StatusRejected), nil, err)
	return cur, err
}

// unknown records a placement whose outcome could not be settled, and reports it.
func (m *Manager) unknown(ctx context.Context, req adapters.OrderRequest, err, qerr error) (adapters.Order, error) {
	uerr := &UnknownOutcomeError{ClientOrderID: req.ClientOrderID, Symbol: req.Symbol, Err: err, Query: qerr}
	m.metrics.inc(m.metrics.UnknownOutcome, req.Symbol)
	m.log.Warn().Str("idempotency_key", req.ClientOrderID).Str("symbol", req.Symbol).AnErr("error", err).
		AnErr("query_error", qerr).Msg("orders: placement outcome unknown; left to reconciliation")
	cur, _ := m.observe(ctx, SourcePlace, requestOrder(req, adapters.StatusUnknown), nil, uerr)
	return cur, uerr
}
