package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/ledger"
	"github.com/keelbot/keel/orders"
)

// What on_strategy_failure may say.
const (
	// FailureCancel cancels a dead strategy's open orders; the other strategies go on.
	FailureCancel = "cancel"
	// FailureHalt also trips the kill switch, naming the strategy.
	FailureHalt = "halt"
)

// ErrStrategyDead is returned by Place for a strategy that died (panicked, or its Start
// failed): its orders are being pulled, and nothing it left running may place more.
var ErrStrategyDead = errors.New("runtime: strategy is dead")

// pullState is how the pulling of a dead strategy's orders goes.
type pullState struct {
	failure failure
	open    int    // its orders still open after the last pass
	pulled  bool   // a pass ended with none open
	err     string // the last pass's failure, redacted by the scheduler
}

// strategyFailed runs on the dead strategy's goroutine, once: it trips the kill switch if
// on_strategy_failure says halt, and starts pulling the strategy's open orders.
func (l *Loop) strategyFailed(name string, f failure) {
	l.mu.Lock()
	ctx := l.runCtx
	stopping := ctx == nil || ctx.Err() != nil
	if !stopping {
		l.pulls[name] = &pullState{failure: f, open: -1}
	}
	l.mu.Unlock()
	if stopping {
		return // shutdown is under way; shutdown.cancel_open_orders decides
	}
	if l.cfg.OnStrategyFailure == FailureHalt {
		why := fmt.Sprintf("strategy %s died during %s: %s", name, f.During, f.Why)
		if err := l.sw.TripAuto(ctx, why); err != nil {
			l.log.Error().Err(err).Msg("could not record the kill switch trip after a strategy died; this process is halted anyway")
		}
	}
	l.background(ctx, func(ctx context.Context) { l.pullOrders(ctx, name) })
}

// strategyDead reports whether the strategy name died.
func (l *Loop) strategyDead(name string) bool {
	l.mu.Lock()
	r := l.runners[name]
	l.mu.Unlock()
	return r != nil && r.failure() != nil
}

