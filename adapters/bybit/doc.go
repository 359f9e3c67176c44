// Package bybit is Keel's Bybit v5 REST adapter for the spot category: an adapters.Exchange
// and adapters.AccountReader that describes every call to a scheduler (its bucket, priority
// and the limit windows it consumes), signs with HMAC-SHA256, keeps a server-time offset,
// classifies every answer into a scheduler failure class from one table (classify.go), and
// turns Bybit's JSON into exchange-neutral types with decimals built from strings. The HTTP
// mechanics are adapters/rest's.
//
// Most callers build it from the registry (exchange.name: bybit) or directly:
//
//	c, err := bybit.New(bybit.Config{Environment: "testnet", APIKey: k, APISecret: s}, sched)
//
// Environments (each has its own keys): mainnet https://api.bybit.com (the default),
// testnet https://api-testnet.bybit.com, demo trading https://api-demo.bybit.com; base_url
// overrides them (regional hosts such as https://api.bybit.eu, or the simulator's dialect
// bybit: keel sim --dialect bybit).
//
// # Signing
//
// Every private request carries X-BAPI-API-KEY, X-BAPI-TIMESTAMP (ms), X-BAPI-RECV-WINDOW,
// X-BAPI-SIGN = lower-case hex HMAC-SHA256(secret, timestamp + api_key + recv_window +
// payload) and X-BAPI-SIGN-TYPE: 2 (as the official SDKs send it). The payload is the query
// string of a GET and the JSON body of a POST, the exact bytes sent (the docs fix no order or
// encoding; the adapter sends its parameters in a fixed order, RFC 3986 encoded). Bybit
// serves a request whose timestamp is in [server_time - recv_window, server_time + 1000); the
// adapter keeps the offset of Bybit's clock (GET /v5/market/time), refuses to sign beyond
// recv_window, and resyncs before the next signature after a 10002.
//
// # Answers and limits
//
// Business and authentication failures come back in HTTP 200 envelopes
// {retCode, retMsg, result, retExtInfo, time}: the retCode decides the class, never the
// status. Limits are per UID, per endpoint, per second, on a rolling window (order create 20/s,
// cancel 20/s, realtime 50/s, fee-rate 5/s, ...), each a sliding scheduler window
// (BYBIT_ORDER_CREATE_1S, ...) fed by X-Bapi-Limit and X-Bapi-Limit-Status (used = limit -
// remaining). X-Bapi-Limit is the account's own limit (VIP and PRO tiers raise the order
// endpoints, up to 1200/s): the adapter sets a window still at Bybit's documented limit to it,
// and leaves alone a window the user configured (scheduler.windows). A 10006 "Too many visits!" is a rate limit that waits until
// X-Bapi-Limit-Reset-Timestamp. Per IP, 600 requests per 5 s (BYBIT_IP_5S) hold public and
// private calls alike; breaking it is an HTTP 403 "access too frequent" and a ban of at least
// 10 minutes, classified rate_limit with Ban and a 10-minute RetryAfter: the scheduler pauses
// everything, and the kill switch does not trip as it would for a revoked key. Any other 403
// is a block at Bybit's edge (a region-restricted IP, a GET with a body): auth class, never
// retried, with a message saying it is not a key problem.
//
// # Orders
//
// The client order id is Bybit's orderLinkId: at most 36 characters of [A-Za-z0-9_-], unique.
// A duplicate answers 170141 (spot's table) or 110072 (the unified account's): both are
// validation failures. Creation and cancellation are asynchronous at Bybit: PlaceOrder reads
// the order back by orderLinkId; CancelOrder returns it as cancelled from the acknowledgement.
// QueryOrder reads GET /v5/order/realtime and falls back to GET /v5/order/history for closed
// orders beyond realtime's last 500; neither listing it is adapters.ErrOrderNotFound, which is
// how an unknown outcome is resolved.
//
// # Guesses (the docs are silent or contradict themselves)
//
//   - which duplicate code spot answers (both are handled), and that 170139/170142/170143/
//     170190 on a cancel mean the order is not open (ErrOrderNotFound, as Binance's -2011);
//   - free balance = walletBalance - locked, never below zero (free is deprecated);
//   - account standing from the key (GET /v5/user/query-api): CanTrade is "not read-only and
//     Spot has SpotTrade"; CanDeposit is always true; 10027 "Transactions are banned." is a
//     validation failure of the order, not an auth stop (the key still works);
//   - a 10006's wait is X-Bapi-Limit-Reset-Timestamp minus the envelope's time (both on
//     Bybit's clock), believed up to 15 minutes;
//   - HTTP 429 ("System level frequency protection") is a rate limit; a 5xx leaves a write's
//     outcome unknown; retCode 10016 and 10000 too;
//   - the minimum quantity reported is minOrderQty, which Bybit says it no longer checks
//     (minOrderAmt is): stricter than needed, never looser;
//   - execIds of spot fills are decimal strings (TradeID); Trades pages back from the newest
//     since /v5/execution/list has no fromId.
//
// # Streams
//
// REST only: the Definition declares Streams false, and the runtime polls REST for quotes and
// order updates.
//
// Secrets never leave the package: Config, Secret and Client print redacted, transport errors
// are stripped of the URL, exchange messages are redacted by the scheduler.
package bybit
