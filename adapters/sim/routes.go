package sim

import (
	"net/http"
	"time"
)

// route is one REST endpoint: its handler, its weight (rest-api.md, endpoint by endpoint)
// and its security type.
type route struct {
	method, path string
	handler      func(*Server, *call) reply
	weight       func(*request) int64
	signed       bool // TRADE or USER_DATA: API key, signature, timestamp
	// freeOnSuccess: a successful call weighs 0, a failed one its weight. CHANGELOG 2026-03-27
	// (effective 2026-04-02) lists, of the endpoints served here, POST /api/v3/order, DELETE
	// /api/v3/order and DELETE /api/v3/openOrders; POST /api/v3/order/test is not listed.
	freeOnSuccess bool
	// microAware: the handler prints times in the request's unit itself (request.timeUnit);
	// other handlers' millisecond times are converted afterwards (inMicros).
	microAware bool
}

func (rt route) key() string {
	if rt.handler == nil {
		return "other"
	}
	return rt.method + " " + rt.path
}

// call is what a handler gets.
type call struct {
	req  *request
	acct *account // nil on public endpoints
	now  time.Time
	ip   *ipState
	ep   *endpointStats
	// retry, when set, is the Retry-After (seconds) of the answer.
	retry int64
}

func (c *call) setRetry(secs int64) { c.retry = secs }

func fixed(w int64) func(*request) int64 { return func(*request) int64 { return w } }

// bySymbol weighs ticker/price and ticker/bookTicker: 2 for one symbol, 4 when symbol is
// omitted or symbols is used.
func bySymbol(q *request) int64 {
	if v, ok := q.values["symbol"]; ok && v != "" {
		return 2
	}
	return 4
}

// depthWeight weighs GET /api/v3/depth by limit: 1-100: 5, 101-500: 25, 501-1000: 50,
// 1001-5000: 250 (and over 5000 only 5000 entries are returned).
func depthWeight(q *request) int64 {
	n := depthLimit(q)
	switch {
	case n <= 100:
		return 5
	case n <= 500:
		return 25
	case n <= 1000:
		return 50
	default:
		return 250
	}
}

// openOrdersWeight: 6 for a single symbol, 80 when the symbol parameter is omitted.
func openOrdersWeight(q *request) int64 {
	if v, ok := q.values["symbol"]; ok && v != "" {
		return 6
	}
	return 80
}

// myTradesWeight: 20 without orderId, 5 with orderId.
func myTradesWeight(q *request) int64 {
	if _, ok := q.values["orderId"]; ok {
		return 5
	}
	return 20
}

