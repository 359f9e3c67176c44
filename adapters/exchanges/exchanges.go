// Package exchanges links every exchange adapter Keel ships and the simulated exchange into a
// binary: import it for its side effect when a bot should run on any of them by changing
// exchange.name alone.
//
//	import _ "github.com/keelbot/keel/adapters/exchanges"
//
// A production binary that trades on one exchange imports that adapter's package instead
// (e.g. _ "github.com/keelbot/keel/adapters/binance"), and the simulator is then not linked.
package exchanges

import (
	_ "github.com/keelbot/keel/adapters/binance"  // exchange.name: binance
	_ "github.com/keelbot/keel/adapters/bybit"    // exchange.name: bybit
	_ "github.com/keelbot/keel/adapters/coinbase" // exchange.name: coinbase
	_ "github.com/keelbot/keel/adapters/kraken"   // exchange.name: kraken
	_ "github.com/keelbot/keel/adapters/sim"      // exchange.name: sim (embedded, any dialect)
)
