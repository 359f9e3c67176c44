package coinbase

import (
	"net/http"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// Scheduler window names. Coinbase counts requests, without weights (the retired
// rest-api-rate-limits page, as ccxt and hummingbot quote it):
//
//   - private endpoints: 30 requests per second per user — shared by every key and every
//     process of the user, so a fleet must share one budget for the user (one store prefix
//     per Coinbase user, not per key);
//   - public endpoints: 10 requests per second per IP.
//
// Both are sliding one-second windows (the page says "per second"; how Coinbase slices the
// second is not documented, and a sliding window is the safe reading of either).
const (
	WindowPrivate = "COINBASE_PRIVATE_1S"
	WindowPublic  = "COINBASE_PUBLIC_1S"
)

// Scheduler bucket names.
const (
	BucketOrders  = "orders"  // private: create, cancel
	BucketAccount = "account" // private: reads
	BucketMarket  = "market"  // public: market data, server time
)

// DefaultRateLimits are Coinbase's documented limits.
func DefaultRateLimits() []adapters.RateLimit {
	return []adapters.RateLimit{
		{Window: WindowPrivate, Kind: "REQUESTS", Interval: time.Second, Limit: 30},
		{Window: WindowPublic, Kind: "RAW_REQUESTS", Interval: time.Second, Limit: 10},
	}
}

// SchedulerWindows are the windows the adapter's requests consume, sliding.
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

// endpoint describes one REST call to the scheduler: every attempt costs 1 of its window.
// path is the route as the docs write it ({x}: a path parameter), for logs and lookups.
type endpoint struct {
	path     string
	method   string
	private  bool
	write    bool
	cancel   bool
	bucket   string
	priority scheduler.Priority
}

const root = "/api/v3/brokerage"

// The endpoints the adapter uses (docs.cdp.coinbase.com, advanced-trade/reference):
var (
	epTime        = endpoint{path: root + "/time", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground}
	epProducts    = endpoint{path: root + "/market/products", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityBackground}
	epProduct     = endpoint{path: root + "/market/products/{product_id}", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket}
	epBook        = endpoint{path: root + "/market/product_book", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket}
	epCandles     = endpoint{path: root + "/market/products/{product_id}/candles", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket}
	epAccounts    = endpoint{path: root + "/accounts", method: http.MethodGet, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount}
	epPermissions = endpoint{path: root + "/key_permissions", method: http.MethodGet, private: true, bucket: BucketAccount, priority: scheduler.PriorityBackground}
	epSummary     = endpoint{path: root + "/transaction_summary", method: http.MethodGet, private: true, bucket: BucketAccount, priority: scheduler.PriorityBackground}
	epCreate      = endpoint{path: root + "/orders", method: http.MethodPost, private: true, write: true, bucket: BucketOrders, priority: scheduler.PriorityOrders}
	epCancel      = endpoint{path: root + "/orders/batch_cancel", method: http.MethodPost, private: true, write: true, cancel: true, bucket: BucketOrders, priority: scheduler.PriorityCritical}
	epGetOrder    = endpoint{path: root + "/orders/historical/{order_id}", method: http.MethodGet, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount}
	// epReadBack is the read of an order right after its create, part of the placement: in the
	// orders bucket, so an order accepted and then FAILED for the order rate holds the creates.
	epReadBack   = endpoint{path: epGetOrder.path, method: http.MethodGet, private: true, bucket: BucketOrders, priority: scheduler.PriorityOrders}
	epListOrders = endpoint{path: root + "/orders/historical/batch", method: http.MethodGet, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount}
	epListFills  = endpoint{path: root + "/orders/historical/fills", method: http.MethodGet, private: true, bucket: BucketAccount, priority: scheduler.PriorityAccount}
	allEndpoints = []endpoint{epTime, epProducts, epProduct, epBook, epCandles, epAccounts, epPermissions, epSummary, epCreate, epCancel, epGetOrder, epListOrders, epListFills}
)

// window is the scheduler window ep counts against.
func (ep endpoint) window() string {
	if ep.private {
		return WindowPrivate
	}
	return WindowPublic
}

func (ep endpoint) costs() []scheduler.Cost {
	return []scheduler.Cost{{Window: ep.window(), Amount: 1}}
}

// endpointAt returns the endpoint named by method and its route.
func endpointAt(method, path string) (endpoint, bool) {
	for _, e := range allEndpoints {
		if e.method == method && e.path == path {
			return e, true
		}
	}
	return endpoint{}, false
}