var routes = []route{
	{method: http.MethodGet, path: "/api/v3/ping", handler: (*Server).ping, weight: fixed(1)},
	{method: http.MethodGet, path: "/api/v3/time", handler: (*Server).serverTime, weight: fixed(1)},
	{method: http.MethodGet, path: "/api/v3/exchangeInfo", handler: (*Server).exchangeInfo, weight: fixed(20)},
	{method: http.MethodGet, path: "/api/v3/depth", handler: (*Server).depth, weight: depthWeight},
	{method: http.MethodGet, path: "/api/v3/klines", handler: (*Server).klines, weight: fixed(2), microAware: true},
	{method: http.MethodGet, path: "/api/v3/uiKlines", handler: (*Server).klines, weight: fixed(2), microAware: true},
	{method: http.MethodGet, path: "/api/v3/trades", handler: (*Server).recentTrades, weight: fixed(25), microAware: true},
	{method: http.MethodGet, path: "/api/v3/historicalTrades", handler: (*Server).historicalTrades, weight: fixed(25), microAware: true},
	{method: http.MethodGet, path: "/api/v3/aggTrades", handler: (*Server).aggTrades, weight: fixed(4), microAware: true},
	{method: http.MethodGet, path: "/api/v3/avgPrice", handler: (*Server).avgPrice, weight: fixed(2), microAware: true},
	{method: http.MethodGet, path: "/api/v3/ticker/24hr", handler: (*Server).ticker24hr, weight: ticker24hrWeight, microAware: true},
	{method: http.MethodGet, path: "/api/v3/ticker", handler: (*Server).rollingTicker, weight: rollingWeight, microAware: true},
	{method: http.MethodGet, path: "/api/v3/ticker/tradingDay", handler: (*Server).tradingDayTicker, weight: rollingWeight, microAware: true},
	{method: http.MethodGet, path: "/api/v3/ticker/price", handler: (*Server).tickerPrice, weight: bySymbol},
	{method: http.MethodGet, path: "/api/v3/ticker/bookTicker", handler: (*Server).bookTicker, weight: bySymbol},
	{method: http.MethodGet, path: "/api/v3/account", handler: (*Server).accountInfo, weight: fixed(20), signed: true},
	{method: http.MethodGet, path: "/api/v3/account/commission", handler: (*Server).commissionRates, weight: fixed(20), signed: true},
	{method: http.MethodPost, path: "/api/v3/order", handler: (*Server).newOrder, weight: fixed(1), signed: true, freeOnSuccess: true},
	{method: http.MethodPost, path: "/api/v3/order/cancelReplace", handler: (*Server).cancelReplace, weight: fixed(1), signed: true},
	{method: http.MethodPost, path: "/api/v3/order/test", handler: (*Server).testOrder, weight: orderTestWeight, signed: true},
	{method: http.MethodGet, path: "/api/v3/order", handler: (*Server).queryOrder, weight: fixed(4), signed: true},
	{method: http.MethodDelete, path: "/api/v3/order", handler: (*Server).cancelOrder, weight: fixed(1), signed: true, freeOnSuccess: true},
	{method: http.MethodGet, path: "/api/v3/openOrders", handler: (*Server).openOrders, weight: openOrdersWeight, signed: true},
	{method: http.MethodDelete, path: "/api/v3/openOrders", handler: (*Server).cancelOpenOrders, weight: fixed(1), signed: true, freeOnSuccess: true},
	{method: http.MethodGet, path: "/api/v3/allOrders", handler: (*Server).allOrdersHandler, weight: fixed(20), signed: true},
	{method: http.MethodGet, path: "/api/v3/myTrades", handler: (*Server).myTrades, weight: myTradesWeight, signed: true},
	{method: http.MethodGet, path: "/api/v3/rateLimit/order", handler: (*Server).rateLimitOrder, weight: fixed(40), signed: true},
	{method: http.MethodGet, path: "/sapi/v1/account/apiRestrictions", handler: (*Server).apiRestrictions, weight: fixed(1), signed: true},
}

// lookupRoute finds the endpoint; an unknown one has a nil handler and weight 1.
func lookupRoute(method, path string) route {
	for _, rt := range routes {
		if rt.method == method && rt.path == path {
			return rt
		}
	}
	return route{method: method, path: path, weight: fixed(1)}
}

// timeFields are the keys whose values are times in the answers of handlers that print
// milliseconds.
var timeFields = map[string]bool{"serverTime": true, "transactTime": true, "workingTime": true, "time": true,
	"updateTime": true, "closeTime": true, "openTime": true}

// inMicros converts the millisecond times of an answer to microseconds, for X-MBX-TIME-UNIT:
// MICROSECOND (rest-api.md "General API Information"): "All time and timestamp related
// fields in the JSON responses are in milliseconds by default."
func inMicros(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if n, ok := e.(int64); ok && timeFields[k] {
				x[k] = n * 1000
				continue
			}
			x[k] = inMicros(e)
		}
	case map[string]int64:
		for k, n := range x {
			if timeFields[k] {
				x[k] = n * 1000
			}
		}
	case []map[string]any:
		for _, e := range x {
			inMicros(e)
		}
	case []any:
		for _, e := range x {
			inMicros(e)
		}
	}
	return v
}
