package orders

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
)

// Refresh polls the exchange for every order the manager tracks that is not final, at account
// priority: each symbol's open orders, then a query by client id for each tracked order no
// longer open (it filled, was cancelled or expired). Moves produce events, with the symbol's
// new trades attached when something filled. An UNKNOWN order the exchange still does not
// know once Config.SettleTime has passed since its last try could have been signed (when
// Place got its answer; for an entry Reconcile left unknown, the journal's bound) is resolved
// as never placed (REJECTED with ErrNotPlaced); it is never resent (see Reconcile for why).
// Open orders of this bot the manager did not track are adopted. Refresh returns the
// failures joined; what succeeded is applied.
func (m *Manager) Refresh(ctx context.Context) error {
	type live struct {
		key    string
		status adapters.OrderStatus
		sendBy time.Time
	}
	bySymbol := map[string][]live{}
	m.mu.Lock()
	for key, t := range m.orders {
		if t.order.Status != "" {
			bySymbol[t.order.Symbol] = append(bySymbol[t.order.Symbol], live{key, t.order.Status, t.sendBy})
		}
	}
	m.mu.Unlock()

	var errs []error
	for _, symbol := range sortedKeys(bySymbol) {
		open, err := m.ex.OpenOrders(ctx, symbol, adapters.WithPriority(pollPriority))
		if err != nil {
			errs = append(errs, fmt.Errorf("orders: refresh %s: open orders: %w", symbol, err))
			continue
		}
		isOpen := map[string]bool{}
		var reports []adapters.Order
		for _, o := range open {
			isOpen[o.ClientOrderID] = true
			reports = append(reports, o) // observe ignores orders that are not this bot's
		}
		var gone []string
		for _, l := range bySymbol[symbol] {
			if isOpen[l.key] {
				continue
			}
			o, err := m.ex.QueryOrder(ctx, symbol, l.key, adapters.WithPriority(pollPriority))
			switch {
			case err == nil:
				reports = append(reports, o)
			case !errors.Is(err, adapters.ErrOrderNotFound):
				errs = append(errs, fmt.Errorf("orders: refresh %s: query %s: %w", symbol, l.key, err))
			case l.status == adapters.StatusUnknown && m.settled(l.sendBy):
				gone = append(gone, l.key)
			case l.status != adapters.StatusUnknown:
				m.log.Warn().Str("client_order_id", l.key).Str("symbol", symbol).Str("status", string(l.status)).
					Msg("orders: the exchange no longer knows an order it had acknowledged")
			}
		}
		if _, err := m.applyReports(ctx, SourceRefresh, symbol, reports); err != nil {
			errs = append(errs, err)
		}
		for _, key := range gone {
			m.notPlaced(ctx, SourceRefresh, key)
		}
	}
	return errors.Join(errs...)
}

// settled reports whether a request whose last try was signed by sendBy can no longer land:
// Config.SettleTime (at least recvWindow plus clock skew) has passed since. A zero sendBy
// (not known) never settles.
func (m *Manager) settled(sendBy time.Time) bool {
	return !sendBy.IsZero() && !m.clock.Now().Before(sendBy.Add(m.cfg.SettleTime))
}

// notPlaced resolves a tracked order as never placed: REJECTED with ErrNotPlaced. It settles
// the intent and nothing more: the intent is not resent (see Reconcile).
func (m *Manager) notPlaced(ctx context.Context, src Source, key string) {
	m.mu.Lock()
	t, ok := m.orders[key]
	var o adapters.Order
	if ok {
		o = t.order
	}
	m.mu.Unlock()
	if !ok {
		return
	}
	o.ClientOrderID, o.Status = key, adapters.StatusRejected
	m.metrics.inc(m.metrics.Rejected, o.Symbol)
	// No move means a concurrent report showed the order live: then it was placed after all.
	m.observe(ctx, src, o, nil, ErrNotPlaced)
}

// applyReports feeds one symbol's fresh reports into the state machine. When any report shows
// more executed than the manager knew, the symbol's trades since the journalled cursor are
// fetched first and attached to the events of the orders they belong to, and the cursor
// moves past them. It returns how many trades were attached.
func (m *Manager) applyReports(ctx context.Context, src Source, symbol string, reports []adapters.Order) (int, error) {
	needFills := false
	m.mu.Lock()
	for _, o := range reports {
		known := decimal.Zero
		if t, ok := m.orders[o.ClientOrderID]; ok {
			known = t.order.ExecutedQty
		} else if m.done.has(o.ClientOrderID) || !m.adoptableLocked(o.ClientOrderID) {
			continue
		}
		if o.ExecutedQty.Cmp(known) > 0 {
			needFills = true
		}
	}
	m.mu.Unlock()

	var (
		byOrder map[string][]adapters.Fill
		last    int64
		err     error
	)
	if needFills {
		var fills []adapters.Fill
		fills, last, err = m.newFills(ctx, symbol)
		byOrder = map[string][]adapters.Fill{}
		for _, f := range fills {
			byOrder[f.ExchangeOrderID] = append(byOrder[f.ExchangeOrderID], f)
		}
	}
	attached := 0
	for _, o := range reports {
		var fills []adapters.Fill
		if o.ExchangeOrderID != "" {
			fills = byOrder[o.ExchangeOrderID]
		}
		if _, moved := m.observe(ctx, src, o, fills, nil); moved {
			attached += len(fills)
		}
	}
	if err == nil && last > 0 {
		if serr := m.store.SetCursor(ctx, tradeCursor(symbol), strconv.FormatInt(last, 10)); serr != nil {
			err = fmt.Errorf("orders: journal trade cursor of %s: %w", symbol, serr)
		}
	}
	return attached, err
}

// tradePage is the page size of Binance's myTrades without a limit parameter: a shorter page
// is the last one.
const tradePage = 500

// maxTradePages bounds one catch-up; the cursor keeps the rest for the next one.
const maxTradePages = 20

func tradeCursor(symbol string) string { return "trades/" + symbol }

// newFills returns the symbol's trades after the journalled cursor (the most recent ones when
// no cursor is set yet) and the new cursor value (0 when it stays).
func (m *Manager) newFills(ctx context.Context, symbol string) ([]adapters.Fill, int64, error) {
	name := tradeCursor(symbol)
	v, err := m.store.Cursor(ctx, name)
	if err != nil {
		return nil, 0, fmt.Errorf("orders: journal cursor %s: %w", name, err)
	}
	var after int64 = -1
	if v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return nil, 0, fmt.Errorf("orders: journal cursor %s: %q is not a trade id: %w", name, v, idempotency.ErrCorrupt)
		}
	}
	var out []adapters.Fill
	last := after
	for page := 0; page < maxTradePages; page++ {
		from := last + 1 // 0 when no cursor: the most recent trades
		fills, err := m.ex.Trades(ctx, symbol, from, adapters.WithPriority(pollPriority))
		if err != nil {
			return nil, 0, fmt.Errorf("orders: trades of %s from %d: %w", symbol, from, err)
		}
		for _, f := range fills {
			if f.TradeID > last {
				out = append(out, f)
			}
		}
		for _, f := range fills {
			last = max(last, f.TradeID)
		}
		if from == 0 || len(fills) < tradePage {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TradeID < out[j].TradeID })
	if last <= after {
		return out, 0, nil // nothing new: the cursor stays
	}
	return out, last, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
