package binance

// Answer size bounds per endpoint (endpoint.maxBody). Every answer is read into memory before it
// is parsed, so the bound is what a hostile or broken answer can cost: each is sized to what
// the endpoint returns at its largest, with a wide margin, and no more. A larger answer is
// malformed (rest.ErrMalformedAnswer): a read fails and is retried, the symbol's data goes
// stale; nothing larger is ever held.
const (
	// bodyTiny: ping ({}) and server time (a number).
	bodyTiny = 4 << 10
	// bodySmall: one symbol's ticker or book ticker (~150 bytes), one order (~1 KB with its
	// fills), the commission rates.
	bodySmall = 64 << 10
	// bodyDepth: a depth snapshot at the adapter's largest limit (5000 levels a side at ~40
	// bytes a level: ~400 KB).
	bodyDepth = 2 << 20
	// bodyLarge: lists that grow with the account (balances, open orders, trades, a
	// cancel-all's cancelled orders): a few hundred KB at Binance's own caps (1000 trades,
	// 200 open orders a symbol).
	bodyLarge = 8 << 20
	// bodyExchangeInfo: every symbol's rules, the largest answer Binance sends (a few MB).
	bodyExchangeInfo = 32 << 20
)
