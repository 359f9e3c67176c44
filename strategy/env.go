package strategy

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/ledger"
	"github.com/keelbot/keel/orders"
)

// ConfigSection decodes a strategy's own config section (strategies.<name>) into a struct,
// refusing unknown keys and wrong types with an error that names the key.
type ConfigSection interface {
	Decode(into any) error
}

// Env is everything a strategy gets from the runtime. All of it is safe for concurrent use.
type Env struct {
	// Name is the strategy's name as given to Module.
	Name string
	// Log is the strategy's logger (every event carries strategy=<name>).
	Log zerolog.Logger
	// Config is the strategy's own config section.
	Config ConfigSection
	// Orders places and cancels this strategy's orders.
	Orders Orders
	// Market gives quotes and symbol rules.
	Market Market
	// Portfolio is the account's balances, refreshed in the background, and this strategy's
	// positions and PnL, built from its fills.
	Portfolio Portfolio
}

// Intent is an order a strategy wants: Symbol, Side, Type, TimeInForce (default GTC for limit
// orders), Quantity and Price (limit orders only). The orders manager rounds the price to the
// symbol's tick and the quantity down to its step, checks the filters, and refuses anything
// invalid (a *ValidationError) before a byte is sent. Leave its Strategy field empty: the
// runtime fills in the placing strategy's name.
//
// It is the orders manager's own type (one Intent in Keel, not a copy per layer); the journal
// keeps it, rounded, as an idempotency.IntentRecord.
type Intent = orders.Intent

// Orders is a strategy's order API. Every order carries an idempotency key journalled before
// it is sent, so a retry, a timeout or a crash never places it twice.
type Orders interface {
	// Place sends the intent at orders priority and returns the order as the exchange
	// acknowledged it. Its errors (see ErrHalted and the others beside it): ErrHalted while
	// the kill switch is tripped, nothing sent; a *ValidationError (ErrInvalidIntent) for an
	// intent the symbol's filters refuse, nothing sent; ErrUnknownOutcome when the outcome is
	// not known yet: an OrderUpdate will tell, never place it again yourself. After any other
	// error no order is live for the intent.
	Place(ctx context.Context, in Intent) (adapters.Order, error)
	// Cancel cancels one of the strategy's orders at critical priority (cancels pass a tripped
	// kill switch). An order already cancelled or expired is success; one already filled is
	// ErrNotOpen; one the exchange does not know is adapters.ErrOrderNotFound.
	Cancel(ctx context.Context, symbol, clientOrderID string) error
	// Open returns the strategy's live orders as last known.
	Open() []adapters.Order
}

// Market gives market data and symbol rules.
type Market interface {
	// Subscribe asks for Quote and Trade events of these symbols. Subscribe in the
	// constructor when you can: a symbol added later restarts the market stream once.
	Subscribe(symbols ...string)
	// Quote returns the latest quote of a subscribed symbol, and false if none arrived yet or
	// the data is stale.
	Quote(symbol string) (Quote, bool)
	// Book returns the best depth levels per side of a subscribed symbol's order book, kept
	// locally from the depth stream (no REST call), and false while that book is not in sync
	// (stream down, resyncing) or market.streams is off.
	Book(symbol string, depth int) (adapters.Book, bool)
	// Symbol returns a symbol's trading rules (tick, step, min notional), cached.
	Symbol(ctx context.Context, symbol string) (adapters.SymbolInfo, error)
	// Fees returns the account's commission rates on symbol, cached for market.info_ttl;
	// strategies asking at once share one request.
	Fees(ctx context.Context, symbol string) (adapters.TradingFees, error)
	// Candles returns the last n closed candles (1 <= n <= 1000) of symbol at interval
	// ("1s", "1m", ..., "1M": adapters.Intervals), oldest first; fewer when the market has
	// less history. The first call reads the series over REST (one call, shared by strategies
	// asking at once); the runtime then keeps it current from the exchange's kline stream, so
	// later calls cost nothing, and it subscribes this strategy to a Candle event at each
	// close. An exchange adapter without candles answers an error matching
	// adapters.ErrNoCandles.
	Candles(ctx context.Context, symbol string, interval adapters.Interval, n int) ([]Candle, error)
}

// Portfolio is the account as last refreshed.
type Portfolio interface {
	// Balance returns one asset's balance (zero if the account holds none).
	Balance(asset string) adapters.Balance
	// Balances returns every asset with a non-zero balance.
	Balances() []adapters.Balance
	// Account returns the account's standing — may it trade, its permissions — and balances,
	// as last refreshed (portfolio.refresh_interval); false if the exchange cannot tell.
	Account() (adapters.Account, bool)
	// Position returns this strategy's position on symbol, built from its own fills (order
	// updates at once, the exchange's trades for the fees; see package ledger), marked at the
	// symbol's mid; a zero Position before its first fill. It survives restarts.
	Position(symbol string) Position
	// PnL sums this strategy's positions: realized, unrealized, fees, net, in the quote asset.
	PnL() PnL
}

// Position is a strategy's position on one symbol: signed quantity in the base asset,
// average entry, realized and unrealized PnL and fees in the quote asset (ledger.Position).
type Position = ledger.Position

// PnL is the sum of a strategy's positions (ledger.PnL).
type PnL = ledger.PnL
