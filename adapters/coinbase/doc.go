// Package coinbase is Keel's Coinbase Advanced Trade REST adapter (spot): an
// adapters.Exchange and adapters.AccountReader that describes every call to a scheduler,
// signs each private request with a fresh JWT, classifies every answer from one table
// (classify.go) and reads Coinbase's JSON into exchange-neutral types with decimals built
// from strings. The HTTP mechanics are adapters/rest's.
//
//	c, err := coinbase.New(coinbase.Config{APIKey: name, APISecret: pem}, sched)
//
// The REST root is https://api.coinbase.com. Coinbase's sandbox is static and
// unauthenticated, so the way to try a bot is the simulator: keel sim --dialect coinbase, or
// exchange.name sim with exchange.dialect coinbase.
//
// # Authentication
//
// Every private request carries Authorization: Bearer <JWT> (docs.cdp.coinbase.com, "API
// Key Authentication"): header alg ES256 (a P-256 key, its PEM as Coinbase issues it; the
// signature is r‖s) or EdDSA (an Ed25519 secret, base64), kid the key name, a random nonce,
// typ JWT; claims sub the key name, iss "cdp", nbf, exp and uri "METHOD host/path". nbf and
// exp are read off Coinbase's clock (GET /time, kept by a rest.TimeKeeper), not the host's:
// the adapter refuses to sign when the host clock is further off than the JWT lives. exp is
// the signing instant plus jwt_lifetime, rounded up to the second (so the acceptance window
// is jwt_lifetime + 1 s); nbf is backdated by up to 30 s (MaxNbfSlack), so a step of either
// clock between two measurements does not turn a good key into a 401.
// A 401 is re-signed once (Coinbase refuses valid JWTs now and then); a second 401 is an
// auth failure — the breaker and the kill switch — and the clock is measured again. A 403
// (Missing required scopes) is a permission stop. The private key never leaves the signer:
// Config, Secret and Client print redacted.
//
// # Answers and limits
//
// Order refusals are HTTP 200 with success:false and the reason in error_response
// (new_order_failure_reason, preview_failure_reason, error); cancels are 200 with a result
// per order. The body decides, never the status. A 429's body is an HTML page and is never
// parsed. Limits: private endpoints 30 requests/s per user (every key and process of the
// user: a fleet must share one budget per Coinbase user), public 10/s per IP, as sliding
// one-second windows (COINBASE_PRIVATE_1S, COINBASE_PUBLIC_1S) that adopt
// x-ratelimit-limit/-remaining as the usage.
//
// # Orders
//
// client_order_id (at most 128 characters) is a lasting idempotency key: a create repeating
// one returns the original order instead of a second. So after an unknown outcome the
// identical create with the same id is always safe; a caller re-placing an id this client saw
// acknowledged gets ErrDuplicateClientOrderID (validation) without a request. Coinbase
// cannot look an order up by client_order_id: QueryOrder reads orders this client placed by
// their order_id, and otherwise looks through the product's open orders and its latest
// orders (historyPages pages), which bounds how far back "not found" is proof.
//
// Candles (GET /market/products/{product_id}/candles, public) are Coinbase's own method, not
// part of the exchange contract: Candles(symbol, granularity, start, end), at most MaxCandles
// a request, oldest first.
//
// Key permissions: KeyScopes (GET /key_permissions) and its Check, which refuses a key that
// cannot trade or can transfer; KeyPermissions is the same read as adapters.KeyInspector, so
// keel doctor fails such a key.
//
// # Guesses (the docs are silent)
//
//   - JWTs live jwt_lifetime (default 5 s, at most 120 s): Coinbase is taken to check exp as
//     a bound, so a shorter life than the docs' 120 s is accepted, and it bounds how late a
//     request can land the way Binance's recvWindow does (the orders journal's window);
//   - x-ratelimit-reset is a Unix time in seconds (a small number: seconds from now); a
//     Retry-After, where present, wins; both windows slide;
//   - Keel's symbol of a product is base and quote without the dash (BTC-USD is BTCUSD);
//   - an order read back right after its create that already ended FAILED with reject_reason
//     RATE_LIMIT_EXCEEDED is the order-rate signal: the read-back runs in the orders bucket and
//     its first such answer is classified rate_limit (OrderLimit), so the scheduler holds the
//     creates; PlaceOrder then fails with ErrOrderFailed, nothing live. A FAILED order seen
//     later (a list, the user channel) is only a rejected order;
//   - every create refusal is validation (nothing was created) except RATE_LIMIT_EXCEEDED
//     (rate limit), GEOFENCING_RESTRICTION (auth), MISSING_MARKET_TRADE_DATA and
//     ORDER_IS_BEING_REPLACED (transient); UNKNOWN_CANCEL_FAILURE_REASON leaves a cancel's
//     outcome unknown; UNKNOWN_CANCEL_ORDER, ORDER_IS_FULLY_FILLED and
//     DUPLICATE_CANCEL_REQUEST mean nothing is open (adapters.ErrOrderNotFound);
//   - fee rates are the account's fee tier (GET /transaction_summary), the same on every
//     product; commissions are in the quote currency;
//   - a fill's trade_id is used as Keel's TradeID when numeric, else hashed (TradeID).
//
// # Streams
//
// MarketStream follows books (level2) and trades (market_trades), with ticker and candles on
// request (StreamOptions.OnTicker, OnCandle); UserStream follows the account's orders (the
// user channel). Each connection subscribes heartbeats first, then one channel per message,
// each with a fresh JWT (no uri claim), within the 5 s Coinbase allows; a skipped
// sequence_num or a drop is one reconnect (adapters/stream.Conn: one dial at a time, jittered
// backoff, a shared attempt limiter, plus this client's own pacing of 6 attempts a second for
// Coinbase's 8 per IP) and one level2 snapshot per product over it, never a REST call.
// ws_url and ws_user_url follow base_url: production's endpoints with production's REST root,
// the same host's /ws and /ws/user otherwise (the simulator); production's streams behind
// another REST root are refused. Guesses: sequence_num counts per connection; a trade's side
// is the taker's. See stream.go.
package coinbase
