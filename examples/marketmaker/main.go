// Command marketmaker runs a two-sided quoting strategy. With no flags it trades against the
// embedded simulated exchange:
//
//	go run ./examples/marketmaker
//
// With --config configs/binance.yaml (and the secrets in the environment) it trades on Binance.
package main

import (
	_ "github.com/keelbot/keel/adapters/exchanges" // every exchange and the simulator: pick with exchange.name
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

func main() {
	runtime.Main(strategy.Module("marketmaker", New))
}
