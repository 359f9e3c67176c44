// Package binance is Keel's Binance Spot REST adapter: an adapters.Exchange that describes every
// call to a scheduler (its documented weight, the limit windows it consumes, its bucket and
// priority), signs with Ed25519 or HMAC-SHA256, keeps a server-time offset, classifies every
// answer into a scheduler failure class from one table (classify.go), and turns Binance's JSON
// into exchange-neutral types with decimals built from strings.
//
// Most callers want New with a Config read by koanf and the account's scheduler:
//
//	c, err := binance.New(cfg, sched)
//	info, err := c.ExchangeInfo(ctx) // also teaches the scheduler the announced limits
//	o, err := c.PlaceOrder(ctx, adapters.OrderRequest{..., ClientOrderID: key})
//
// Signed requests: GET and DELETE send every parameter in the query string, POST sends them as
// an application/x-www-form-urlencoded body; the signature covers the query string
// concatenated with the body (Binance's totalParams), non-ASCII characters percent-encoded.
//
// Beside adapters.Exchange, a Client is an adapters.AccountReader: TradingFees
// (GET /api/v3/account/commission) and Account (GET /api/v3/account: canTrade, permissions,
// ...), both at background priority for a runtime's TTL cache. Streams: MarketStream
// (combined depth and trade streams, bounded resync) and UserStream (the user data stream on
// the WebSocket API, by session.logon with an Ed25519 key or a signed subscription).
//
// Secrets never leave the package: Config, Secret and Client print as redacted, transport
// errors are stripped of the signed URL, and exchange messages are redacted by the scheduler.
//
// A Client is safe for concurrent use.
package binance
