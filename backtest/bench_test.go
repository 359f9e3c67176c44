package backtest

import (
	"context"
	"testing"

	"go.uber.org/fx"

	"github.com/keelbot/keel/examples/macross/crossover"
	"github.com/keelbot/keel/strategy"
)

// sample is the day of one-minute candles shipped with the examples.
const sample = "../examples/backtest/BTCUSDT-1m-2024-05-04.csv"

// BenchmarkBacktest runs the shipped sample (1440 candles) through the full stack: the
// moving-average crossover, the orders manager, the Binance adapter and the scheduler against
// the replaying simulator. candles/s is the figure for the README.
func BenchmarkBacktest(b *testing.B) {
	benchRun(b, strategy.Module("macross", crossover.New))
}

// BenchmarkReplayNoStrategy is the baseline: the same replay and the same runtime reads
// (balance refreshes, exchange info) with a strategy that does nothing.
func BenchmarkReplayNoStrategy(b *testing.B) {
	benchRun(b, strategy.Module("macross", func(strategy.Env, crossover.Config) (strategy.Strategy, error) { return idle{}, nil }))
}

type idle struct{}

func (idle) OnEvent(context.Context, strategy.Event) error { return nil }

func benchRun(b *testing.B, mod fx.Option) {
	b.ReportAllocs()
	candles := 0
	for b.Loop() {
		rep, err := Run(context.Background(), Options{Config: "../examples/macross/bt.yaml", File: sample}, mod)
		if err != nil {
			b.Fatal(err)
		}
		candles += rep.Candles
	}
	b.ReportMetric(float64(candles)/b.Elapsed().Seconds(), "candles/s")
}
