package adapters

import (
	"context"
	"errors"

	"github.com/keelbot/keel/scheduler"
)

// ErrOrderNotFound is returned by QueryOrder and CancelOrder when the exchange answers that it
// does not know the order. For a query by client order id it is the proof that a placement did
// not land, which makes a resend with the same key safe.
var ErrOrderNotFound = errors.New("adapters: order not found")

// LastingClientIDs is implemented by an adapter whose exchange keeps a client order id as a
// lasting idempotency key: a create repeating an id it already holds is answered with the
// original order, never a second one (Coinbase Advanced Trade's client_order_id). On such an
// exchange the identical create — same intent, same id — settles an unknown outcome as well as
// a lookup does, and cannot duplicate. The orders manager's start-up reconciliation resends it
// for an entry whose journalled send deadline has not passed (orders.Manager.Reconcile). It is
// optional and looked for on the adapter itself: a wrapper that forwards PlaceOrder to the
// adapter forwards it too (adapters/sim.Embedded), one that does not (adapters/paper) must not.
type LastingClientIDs interface {
	// LastingClientIDs reports whether a repeated create returns the original order.
	LastingClientIDs() bool
}

// Exchange is the contract every exchange adapter implements. Every method that talks to the
// exchange goes through the adapter's scheduler; errors are the scheduler's (*scheduler.Error,
// *scheduler.BreakerOpenError, scheduler.ErrShed, ...) or wrap them, so scheduler.ClassOf works
// on any of them. Implementations are safe for concurrent use.
type Exchange interface {
	// Name is the exchange's short name for logs ("binance", "sim").
	Name() string

	// ExchangeInfo returns symbols, filters and rate limits, and teaches the scheduler the limits.
	ExchangeInfo(ctx context.Context, opts ...CallOption) (ExchangeInfo, error)
	Ticker(ctx context.Context, symbol string, opts ...CallOption) (Ticker, error)
	BookTicker(ctx context.Context, symbol string, opts ...CallOption) (BookTicker, error)
	Depth(ctx context.Context, symbol string, limit int, opts ...CallOption) (Book, error)

	Balances(ctx context.Context, opts ...CallOption) ([]Balance, error)
	// PlaceOrder places req under req.ClientOrderID at orders priority. An error for which
	// errors.Is(err, scheduler.ErrUnknownOutcome) means the order may or may not exist.
	PlaceOrder(ctx context.Context, req OrderRequest, opts ...CallOption) (Order, error)
	// QueryOrder fetches an order by its client order id; ErrOrderNotFound if the exchange
	// does not know it.
	QueryOrder(ctx context.Context, symbol, clientOrderID string, opts ...CallOption) (Order, error)
	// CancelOrder cancels by client order id at critical priority.
	CancelOrder(ctx context.Context, symbol, clientOrderID string, opts ...CallOption) (Order, error)
	// OpenOrders lists open orders of one symbol, or of all symbols when symbol is "".
	OpenOrders(ctx context.Context, symbol string, opts ...CallOption) ([]Order, error)
	// Trades lists the account's fills of a symbol with trade id >= fromID (0: the most recent).
	Trades(ctx context.Context, symbol string, fromID int64, opts ...CallOption) ([]Fill, error)

	// Streamer: market and user data streams (adapters without them embed NoStreams).
	Streamer
}

// AccountReader is the part of the contract that reads what a runtime caches beside
// ExchangeInfo, with a time to live: the account's trading fees per symbol and its standing
// (may it trade, withdraw, deposit; its permissions). Each call costs exchange weight, so read
// them on a timer, not per order. It is an interface of its own so that exchanges (and fakes)
// that cannot answer still satisfy Exchange; callers type-assert:
//
//	if ar, ok := ex.(adapters.AccountReader); ok {
//		fees, err := ar.TradingFees(ctx, "BTCUSDT")
//	}
//
// Both calls run at background priority unless WithPriority says otherwise. Implementations
// are safe for concurrent use; adapters/binance.Client implements it.
type AccountReader interface {
	// TradingFees returns the account's commission rates on symbol.
	TradingFees(ctx context.Context, symbol string, opts ...CallOption) (TradingFees, error)
	// Account returns the account's standing and balances.
	Account(ctx context.Context, opts ...CallOption) (Account, error)
}

// CallOptions are per-call settings an adapter passes on to the scheduler.
type CallOptions struct {
	// Priority overrides the call's default priority when HasPriority is set.
	Priority    scheduler.Priority
	HasPriority bool
	// RetrySafe lets the scheduler retry a write after an unknown outcome once it returns true.
	RetrySafe scheduler.RetrySafeFunc
}

// CallOption sets a CallOptions field.
type CallOption func(*CallOptions)

// WithPriority runs the call at p instead of its default priority.
func WithPriority(p scheduler.Priority) CallOption {
	return func(o *CallOptions) { o.Priority, o.HasPriority = p, true }
}

// WithRetrySafe lets the scheduler retry a write after an unknown outcome when f proves the
// first try did not land.
func WithRetrySafe(f scheduler.RetrySafeFunc) CallOption {
	return func(o *CallOptions) { o.RetrySafe = f }
}

// ApplyCallOptions folds opts into a CallOptions, for adapter implementations.
func ApplyCallOptions(opts []CallOption) CallOptions {
	var o CallOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// PriorityOr returns the overriding priority if one was set, else def.
func (o CallOptions) PriorityOr(def scheduler.Priority) scheduler.Priority {
	if o.HasPriority {
		return o.Priority
	}
	return def
}
