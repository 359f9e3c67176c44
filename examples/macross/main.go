// Command macross trades a moving-average crossover on candles (package crossover). Run it
// against the embedded simulator with
//
//	go run ./examples/macross --config examples/macross/macross.yaml
package main

import (
	"os"

	_ "github.com/keelbot/keel/adapters/exchanges" // every exchange and the simulator: pick with exchange.name

	"github.com/keelbot/keel/backtest"
	"github.com/keelbot/keel/certify"
	"github.com/keelbot/keel/examples/macross/crossover"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

func main() {
	mod := strategy.Module("macross", crossover.New)
	if certify.Requested(os.Args) {
		os.Exit(certify.Command(os.Args[2:], os.Stdout, os.Stderr, mod))
	}
	if backtest.Requested(os.Args) { // go run ./examples/macross backtest --config examples/macross/bt.yaml
		os.Exit(backtest.Command(os.Args[2:], os.Stdout, os.Stderr, mod))
	}
	runtime.Main(mod)
}
