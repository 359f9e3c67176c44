// Package kraken is Keel's adapter for Kraken's Spot REST API (docs.kraken.com/api). Kraken
// has no spot testnet or sandbox (only Futures has a demo); production is
// https://api.kraken.com, and the simulator's kraken dialect (adapters/sim, keel sim
// --dialect kraken) is the test environment. REST only: Definition.Streams is false and the
// runtime polls REST for quotes and order updates.
//
// # Names
//
// Strategies name pairs as Keel does everywhere, base+quote with common asset codes:
// BTCUSDT, ETHUSDT, DOGEUSDT. Kraken's pair ids (XXBTZUSD, XBTUSDT) and altnames (XBTUSD)
// and its asset ids (XXBT, ZUSD, USDT) are mapped from AssetPairs and Assets, read by
// ExchangeInfo (or on the first call that needs them): a Keel asset is the Kraken asset's
// altname, with XBT called BTC and XDG called DOGE; a Keel symbol is its base and quote
// assets joined. Balances are reported under Keel's asset names; read-only suffixed
// balances (.S staked, .M, .F, .B, .T) are left out.
//
// # Signing and nonces
//
// Private calls are form-encoded POSTs signed with API-Sign = base64(HMAC-SHA512(base64-
// decoded private key, URI path + SHA256(nonce + body))) (Sign; the docs' worked example is a
// test). Kraken refuses a nonce not above the last one it accepted for the key
// (EAPI:Invalid nonce), and too many invalid nonces lock the key's user out for a while. So:
//
//   - Every process signing with a key draws its nonces from one NonceSource. The local one
//     (LocalNonce) hands out max(now in microseconds, last+1): time-derived, so a restart
//     continues above its predecessor as long as the host clock has not stepped back, and
//     with nonce_file it does even then (a high-water mark kept ahead of every nonce).
//   - One key's calls never overtake each other: the Client takes the key's SendLock before
//     drawing a nonce and releases it when the exchange begins to answer (or the attempt
//     ends, or after 2 s). Releasing once the request is written is not enough: two requests
//     written in order on two connections may be read in either order.
//   - Never mix units: a key that has seen nanosecond or millisecond nonces from another
//     client cannot go back to microseconds (or forward, from nanoseconds). Give Keel a key of
//     its own.
//   - EAPI:Invalid nonce is classified auth: the request stops, it is never resent blindly.
//
// A fleet of instances sharing one key needs both pieces shared (WithNonceSource,
// WithSendLock). The intended implementation is a Redis allocator with the same rule, as one
// Lua script (atomic, and on Redis's clock, so hosts' clocks do not matter):
//
//	local t = redis.call('TIME')                        -- seconds, microseconds
//	local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
//	local last = tonumber(redis.call('GET', KEYS[1]) or '0')
//	local n = math.max(now, last + 1)                   -- < 2^53: exact in Lua's doubles
//	redis.call('SET', KEYS[1], n)
//	return n
//
// and a Redis lock per key (SET key token NX PX <ms>, released by token) held as the local
// SendLock is. Without the shared lock, the key's "nonce window" setting on Kraken must
// absorb reordering between instances.
//
// # Limits
//
// Kraken's limits are decaying counters (scheduler.KindDecaying windows: Interval is the time
// a full counter takes to drain):
//
//   - KRAKEN_REST, the key's REST call counter: +1 a call, +2 TradesHistory, at most 15/20/20
//     draining 0.33/0.5/1 per second for the starter/intermediate/pro tier (config key tier,
//     default starter). AddOrder and CancelOrder are not on it.
//   - KRAKEN_TRADE_<pair id>, the trading-engine counter of each pair, added with AddWindow
//     when the pair is first traded: threshold 60/125/180 draining 1/2.34/3.75 per second.
//     AddOrder costs 1; a cancel costs by the order's age when it goes out (Cost.AmountAt):
//     +8 under 5 s, +6 under 10 s, +5 under 15 s, +4 under 45 s, +2 under 90 s, +1 under
//     300 s, nothing after. The adapter remembers when its orders opened (from AddOrder acks
//     and the opentm of orders it reads, a bounded map); an unknown age costs 8.
//   - KRAKEN_PUBLIC, the public endpoints: Kraken documents no number; the adapter assumes a
//     counter of 15 draining 1 a second (a guess).
//
// Kraken reports no usage with its answers; an EAPI:Rate limit exceeded reports the REST
// counter as full. The errors (one table, errorTable): EAPI:Rate limit exceeded,
// EOrder:Rate limit exceeded (holds new orders only), EService:Throttled: <ts> (too many
// concurrent requests: wait until ts), EGeneral:Too many requests are rate_limit;
// EAPI:Invalid key/signature/nonce, EGeneral:Temporary lockout, EGeneral:Permission denied
// are auth; EService:Unavailable/Busy, EGeneral:Internal error are transient for a read and
// unknown for a write; EOrder:Unknown order is adapters.ErrOrderNotFound; everything else is
// validation. Failures arrive in HTTP 200 bodies; another status is Kraken's edge (429 rate
// limit, 5xx unknown for a write).
//
// # Orders and idempotency
//
// Kraken's cl_ord_id is a UUID or at most 18 characters of free text, unique among open
// orders only. Keel's client order ids are longer, so each is sent as ClientOrderUUID(id), a
// name-based UUID (v5) of the id: stable across restarts and instances. After an unknown
// outcome QueryOrder looks the id up in OpenOrders, then ClosedOrders (both filter by
// cl_ord_id), and answers adapters.ErrOrderNotFound only when neither has it. Orders are
// cancelled by cl_ord_id. A GTC limit order is reported from its acknowledgement; a market
// or IOC order is read back with QueryOrders. A cancel reports the order as CANCELED without
// reading it back. Orders listed by OpenOrders that this process never saw carry the UUID as
// their ClientOrderID (compare with ClientOrderUUID).
//
// # Guesses
//
// Where the docs are silent the adapter guesses: the public limit; that ClosedOrders costs 1;
// the duplicate-cl_ord_id error (any EOrder refusal is validation); that TradeVolume's fee
// keys are fee (both spellings of the others exist); that a cancel refused for the trading
// counter is not charged. AccountReader is not implemented: TradingFees is (TradeVolume), but
// Kraken has no documented endpoint for the account's standing.
package kraken
