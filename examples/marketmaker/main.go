// Command marketmaker runs a two-sided quoting strategy. With no flags it trades against the
// embedded simulated exchange:
//
//	go run ./examples/marketmaker
//
// With --config configs/binance.yaml (and the secrets in the environment) it trades on Binance.
// `go run ./examples/marketmaker certify` runs it under keel certify's incident scenarios.
package main

import (
	"os"

	_ "github.com/keelbot/keel/adapters/exchanges" // every exchange and the simulator: pick with exchange.name
	"github.com/keelbot/keel/certify"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

func main() {
	mod := strategy.Module("marketmaker", New)
	if certify.Requested(os.Args) { // go run ./examples/marketmaker certify [--naive] [--json]
		os.Exit(certify.Command(os.Args[2:], os.Stdout, os.Stderr, mod))
	}
	runtime.Main(mod)
}
