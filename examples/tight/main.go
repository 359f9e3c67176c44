// Command tight is the strategy package's tutorial, compiled: it buys a little whenever the
// spread is tight. Run it against the embedded simulator with
//
//	go run ./examples/tight --config examples/tight/tight.yaml
package main

import (
	"context"
	"os"

	_ "github.com/keelbot/keel/adapters/exchanges" // every exchange and the simulator: pick with exchange.name

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/certify"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

type Config struct {
	Symbol   string          `koanf:"symbol"`
	Quantity decimal.Decimal `koanf:"quantity"`
	MaxBps   int64           `koanf:"max_bps"`
}

type Tight struct {
	env strategy.Env
	cfg Config
}

func New(env strategy.Env, cfg Config) (strategy.Strategy, error) {
	env.Market.Subscribe(cfg.Symbol)
	return &Tight{env: env, cfg: cfg}, nil
}

func (t *Tight) OnEvent(ctx context.Context, ev strategy.Event) error {
	q, ok := ev.(strategy.Quote)
	if !ok || !q.Valid() || len(t.env.Orders.Open()) > 0 {
		return nil
	}
	spreadBps := q.AskPrice.Sub(q.BidPrice).Div(q.Mid()).Mul(decimal.NewFromInt(10000))
	if spreadBps.GreaterThan(decimal.NewFromInt(t.cfg.MaxBps)) {
		return nil
	}
	_, err := t.env.Orders.Place(ctx, strategy.Intent{Symbol: t.cfg.Symbol, Side: adapters.Buy,
		Type: adapters.Limit, Quantity: t.cfg.Quantity, Price: q.BidPrice})
	return err
}

func main() {
	mod := strategy.Module("tight", New)
	if certify.Requested(os.Args) { // go run ./examples/tight certify --config examples/tight/tight.yaml
		os.Exit(certify.Command(os.Args[2:], os.Stdout, os.Stderr, mod))
	}
	runtime.Main(mod)
}
