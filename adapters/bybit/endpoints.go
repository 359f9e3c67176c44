package bybit

import (
	"net/http"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// Scheduler window names. Bybit counts two ways (docs/v5/rate-limit/rate-limit.mdx):
//
//   - per IP: "600 requests within a 5-second window", every request, public or private;
//     past it the IP is answered 403 "access too frequent" and banned for at least 10 minutes.
//   - per UID and endpoint: a "rolling time window per second", one window per endpoint, with
//     the spot limits of the default tier below (VIP and PRO tiers raise the order endpoints;
//     X-Bapi-Limit on every private answer tells the account's own limit).
//
// Every window slides, as Bybit's do.
const (
	WindowIP            = "BYBIT_IP_5S"
	WindowOrderCreate   = "BYBIT_ORDER_CREATE_1S"
	WindowOrderCancel   = "BYBIT_ORDER_CANCEL_1S"
	WindowCancelAll     = "BYBIT_ORDER_CANCEL_ALL_1S"
	WindowOrderRealtime = "BYBIT_ORDER_REALTIME_1S"
	WindowOrderHistory  = "BYBIT_ORDER_HISTORY_1S"
	WindowExecutions    = "BYBIT_EXECUTION_LIST_1S"
	WindowWallet        = "BYBIT_WALLET_BALANCE_1S"
	WindowFeeRate       = "BYBIT_FEE_RATE_1S"
	WindowQueryAPI      = "BYBIT_QUERY_API_1S"
)

// Scheduler bucket names.
const (
	BucketOrders  = "orders"  // private: create, cancel, cancel-all
	BucketAccount = "account" // private: signed reads
	BucketMarket  = "market"  // public: market data, instruments, server time
)

// DefaultRateLimits are Bybit's documented limits for the windows above (rate-limit.mdx,
// "UTA2.0 Pro" table, spot column, default tier; /v5/user/query-api from its User table).
func DefaultRateLimits() []adapters.RateLimit {
	perSecond := func(w string, n int64) adapters.RateLimit {
		return adapters.RateLimit{Window: w, Kind: "REQUESTS", Interval: time.Second, Limit: n}
	}
	return []adapters.RateLimit{
		{Window: WindowIP, Kind: "RAW_REQUESTS", Interval: 5 * time.Second, Limit: 600},
		perSecond(WindowOrderCreate, 20),
		perSecond(WindowOrderCancel, 20),
		perSecond(WindowCancelAll, 20),
		perSecond(WindowOrderRealtime, 50),
		perSecond(WindowOrderHistory, 50),
		perSecond(WindowExecutions, 50),
		perSecond(WindowWallet, 50),
		perSecond(WindowFeeRate, 5),
		perSecond(WindowQueryAPI, 10),
	}
}

// SchedulerWindows are the windows the adapter's requests consume, sliding, at the
// documented limits.
func SchedulerWindows() []scheduler.WindowConfig {
	var out []scheduler.WindowConfig
	for _, l := range DefaultRateLimits() {
		out = append(out, scheduler.WindowConfig{Name: l.Window, Limit: l.Limit, Interval: l.Interval, Kind: scheduler.KindSliding})
	}
	return out
}

// SchedulerBuckets are the buckets the adapter's requests name; zero MaxConcurrency takes the
// scheduler's default (private 2, public 4).
func SchedulerBuckets() []scheduler.BucketConfig {
	return []scheduler.BucketConfig{{Name: BucketOrders}, {Name: BucketAccount}, {Name: BucketMarket, Public: true}}
}

// endpoint describes one REST call to the scheduler: every attempt costs 1 of the IP window
// and, for a private endpoint, 1 of its own per-UID window.
type endpoint struct {
	path     string
	method   string
	signed   bool
	write    bool
	cancel   bool // takes exposure away: passes a halt
	bucket   string
	priority scheduler.Priority
	window   string // the per-UID window; "" for public endpoints
}

// The endpoints the adapter uses, with rate-limit.mdx's spot limits (per UID per second):
//
//	GET  /v5/market/time              public (IP limit only)
//	GET  /v5/market/instruments-info  public
//	GET  /v5/market/tickers           public
//	GET  /v5/market/orderbook         public
//	GET  /v5/account/wallet-balance   50/s
//	GET  /v5/account/fee-rate          5/s
//	GET  /v5/user/query-api           10/s
//	POST /v5/order/create             20/s (VIP and PRO tiers more)
//	POST /v5/order/cancel             20/s
//	POST /v5/order/cancel-all         20/s
//	GET  /v5/order/realtime           50/s
//	GET  /v5/order/history            50/s
//	GET  /v5/execution/list           50/s
var (
	epTime        = endpoint{path: "/v5/market/time", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground}
	epInstruments = endpoint{path: "/v5/market/instruments-info", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground}
	epTickers     = endpoint{path: "/v5/market/tickers", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket}
	epOrderbook   = endpoint{path: "/v5/market/orderbook", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket}
	epWallet      = endpoint{path: "/v5/account/wallet-balance", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, window: WindowWallet}
	epFeeRate     = endpoint{path: "/v5/account/fee-rate", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityBackground, window: WindowFeeRate}
	epQueryAPI    = endpoint{path: "/v5/user/query-api", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityBackground, window: WindowQueryAPI}
	epCreate      = endpoint{path: "/v5/order/create", method: http.MethodPost, signed: true, write: true, bucket: BucketOrders, priority: scheduler.PriorityOrders, window: WindowOrderCreate}
	epCancel      = endpoint{path: "/v5/order/cancel", method: http.MethodPost, signed: true, write: true, cancel: true, bucket: BucketOrders, priority: scheduler.PriorityCritical, window: WindowOrderCancel}
	epCancelAll   = endpoint{path: "/v5/order/cancel-all", method: http.MethodPost, signed: true, write: true, cancel: true, bucket: BucketOrders, priority: scheduler.PriorityCritical, window: WindowCancelAll}
	epRealtime    = endpoint{path: "/v5/order/realtime", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, window: WindowOrderRealtime}
	epHistory     = endpoint{path: "/v5/order/history", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, window: WindowOrderHistory}
	epExecutions  = endpoint{path: "/v5/execution/list", method: http.MethodGet, signed: true, bucket: BucketAccount, priority: scheduler.PriorityAccount, window: WindowExecutions}
)

// allEndpoints lists every endpoint above, for lookups by path and for tests.
var allEndpoints = []endpoint{epTime, epInstruments, epTickers, epOrderbook, epWallet, epFeeRate, epQueryAPI,
	epCreate, epCancel, epCancelAll, epRealtime, epHistory, epExecutions, epKline}

// endpointAt returns the endpoint of method and path.
func endpointAt(method, path string) (endpoint, bool) {
	for _, e := range allEndpoints {
		if e.method == method && e.path == path {
			return e, true
		}
	}
	return endpoint{}, false
}

// costs is what one attempt of ep consumes.
func (ep endpoint) costs() []scheduler.Cost {
	c := []scheduler.Cost{{Window: WindowIP, Amount: 1}}
	if ep.window != "" {
		c = append(c, scheduler.Cost{Window: ep.window, Amount: 1})
	}
	return c
}

// Answer size bounds (rest.Call.MaxBody): every answer is read into memory before it is
// parsed, so the bound is what a hostile or broken answer can cost, sized to what the
// endpoint returns at its largest with a wide margin. A larger answer is malformed.
const (
	bodySmall = 64 << 10 // server time, one ticker, an order acknowledgement, fee rates
	bodyList  = 4 << 20  // an order book of 1000 levels a side, a page of orders or fills, balances
	bodyLarge = 16 << 20 // every spot instrument's rules
)

// maxBody is ep's answer size bound.
func (ep endpoint) maxBody() int64 {
	switch ep.path {
	case epInstruments.path:
		return bodyLarge
	case epOrderbook.path, epWallet.path, epRealtime.path, epHistory.path, epExecutions.path, epCancelAll.path:
		return bodyList
	}
	return bodySmall
}
