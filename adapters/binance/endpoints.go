package binance

import (
	"net/http"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// Scheduler window names. Each names one of Binance's limit windows by what it counts; the
// interval in the name is Binance's production interval, and the actual interval is learned
// from exchangeInfo (a time-scaled simulator announces shorter ones).
const (
	WindowRequestWeight = "REQUEST_WEIGHT_1M" // per IP, weight per minute
	WindowRawRequests   = "RAW_REQUESTS_5M"   // per IP, requests per 5 minutes
	WindowOrders10s     = "ORDERS_10S"        // per account, unfilled orders per 10 s
	WindowOrders1d      = "ORDERS_1D"         // per account, unfilled orders per day
)

// Scheduler bucket names. Private buckets hold signed calls; the concurrency caps are the
// scheduler's configuration (docs/architecture.md: private 2, public 4).
const (
	BucketOrders  = "orders"  // private: order placement and cancels
	BucketAccount = "account" // private: signed reads (account, orders, trades)
	BucketMarket  = "market"  // public: market data, exchange info, server time
)

// DefaultRateLimits are Binance Spot's documented limits (rest-api.md "LIMITS", the
// exchangeInfo example, and the CHANGELOG for RAW_REQUESTS at 300,000 per 5 minutes). They
// are what a scheduler should be configured with before exchangeInfo teaches it the
// account's real numbers.
func DefaultRateLimits() []adapters.RateLimit {
	return []adapters.RateLimit{
		{Window: WindowRequestWeight, Kind: "REQUEST_WEIGHT", Interval: time.Minute, Limit: 6000},
		{Window: WindowRawRequests, Kind: "RAW_REQUESTS", Interval: 5 * time.Minute, Limit: 300000},
		{Window: WindowOrders10s, Kind: "ORDERS", Interval: 10 * time.Second, Limit: 50},
		{Window: WindowOrders1d, Kind: "ORDERS", Interval: 24 * time.Hour, Limit: 160000},
	}
}

// SchedulerWindows are the scheduler windows the adapter's requests consume, at Binance's
// documented limits: fixed windows aligned to the exchange's clock, as Binance counts.
// ExchangeInfo later sets each to the account's announced limit and interval.
func SchedulerWindows() []scheduler.WindowConfig {
	var out []scheduler.WindowConfig
	for _, l := range DefaultRateLimits() {
		out = append(out, scheduler.WindowConfig{Name: l.Window, Limit: l.Limit, Interval: l.Interval, Kind: scheduler.KindFixed})
	}
	return out
}

// SchedulerBuckets are the scheduler buckets the adapter's requests name; zero
// MaxConcurrency takes the scheduler's default (private 2, public 4).
func SchedulerBuckets() []scheduler.BucketConfig {
	return []scheduler.BucketConfig{
		{Name: BucketOrders},
		{Name: BucketAccount},
		{Name: BucketMarket, Public: true},
	}
}

// endpoint describes one REST call to the scheduler. Weights are from Binance's rest-api.md
// (see the table in endpointTable's comment).
type endpoint struct {
	path     string
	method   string
	signed   bool
	write    bool
	bucket   string
	priority scheduler.Priority
	weight   int64 // REQUEST_WEIGHT; see weightFor for parameter-dependent weights
	orders   bool  // counts against the ORDERS windows (unfilled order count 1)
	// maxBody bounds the answer, sized to what the endpoint returns (bodies.go); 0: the
	// client's default.
	maxBody int64
}

// The endpoints of issue 3. Weights (rest-api.md):
//
//	GET    /api/v3/ping                 1
//	GET    /api/v3/time                 1
//	GET    /api/v3/exchangeInfo         20
//	GET    /api/v3/ticker/price         2 with symbol, 4 without
//	GET    /api/v3/ticker/bookTicker    2 with symbol, 4 without
//	GET    /api/v3/depth                5 (limit 1-100), 25 (101-500), 50 (501-1000), 250 (1001-5000)
//	GET    /api/v3/klines               2 (candles.go)
//	GET    /api/v3/account              20
//	POST   /api/v3/order                1, unfilled order count 1. Since 2026-04-02 (CHANGELOG
//	                                    2026-03-27) a successful placement weighs 0 and a failed
//	                                    one is charged; the scheduler must reserve before it knows,
//	                                    so it reserves the failure charge and the X-MBX-USED-WEIGHT
//	                                    header corrects it.
//	GET    /api/v3/order                4
//	DELETE /api/v3/order                1 (0 when successful since 2026-04-02, as above)
//	GET    /api/v3/openOrders           6 with symbol, 80 without
//	DELETE /api/v3/openOrders           1 (0 when successful since 2026-04-02, as above)
//	GET    /api/v3/myTrades             20 (5 with orderId, which the adapter does not send)
//	GET    /api/v3/account/commission   20
//	GET    /sapi/v1/account/apiRestrictions  1 (wallet/account/api-key-permission; SAPI weight,
//	                                    charged to the REQUEST_WEIGHT window here to stay on
//	                                    the safe side)
//
// GET /api/v3/account serves two calls: balances at account priority, and the account's
// standing (permissions, fees) at background priority for the runtime's cache.
//
// Every request also counts 1 against RAW_REQUESTS.
var (
	epPing         = endpoint{path: "/api/v3/ping", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground, weight: 1, maxBody: bodyTiny}
	epTime         = endpoint{path: "/api/v3/time", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground, weight: 1, maxBody: bodyTiny}
	epExchangeInfo = endpoint{path: "/api/v3/exchangeInfo", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground, weight: 20, maxBody: bodyExchangeInfo}
	epTicker       = endpoint{path: "/api/v3/ticker/price", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket, weight: 2, maxBody: bodySmall}
	epBookTicker   = endpoint{path: "/api/v3/ticker/bookTicker", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket, weight: 2, maxBody: bodySmall}
	epDepth        = endpoint{path: "/api/v3/depth", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket, weight: 5, maxBody: bodyDepth}
	epAccount      = endpoint{path: "/api/v3/account", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, weight: 20, maxBody: bodyLarge}
	epNewOrder     = endpoint{path: "/api/v3/order", method: http.MethodPost, signed: true, write: true, bucket: BucketOrders, priority: scheduler.PriorityOrders, weight: 1, orders: true, maxBody: bodySmall}
	epQueryOrder   = endpoint{path: "/api/v3/order", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, weight: 4, maxBody: bodySmall}
	epCancelOrder  = endpoint{path: "/api/v3/order", method: http.MethodDelete, signed: true, write: true, bucket: BucketOrders, priority: scheduler.PriorityCritical, weight: 1, maxBody: bodySmall}
	epOpenOrders   = endpoint{path: "/api/v3/openOrders", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, weight: 6, maxBody: bodyLarge}
	epCancelAll    = endpoint{path: "/api/v3/openOrders", method: http.MethodDelete, signed: true, write: true, bucket: BucketOrders, priority: scheduler.PriorityCritical, weight: 1, maxBody: bodyLarge}
	epMyTrades     = endpoint{path: "/api/v3/myTrades", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, weight: 20, maxBody: bodyLarge}
	epAccountInfo  = endpoint{path: "/api/v3/account", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityBackground, weight: 20, maxBody: bodyLarge}
	epCommission   = endpoint{path: "/api/v3/account/commission", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityBackground, weight: 20, maxBody: bodySmall}
	epKeyScopes    = endpoint{path: "/sapi/v1/account/apiRestrictions", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityBackground, weight: 1, maxBody: bodySmall}
)

// allEndpoints lists every endpoint above, for the test that holds each declared weight to
// what the exchange (the simulator) charges.
var allEndpoints = []endpoint{epPing, epTime, epExchangeInfo, epTicker, epBookTicker, epDepth, epAccount, epNewOrder,
	epQueryOrder, epCancelOrder, epOpenOrders, epCancelAll, epMyTrades, epAccountInfo, epCommission, epKeyScopes, epKlines}

// signedEndpoint reports whether method and path name a signed endpoint.
func signedEndpoint(method, path string) bool {
	for _, ep := range allEndpoints {
		if ep.signed && ep.method == method && ep.path == path {
			return true
		}
	}
	return false
}

// openOrdersAllWeight is GET /api/v3/openOrders' weight without symbol (6 with one).
const openOrdersAllWeight = 80

// depthWeight is GET /api/v3/depth's weight for a limit (rest-api.md "Order book").
func depthWeight(limit int) int64 {
	switch {
	case limit <= 100:
		return 5
	case limit <= 500:
		return 25
	case limit <= 1000:
		return 50
	}
	return 250
}

// costs returns what one attempt of ep consumes, with weight the request's REQUEST_WEIGHT.
func (ep endpoint) costs(weight int64) []scheduler.Cost {
	c := []scheduler.Cost{
		{Window: WindowRequestWeight, Amount: weight},
		{Window: WindowRawRequests, Amount: 1},
	}
	if ep.orders {
		c = append(c,
			scheduler.Cost{Window: WindowOrders10s, Amount: 1},
			scheduler.Cost{Window: WindowOrders1d, Amount: 1})
	}
	return c
}
