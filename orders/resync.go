package orders

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelbot/keel/adapters"
)

// ResyncInFlight queries, by client order id at account priority, every order the manager
// tracks that is not final, and applies the answers (with the symbol's new trades when
// something filled). It is what a user-data stream's gap costs: one query per order in flight,
// nothing more: no open-orders listing, no adoption, no resolution of UNKNOWN orders (Refresh
// and reconciliation own those). In a fleet the manager tracks only this instance's orders
// (see Reconcile), so the other instances' orders the shared stream reported are not queried
// here. It returns the failures joined; what succeeded is applied.
func (m *Manager) ResyncInFlight(ctx context.Context) error {
	type live struct{ symbol, key string }
	var inFlight []live
	m.mu.Lock()
	for key, t := range m.orders {
		if t.order.Status != "" && t.order.Status != adapters.StatusUnknown && !t.order.Status.Final() {
			inFlight = append(inFlight, live{t.order.Symbol, key})
		}
	}
	m.mu.Unlock()
	bySymbol := map[string][]adapters.Order{}
	var errs []error
	for _, l := range inFlight {
		o, err := m.ex.QueryOrder(ctx, l.symbol, l.key, adapters.WithPriority(pollPriority))
		switch {
		case err == nil:
			bySymbol[l.symbol] = append(bySymbol[l.symbol], o)
		case errors.Is(err, adapters.ErrOrderNotFound):
			m.log.Warn().Str("client_order_id", l.key).Str("symbol", l.symbol).
				Msg("orders: resync: the exchange no longer knows an order it had acknowledged")
		default:
			errs = append(errs, fmt.Errorf("orders: resync %s: query %s: %w", l.symbol, l.key, err))
		}
	}
	for _, symbol := range sortedKeys(bySymbol) {
		if _, err := m.applyReports(ctx, SourceFeed, symbol, bySymbol[symbol]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
