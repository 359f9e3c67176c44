package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/examples/macross/crossover"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// watched forwards every event to the strategy and copies candles and fills to the test.
type watched struct {
	strategy.Strategy
	candles chan<- strategy.Candle
	fills   chan<- strategy.OrderUpdate
}

func (w watched) Start(ctx context.Context) error { return w.Strategy.(strategy.Starter).Start(ctx) }

func (w watched) OnEvent(ctx context.Context, ev strategy.Event) error {
	err := w.Strategy.OnEvent(ctx, ev)
	switch e := ev.(type) {
	case strategy.Candle:
		select {
		case w.candles <- e:
		default:
		}
	case strategy.OrderUpdate:
		if e.Order.Status == adapters.StatusFilled {
			select {
			case w.fills <- e:
			default:
			}
		}
	}
	return err
}

// TestCrossoverTradesOnTheSimulator runs the example with its own config file against the
// embedded simulator (fast 2, slow 4 so a cross comes within seconds): it gets a Candle event
// per closed second from the kline stream, each equal to what GET /api/v3/klines says of
// that second, trades a market order on a cross, and its history cost one klines call.
func TestCrossoverTradesOnTheSimulator(t *testing.T) {
	dir := t.TempDir()
	var ex adapters.Exchange
	logs := &syncbuf.Buffer{}
	candles := make(chan strategy.Candle, 256)
	fills := make(chan strategy.OrderUpdate, 16)
	app := fxtest.New(t,
		runtime.Module,
		fx.Invoke(func(*runtime.Loop) {}),
		strategy.Module("macross", func(env strategy.Env, cfg crossover.Config) (strategy.Strategy, error) {
			s, err := crossover.New(env, cfg)
			return watched{s, candles, fills}, err
		}),
		runtime.WithLoadOptions(runtime.LoadOptions{Path: "macross.yaml", Environ: []string{
			"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"),
			"KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"),
			"KEEL_ADMIN_LISTEN=127.0.0.1:0",
			"KEEL_STRATEGIES_MACROSS_FAST=2",
			"KEEL_STRATEGIES_MACROSS_SLOW=4",
		}}),
		runtime.WithLogOutput(logs),
		fx.Populate(&ex),
	)
	app.RequireStart()
	defer app.RequireStop()
	srv := ex.(interface{ Server() *sim.Server }).Server()
	cr := ex.(adapters.CandleReader)
	deadline := time.After(30 * time.Second)
	var last strategy.Candle
	for n := 0; n < 3; n++ {
		select {
		case last = <-candles:
		case <-deadline:
			t.Fatalf("%d candle events in 30 s; logs:\n%s", n, logs.String())
		}
		if !last.Closed || last.Interval != "1s" || last.Symbol != "BTCUSDT" {
			t.Fatalf("candle event %+v", last)
		}
	}
	calls := srv.Stats().Endpoints["GET /api/v3/klines"].Requests
	rest, err := cr.Candles(context.Background(), "BTCUSDT", "1s", adapters.CandleQuery{Start: last.OpenTime, Limit: 1})
	if err != nil || len(rest) != 1 || !rest[0].Close.Equal(last.Close) || !rest[0].High.Equal(last.High) ||
		!rest[0].Volume.Equal(last.Volume) || rest[0].Trades != last.Trades {
		t.Fatalf("klines %v %+v, event %+v", err, rest, last)
	}
	select {
	case f := <-fills:
		if f.Order.Type != adapters.Market || f.Order.Side != adapters.Buy {
			t.Fatalf("first fill %+v, want a market buy (the strategy starts flat)", f.Order)
		}
	case <-deadline:
		t.Fatalf("no fill in 30 s; logs:\n%s", logs.String())
	}
	if calls != 1 {
		t.Fatalf("the strategy's candles cost %d klines calls, want 1: the stream keeps the series current", calls)
	}
}
