package kraken

import (
	"net/http"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// Scheduler window names.
const (
	// WindowREST is the key's REST call counter: +1 a call, +2 for ledger and trade history,
	// AddOrder and CancelOrder not counted (spot-rest-ratelimits).
	WindowREST = "KRAKEN_REST"
	// WindowPublic is the public endpoints' counter per IP. Kraken documents no number; the
	// adapter assumes one like the REST counter (publicMax, draining publicDecay per second).
	WindowPublic = "KRAKEN_PUBLIC"
	// WindowTradePrefix + a pair id names that pair's trading-engine counter
	// (spot-ratelimits): AddOrder +1, a cancel +8 down to 0 by the order's age.
	WindowTradePrefix = "KRAKEN_TRADE_"
)

// The public counter the adapter assumes (a guess: the docs give no number).
const (
	publicMax   = 15
	publicDecay = 1.0
)

// Scheduler bucket names.
const (
	BucketOrders  = "orders"  // private: AddOrder, CancelOrder
	BucketAccount = "account" // private reads
	BucketMarket  = "market"  // public
)

// endpoint describes one call to the scheduler. The REST counter costs are Kraken's
// (spot-rest-ratelimits): 1 a call, 2 for TradesHistory; AddOrder and CancelOrder are on the
// trading-engine counter instead (the pair's window, charged per call).
type endpoint struct {
	path     string
	method   string
	private  bool
	write    bool
	cancel   bool
	bucket   string
	priority scheduler.Priority
	restCost int64 // on WindowREST (private) or WindowPublic (public)
}

// GET  /0/public/Time            public 1 (assumed)
// GET  /0/public/Assets          public 1 (assumed)
// GET  /0/public/AssetPairs      public 1 (assumed)
// GET  /0/public/Ticker          public 1 (assumed)
// GET  /0/public/Depth           public 1 (assumed)
// POST /0/private/BalanceEx      REST 1
// POST /0/private/AddOrder       trading +1 on the pair
// POST /0/private/CancelOrder    trading +8..0 by the order's age
// POST /0/private/OpenOrders     REST 1
// POST /0/private/ClosedOrders   REST 1 (the docs do not say whether it is "ledger/trade
//
//	history"; the simulator agrees on 1)
//
// POST /0/private/QueryOrders    REST 1
// POST /0/private/TradesHistory  REST 2
// POST /0/private/TradeVolume    REST 1
var (
	epTime          = endpoint{path: "/0/public/Time", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground, restCost: 1}
	epAssets        = endpoint{path: "/0/public/Assets", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground, restCost: 1}
	epAssetPairs    = endpoint{path: "/0/public/AssetPairs", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground, restCost: 1}
	epTicker        = endpoint{path: "/0/public/Ticker", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket, restCost: 1}
	epDepth         = endpoint{path: "/0/public/Depth", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket, restCost: 1}
	epBalanceEx     = endpoint{path: "/0/private/BalanceEx", method: http.MethodPost, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, restCost: 1}
	epAddOrder      = endpoint{path: "/0/private/AddOrder", method: http.MethodPost, private: true, write: true, bucket: BucketOrders, priority: scheduler.PriorityOrders}
	epCancelOrder   = endpoint{path: "/0/private/CancelOrder", method: http.MethodPost, private: true, write: true, cancel: true, bucket: BucketOrders, priority: scheduler.PriorityCritical}
	epOpenOrders    = endpoint{path: "/0/private/OpenOrders", method: http.MethodPost, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, restCost: 1}
	epClosedOrders  = endpoint{path: "/0/private/ClosedOrders", method: http.MethodPost, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, restCost: 1}
	epQueryOrders   = endpoint{path: "/0/private/QueryOrders", method: http.MethodPost, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, restCost: 1}
	epTradesHistory = endpoint{path: "/0/private/TradesHistory", method: http.MethodPost, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, restCost: 2}
	epTradeVolume   = endpoint{path: "/0/private/TradeVolume", method: http.MethodPost, private: true, bucket: BucketAccount, priority: scheduler.PriorityBackground, restCost: 1}
)

// costs is what one attempt of ep consumes, besides a trading call's pair window.
func (ep endpoint) costs() []scheduler.Cost {
	switch {
	case ep.restCost == 0:
		return nil
	case ep.private:
		return []scheduler.Cost{{Window: WindowREST, Amount: ep.restCost}}
	}
	return []scheduler.Cost{{Window: WindowPublic, Amount: ep.restCost}}
}

// CancelCost is the trading-engine cost of cancelling an order that has rested for age
// (spot-ratelimits, "Cancel Order"): +8 under 5 s, +6 under 10 s, +5 under 15 s, +4 under
// 45 s, +2 under 90 s, +1 under 300 s, nothing after.
func CancelCost(age time.Duration) int64 {
	switch {
	case age < 5*time.Second:
		return 8
	case age < 10*time.Second:
		return 6
	case age < 15*time.Second:
		return 5
	case age < 45*time.Second:
		return 4
	case age < 90*time.Second:
		return 2
	case age < 300*time.Second:
		return 1
	}
	return 0
}

// addOrderCost is AddOrder's fixed trading-engine cost.
const addOrderCost = 1

// Answer size bounds (rest.Call.MaxBody): every answer is read into memory before it is
// parsed, so the bound is what a hostile or broken answer can cost, sized to what the
// endpoint returns at its largest with a wide margin. A larger answer is malformed.
const (
	bodySmall = 64 << 10 // server time, one ticker, an order's placement or cancel
	bodyList  = 4 << 20  // a depth snapshot, balances, a page of orders or trades, fees
	bodyLarge = 16 << 20 // every asset and every pair's rules
)

// maxBody is ep's answer size bound.
func (ep endpoint) maxBody() int64 {
	switch ep.path {
	case epAssets.path, epAssetPairs.path:
		return bodyLarge
	case epDepth.path, epBalanceEx.path, epOpenOrders.path, epClosedOrders.path, epQueryOrders.path,
		epTradesHistory.path, epTradeVolume.path:
		return bodyList
	}
	return bodySmall
}
