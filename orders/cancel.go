package orders

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/keelbot/keel/adapters"
)

// Cancel cancels an order by its client order id at critical priority (it passes a tripped
// kill switch) and returns the order as now known. An order the exchange no longer has open
// is queried: already cancelled or expired is success, already filled is ErrNotOpen, and an
// order the exchange does not know at all is adapters.ErrOrderNotFound.
func (m *Manager) Cancel(ctx context.Context, symbol, clientOrderID string) (adapters.Order, error) {
	o, err := m.ex.CancelOrder(ctx, symbol, clientOrderID, adapters.WithPriority(cancelPriority))
	rctx, cancel := m.resolveCtx(ctx)
	defer cancel()
	if err == nil {
		cur, _ := m.observe(rctx, SourceCancel, o, nil, nil)
		return cur, nil
	}
	if !errors.Is(err, adapters.ErrOrderNotFound) {
		return adapters.Order{}, fmt.Errorf("orders: cancel %s on %s: %w", clientOrderID, symbol, err)
	}
	q, qerr := m.ex.QueryOrder(rctx, symbol, clientOrderID, adapters.WithPriority(settlePriority))
	if qerr != nil {
		return adapters.Order{}, fmt.Errorf("orders: cancel %s on %s: %w", clientOrderID, symbol, err)
	}
	cur, _ := m.observe(rctx, SourceCancel, q, nil, nil)
	switch q.Status {
	case adapters.StatusCanceled, adapters.StatusExpired, adapters.StatusRejected:
		return cur, nil
	case adapters.StatusFilled:
		return cur, fmt.Errorf("orders: cancel %s on %s: already filled: %w", clientOrderID, symbol, ErrNotOpen)
	}
	// Open after all (the cancel raced the placement): the caller may try again.
	return cur, fmt.Errorf("orders: cancel %s on %s: %w", clientOrderID, symbol, err)
}

// cancelWorkers bounds CancelAll's concurrent cancels; the scheduler's bucket caps bound them
// further.
const cancelWorkers = 4

// CancelAll cancels every order of this instance that is not final, at critical priority: the
// orders the manager tracks (UNKNOWN ones included) and any open order on the exchange that is
// this instance's to adopt (its client id carries this bot's prefix and, in a fleet, this
// instance's tag or that of an instance it took over: one instance stopping never pulls the
// others' orders). It is what the kill switch's flattening and shutdown call. It returns the
// failures joined; an order already gone is not a failure.
func (m *Manager) CancelAll(ctx context.Context) error {
	type target struct{ symbol, key string }
	seen := map[string]bool{}
	var targets []target
	for _, o := range m.Open("") {
		seen[o.ClientOrderID] = true
		targets = append(targets, target{o.Symbol, o.ClientOrderID})
	}
	var errs []error
	open, err := m.ex.OpenOrders(ctx, "", adapters.WithPriority(cancelPriority))
	if err != nil {
		errs = append(errs, fmt.Errorf("orders: cancel all: open orders: %w", err))
	}
	for _, o := range open {
		if !seen[o.ClientOrderID] && m.adoptable(o.ClientOrderID) {
			seen[o.ClientOrderID] = true
			targets = append(targets, target{o.Symbol, o.ClientOrderID})
		}
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		next = make(chan target)
	)
	for range min(cancelWorkers, len(targets)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range next {
				_, err := m.Cancel(ctx, t.symbol, t.key)
				if err != nil && !errors.Is(err, adapters.ErrOrderNotFound) && !errors.Is(err, ErrNotOpen) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, t := range targets {
		next <- t
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}