// pullOrders cancels the open orders of the dead strategy name at critical priority, and
// tries again, with a growing pause, while a cancel fails: the orders of a strategy that can
// no longer manage them must not rest or fill unattended.
func (l *Loop) pullOrders(ctx context.Context, name string) {
	delay := time.Second
	for {
		open := l.orders.Open(name)
		var errs []error
		for _, o := range open {
			err := l.orders.Cancel(ctx, o.Symbol, o.ClientOrderID)
			if err != nil && !errors.Is(err, adapters.ErrOrderNotFound) && !errors.Is(err, orders.ErrNotOpen) {
				errs = append(errs, err)
			}
		}
		left := len(l.orders.Open(name))
		err := errors.Join(errs...)
		l.mu.Lock()
		st := l.pulls[name]
		st.open, st.pulled, st.err = left, err == nil, ""
		if err != nil {
			st.err = err.Error()
		}
		l.mu.Unlock()
		if err == nil {
			l.log.Warn().Str("strategy", name).Int("cancelled", len(open)-left).Int("open", left).
				Msg("dead strategy's open orders cancelled (on_strategy_failure)")
			return
		}
		if ctx.Err() != nil {
			return
		}
		l.log.Error().Err(err).Str("strategy", name).Int("open", left).Dur("retry_in", delay).
			Msg("could not cancel every open order of a dead strategy; trying again")
		if !clock.Sleep(ctx, l.clk, jitter.Spread(l.rng, delay, 0.2)) {
			return
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// StrategyStatus is one strategy in /status.
type StrategyStatus struct {
	Name string `json:"name"`
	// State is running, or dead (it panicked, or its Start failed).
	State string `json:"state"`
	// OpenOrders is how many of its orders are open as the bot knows them; Orders lists them.
	OpenOrders int              `json:"open_orders"`
	Orders     []adapters.Order `json:"orders"`
	// Positions and PnL are its fills' ledger (package ledger), marked at the mid.
	Positions []ledger.Position `json:"positions"`
	PnL       ledger.PnL        `json:"pnl"`
	// For a dead strategy: when and how it died, and whether its orders were pulled.
	DiedAt       time.Time `json:"died_at,omitzero"`
	During       string    `json:"during,omitempty"`
	Error        string    `json:"error,omitempty"`
	OrdersPulled bool      `json:"orders_pulled,omitempty"`
	PullError    string    `json:"pull_error,omitempty"`
}

// strategies returns every started strategy's status, by name.
func (l *Loop) strategies() []StrategyStatus {
	l.mu.Lock()
	var out []StrategyStatus
	for _, d := range l.defs {
		r := l.runners[d.Name]
		if r == nil {
			continue
		}
		st := StrategyStatus{Name: d.Name, State: "running"}
		if f := r.failure(); f != nil {
			st.State, st.DiedAt, st.During, st.Error = "dead", f.At, f.During, f.Why
			if p := l.pulls[d.Name]; p != nil {
				st.OrdersPulled, st.PullError = p.pulled, p.err
			}
		}
		out = append(out, st)
	}
	l.mu.Unlock()
	// Outside l.mu: the orders manager delivers updates through deliver, which takes it.
	for i := range out {
		out[i].Orders = l.orders.Open(out[i].Name)
		if out[i].Orders == nil {
			out[i].Orders = []adapters.Order{}
		}
		out[i].OpenOrders = len(out[i].Orders)
		out[i].Positions = []ledger.Position{}
		if l.fills != nil {
			out[i].Positions = l.fills.l.Positions(out[i].Name)
			out[i].PnL = ledger.Sum(out[i].Positions)
		}
	}
	return out
}

// provenFlat returns nil when the journal proves that no order of this bot may be live, and
// otherwise an error naming the orders that may be (or saying the journal could not be
// read). The shutdown asks it when it could not cancel: a stop before reconciliation ended.
func (l *Loop) provenFlat(ctx context.Context) error {
	ids, err := l.mayBeLive(ctx)
	if err != nil {
		return fmt.Errorf("runtime: stopped before reconciliation finished, and the journal could not be read: orders may be live: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	return fmt.Errorf("runtime: stopped before reconciliation finished: the journal knows of %d order(s) that may be live: %s",
		len(ids), shownIDs(ids))
}

// flatAfterFailedCancel decides the exit code of a shutdown whose cancel-all failed (the open
// orders could not be listed, say through the open auth breaker after the key was refused, or
// a cancel failed): from the journal and the orders this process still tracks. It returns
// nil, after a warning saying so, when they prove no order of this bot open; otherwise an
// error naming the client order ids that may be live, logged at error with them.
func (l *Loop) flatAfterFailedCancel(ctx context.Context, cancelErr error) error {
	ids, err := l.mayBeLive(ctx)
	if err != nil {
		l.log.Error().Err(err).AnErr("cancel_error", cancelErr).
			Msg("shutdown: cancelling open orders failed and the journal could not be read: orders may be live")
		return fmt.Errorf("runtime: cancelling open orders on shutdown: %w; and the journal could not be read, so orders may be live: %v", cancelErr, err)
	}
	if len(ids) == 0 {
		l.log.Warn().AnErr("cancel_error", cancelErr).
			Msg("shutdown: cancelling open orders failed, but the journal proves no order of this bot open: exit 0")
		return nil
	}
	l.log.Error().AnErr("cancel_error", cancelErr).Strs("client_order_ids", ids).
		Msgf("shutdown: %d order(s) may still be live at the exchange: restart so reconciliation settles them, and look", len(ids))
	return fmt.Errorf("runtime: cancelling open orders on shutdown: %w; %d order(s) may be live: %s", cancelErr, len(ids), shownIDs(ids))
}

// mayBeLive returns the client order ids of this bot (in a fleet, this instance) that the
// journal cannot prove final (sent, unknown or acknowledged; a reserved entry was never
// sent), with any order the manager still tracks as open, sorted.
func (l *Loop) mayBeLive(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	if l.orders != nil {
		for _, o := range l.orders.Open("") {
			if !o.Status.Final() {
				seen[o.ClientOrderID] = true
			}
		}
	}
	if l.journal != nil {
		// The local journal is read even when the shutdown's time is spent: the exit code
		// depends on it.
		jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		// Reserved entries were never sent (sent is journalled before the request leaves).
		entries, err := l.journal.List(jctx, idempotency.StateSent, idempotency.StateUnknown, idempotency.StateAcked)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if l.fleet == nil || e.OwnerInstance() == l.cfg.Bot.InstanceID {
				seen[e.Key] = true
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// shownIDs lists at most ten ids for a message, saying how many more there are.
func shownIDs(ids []string) string {
	if len(ids) <= 10 {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:10], ", ") + fmt.Sprintf(" and %d more", len(ids)-10)
}
