package adapters

import (
	"time"

	"github.com/shopspring/decimal"
)

// Side is the side of an order.
type Side string

const (
	Buy  Side = "BUY"
	Sell Side = "SELL"
)

// OrderType is the type of an order.
type OrderType string

const (
	Limit      OrderType = "LIMIT"
	Market     OrderType = "MARKET"
	LimitMaker OrderType = "LIMIT_MAKER"
)

// TimeInForce says how long a limit order stays on the book.
type TimeInForce string

const (
	GTC TimeInForce = "GTC"
	IOC TimeInForce = "IOC"
	FOK TimeInForce = "FOK"
)

// OrderStatus is an order's state at the exchange.
type OrderStatus string

const (
	StatusNew             OrderStatus = "NEW"
	StatusPartiallyFilled OrderStatus = "PARTIALLY_FILLED"
	StatusFilled          OrderStatus = "FILLED"
	StatusCanceled        OrderStatus = "CANCELED"
	StatusRejected        OrderStatus = "REJECTED"
	StatusExpired         OrderStatus = "EXPIRED"
	// StatusUnknown is Keel's own: the outcome of a placement is not known yet.
	StatusUnknown OrderStatus = "UNKNOWN"
)

// Final reports whether no further change can happen to an order in this status.
func (s OrderStatus) Final() bool {
	switch s {
	case StatusFilled, StatusCanceled, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// OrderRequest is a new order as sent to the exchange: already validated and rounded to the
// symbol's filters by the orders manager.
type OrderRequest struct {
	Symbol      string
	Side        Side
	Type        OrderType
	TimeInForce TimeInForce // limit orders only
	Quantity    decimal.Decimal
	Price       decimal.Decimal // zero for market orders
	// ClientOrderID is the idempotency key; every retry of one intent reuses it.
	ClientOrderID string
}

// Order is an order as the exchange reports it.
type Order struct {
	Symbol          string
	ClientOrderID   string
	ExchangeOrderID string
	Side            Side
	Type            OrderType
	TimeInForce     TimeInForce
	Price           decimal.Decimal
	Quantity        decimal.Decimal
	ExecutedQty     decimal.Decimal
	CumulativeQuote decimal.Decimal
	Status          OrderStatus
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Balance is one asset of the account.
type Balance struct {
	Asset  string
	Free   decimal.Decimal
	Locked decimal.Decimal
}

// Ticker is a symbol's last price.
type Ticker struct {
	Symbol string
	Price  decimal.Decimal
}

// BookTicker is the best bid and ask of a symbol.
type BookTicker struct {
	Symbol   string
	BidPrice decimal.Decimal
	BidQty   decimal.Decimal
	AskPrice decimal.Decimal
	AskQty   decimal.Decimal
}

// Level is one price level of an order book.
type Level struct {
	Price    decimal.Decimal
	Quantity decimal.Decimal
}

// Book is an order book snapshot. Bids are sorted best (highest) first, asks best (lowest) first.
type Book struct {
	Symbol       string
	LastUpdateID int64
	Bids         []Level
	Asks         []Level
}

// Fill is one trade of the account.
type Fill struct {
	Symbol          string
	TradeID         int64
	ExchangeOrderID string
	Price           decimal.Decimal
	Quantity        decimal.Decimal
	QuoteQuantity   decimal.Decimal
	Commission      decimal.Decimal
	CommissionAsset string
	IsBuyer         bool
	IsMaker         bool
	Time            time.Time
}

// SymbolInfo is a tradable symbol and its filters. A zero filter value means the exchange
// sets no such limit.
type SymbolInfo struct {
	Symbol      string
	Status      string // "TRADING" when orders are accepted
	BaseAsset   string
	QuoteAsset  string
	TickSize    decimal.Decimal
	MinPrice    decimal.Decimal
	MaxPrice    decimal.Decimal
	StepSize    decimal.Decimal
	MinQty      decimal.Decimal
	MaxQty      decimal.Decimal
	MinNotional decimal.Decimal
	MaxNotional decimal.Decimal
}

// RateLimit is a limit the exchange announces (Binance exchangeInfo "rateLimits").
type RateLimit struct {
	// Window is the scheduler window name ("REQUEST_WEIGHT_1M", "ORDERS_10S", "ORDERS_1D", ...).
	Window   string
	Kind     string // "REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS"
	Interval time.Duration
	Limit    int64
}

// ExchangeInfo is the exchange's trading rules.
type ExchangeInfo struct {
	ServerTime time.Time
	Symbols    []SymbolInfo
	RateLimits []RateLimit
}

// Symbol returns the symbol's info and whether it is listed.
func (e ExchangeInfo) Symbol(name string) (SymbolInfo, bool) {
	for _, s := range e.Symbols {
		if s.Symbol == name {
			return s, true
		}
	}
	return SymbolInfo{}, false
}

// CommissionRates are fractions of a trade's amount (0.001 is 0.1%). A fill pays Maker or
// Taker by its role plus Buyer or Seller by its side, on the amount it receives (Binance's
// commission FAQ: "the received amount is multiplied with the sum of the rates").
type CommissionRates struct {
	Maker, Taker, Buyer, Seller decimal.Decimal
}

// Rate is the rate a fill of that role and side pays: (Maker or Taker) + (Buyer or Seller).
func (r CommissionRates) Rate(maker bool, side Side) decimal.Decimal {
	role := r.Taker
	if maker {
		role = r.Maker
	}
	if side == Sell {
		return role.Add(r.Seller)
	}
	return role.Add(r.Buyer)
}

// FeeDiscount is the reduction of the standard commission when it is paid in another asset
// (Binance: BNB). It applies only when both EnabledForAccount and EnabledForSymbol are set.
type FeeDiscount struct {
	EnabledForAccount bool
	EnabledForSymbol  bool
	Asset             string
	// Rate is the discount rate as the exchange reports it. Binance's commission FAQ
	// computes the discounted standard commission as standard commission × Rate; tax and
	// special commissions are never discounted.
	Rate decimal.Decimal
}

// Applies reports whether the discount is in force for the symbol.
func (d FeeDiscount) Applies() bool { return d.EnabledForAccount && d.EnabledForSymbol }

// TradingFees are the account's commission rates on one symbol (Binance
// GET /api/v3/account/commission). The three kinds add up; only Standard is discounted.
type TradingFees struct {
	Symbol   string
	Standard CommissionRates // on every trade
	Tax      CommissionRates // on top, where a tax applies
	Special  CommissionRates // on top, in specific circumstances
	Discount FeeDiscount
}

// Rate is the full rate a fill of that role and side pays when no discount applies:
// Standard + Tax + Special.
func (f TradingFees) Rate(maker bool, side Side) decimal.Decimal {
	return f.Standard.Rate(maker, side).Add(f.Tax.Rate(maker, side)).Add(f.Special.Rate(maker, side))
}

// Account is the account's standing (Binance GET /api/v3/account).
type Account struct {
	// CanTrade is false when the exchange refuses every order and cancel of the account.
	CanTrade    bool
	CanWithdraw bool
	CanDeposit  bool
	// Type is the account type ("SPOT").
	Type string
	// Permissions are the account's permissions as the exchange lists them ("SPOT", ...).
	Permissions []string
	// Commission is the account-wide default; TradingFees has the per-symbol rates.
	Commission CommissionRates
	Balances   []Balance
	// UpdatedAt is when the exchange last changed the account (zero if it does not say).
	UpdatedAt time.Time
}

// Permitted reports whether permission p (e.g. "SPOT") is among Permissions.
func (a Account) Permitted(p string) bool {
	for _, x := range a.Permissions {
		if x == p {
			return true
		}
	}
	return false
}
