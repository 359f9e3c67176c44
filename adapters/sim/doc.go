// Package sim is a simulated Binance Spot exchange: a real HTTP server, usually on loopback,
// that speaks Binance Spot's REST dialect (paths, parameters, JSON shapes, HTTP statuses, error
// codes and messages, usage headers) closely enough that an unmodified Binance client works
// against it. Keel's own tests run adapters/binance against it; operators run it with
// `keel sim`.
//
// Most callers want:
//
//	s, err := sim.New(sim.Config{Seed: 1})
//	err = s.Listen("127.0.0.1:0")
//	defer s.Close()
//	base := s.URL() // "http://127.0.0.1:54321"
//
// A Server is also an http.Handler (httptest.NewServer(s) works), and every method is safe for
// concurrent use.
//
// # Endpoints
//
// Public: GET /api/v3/ping, /api/v3/time, /api/v3/exchangeInfo, /api/v3/depth,
// /api/v3/ticker/price, /api/v3/ticker/bookTicker, /api/v3/trades and /api/v3/historicalTrades
// (weight 25), /api/v3/aggTrades (4), /api/v3/avgPrice (2), /api/v3/ticker/24hr (2 for a
// symbol or up to 20 symbols, 40 for 21-100, 80 for more or all), /api/v3/ticker (4 per
// symbol, at most 200), /api/v3/klines and /api/v3/uiKlines (2) — candles.go,
// handlers_klines.go and handlers_stats.go say where Binance's docs leave the answer open and
// what the simulator does; /api/v3/ticker/tradingDay (4 per symbol, at most 200).
// X-MBX-TIME-UNIT: MICROSECOND makes every answer's times microseconds (those the engine keeps
// to the millisecond end in 000). Signed: GET /api/v3/account,
// GET /api/v3/account/commission, POST/GET/DELETE /api/v3/order, POST /api/v3/order/test,
// POST /api/v3/order/cancelReplace (handlers_replace.go), GET/DELETE /api/v3/openOrders,
// GET /api/v3/allOrders, GET /api/v3/myTrades, GET /api/v3/rateLimit/order, GET
// /sapi/v1/account/apiRestrictions (weight 1: the key's scopes, Account.EnableWithdrawals and IPRestrict). The listenKey
// endpoints (/api/v3/userDataStream) are absent: Binance retired them on 2026-02-20.
//
// Weights (rest-api.md, per endpoint): ping 1, time 1, exchangeInfo 20, depth by limit
// (1-100: 5, 101-500: 25, 501-1000: 50, 1001-5000: 250), ticker/price and ticker/bookTicker 2
// for one symbol and 4 without symbol or with symbols, account 20, account/commission 20,
// POST order 1, order/test 1 (20 with computeCommissionRates, which answers the rates),
// GET order 4, DELETE order 1, GET openOrders 6 (80 without symbol), DELETE openOrders 1,
// allOrders 20, myTrades 20 (5 with orderId), rateLimit/order 40. A successful POST
// /api/v3/order, DELETE /api/v3/order or DELETE /api/v3/openOrders weighs 0 and a failed one
// is charged (the rule since 2026-04-02, CHANGELOG 2026-03-27; POST /api/v3/order/test is not
// among the endpoints it lists). Limits.ChargeAllOrders restores the older rule.
//
// # Limits and abuse
//
// REQUEST_WEIGHT 6000 per minute and RAW_REQUESTS 300000 per 5 minutes, per client IP; ORDERS
// 50 per 10 seconds and 160000 per day as the account's unfilled order count (a first fill
// takes an order back out of the windows it was counted in). All are fixed windows aligned to
// the clock. Every answer carries X-MBX-USED-WEIGHT-(n)(unit) and X-MBX-ORDER-COUNT-(n)(unit).
// Past a limit: 429 with -1003 (weight, raw requests) or -1015 (orders), and Retry-After in
// seconds until the window ends. An IP that sends Abuse.BanAfter requests before a Retry-After
// it was given has passed is banned: 418 -1003 with Retry-After, 2 minutes doubling per ban up
// to 3 days. A client that waits out Retry-After is never banned. Abuse.AuthFailures bad
// signatures or timestamps within a minute disable the key: every signed call answers
// 401 -2015 until the admin API restores it. Unknown or malformed API keys count toward
// nothing: they name no account, so there is no key to disable (Binance's docs describe no
// penalty for them either).
//
// Binance checks a signed request's timestamp twice, on arrival and again just before the
// Matching Engine (rest-api.md "Timing security"); the simulator approximates that with one
// check after the latency fault, so a request the fault delays past its recvWindow gets -1021.
//
// # Order book
//
// Each symbol's book holds StreamConfig.BookLevels levels a side (default 5000, the largest
// depth limit): the 50 next to the price one tick apart, the deeper ones on a grid anchored
// to the tick, each level's quantity a function of its price. /api/v3/depth answers the
// limit asked (over 5000 reads as 5000) or as many levels as the book has; the depth stream's
// diff updates carry only the levels that entered or left the book, consistent with any
// snapshot's lastUpdateId (ws_book.go).
//
// # Time scale
//
// Config.TimeScale runs windows, Retry-After, bans and the price walk that many times faster.
// Each window is rounded to whole seconds (at least one) and exchangeInfo's rateLimits report
// the windows actually enforced (e.g. at 60: REQUEST_WEIGHT "1 SECOND", ORDERS "1 SECOND" and
// "24 MINUTE", RAW_REQUESTS "5 SECOND"), so a client that reads rateLimits adapts. Header
// names follow the enforced windows; under a time scale the nominal names (-1M, -10S, -1D)
// are sent too. A scale that is NaN, infinite, zero, negative or outside [MinTimeScale,
// MaxTimeScale] is refused (ValidateTimeScale; TimeScaleFlag for a command-line flag).
//
// # Engine
//
// Each symbol's price takes a seeded random walk on the tick grid. A LIMIT order that crosses
// the last price trades at once at the last price; otherwise it rests and fills whole at its
// limit price when the walk (or POST /sim/price) crosses it. MARKET orders fill at once.
// LIMIT IOC/FOK that do not cross expire; LIMIT_MAKER that would cross is rejected. Balances
// are held while orders rest and move on fills, less CommissionRate in the asset received
// (the rate /api/v3/account/commission reports). An Account with TradingDisabled may not
// place or cancel orders (-2010/-2011) and reports canTrade false.
//
// # Sources
//
// Shapes, codes, messages, weights and numbers come from binance/binance-spot-api-docs:
// rest-api.md ("General API Information", "HTTP Return Codes", "LIMITS", "Request Security",
// "Timing security", "SIGNED Endpoint Examples for POST /api/v3/order", each endpoint's
// Weight/Parameters/Response), errors.md (10xx, 11xx, 20xx, "Messages for -1010, -2010,
// -2011", "Filter failures"), filters.md (PRICE_FILTER, LOT_SIZE, NOTIONAL) and CHANGELOG.md
// (2025-08-12/2025-09-18 microsecond recvWindow, 2025-12-17 percent-encoded signature payload,
// 2026-01-21 listenKey retirement, and 2026-03-27: from 2026-04-02 RAW_REQUESTS is 300,000
// per 5 minutes and the listed order placement and cancel endpoints weigh 0 when successful,
// failed requests still paying the documented weight).
package sim
