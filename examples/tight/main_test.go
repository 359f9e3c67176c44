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
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// watched forwards every event to the strategy and copies its order updates to updates.
type watched struct {
	strategy.Strategy
	updates chan<- strategy.OrderUpdate
}

func (w watched) OnEvent(ctx context.Context, ev strategy.Event) error {
	err := w.Strategy.OnEvent(ctx, ev)
	if u, ok := ev.(strategy.OrderUpdate); ok {
		select {
		case w.updates <- u:
		default:
		}
	}
	return err
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTutorialBuysAtTheBidWhenTheSpreadIsTight runs the tutorial with its own config file
// against the embedded simulator: with a generous max_bps it rests one buy at the bid, and
// no second one while the first is open.
func TestTutorialBuysAtTheBidWhenTheSpreadIsTight(t *testing.T) {
	dir := t.TempDir()
	var ex adapters.Exchange
	logs := &syncbuf.Buffer{}
	acked := make(chan strategy.OrderUpdate, 16)
	app := fxtest.New(t,
		runtime.Module,
		fx.Invoke(func(*runtime.Loop) {}),
		// The tutorial, watched: its order updates are copied to the test.
		strategy.Module("tight", func(env strategy.Env, cfg Config) (strategy.Strategy, error) {
			s, err := New(env, cfg)
			return watched{s, acked}, err
		}),
		runtime.WithLoadOptions(runtime.LoadOptions{Path: "tight.yaml", Environ: []string{
			"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"),
			"KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"),
			"KEEL_ADMIN_LISTEN=127.0.0.1:0",
			"KEEL_STRATEGIES_TIGHT_MAX_BPS=10000",
			"KEEL_SHUTDOWN_CANCEL_OPEN_ORDERS=false",
		}}),
		runtime.WithLogOutput(logs),
		fx.Populate(&ex),
	)
	app.RequireStart()
	srv := ex.(interface{ Server() *sim.Server }).Server()
	select {
	case <-acked:
	case <-time.After(15 * time.Second):
		t.Fatalf("no order update in 15 s; logs:\n%s", logs.String())
	}
	app.RequireStop()
	orders := srv.Orders()
	if len(orders) != 1 {
		t.Fatalf("%d orders, want exactly one while it rests", len(orders))
	}
	if o := orders[0]; o.Side != "BUY" || o.Symbol != "BTCUSDT" || o.OrigQty != "0.00100000" {
		t.Fatalf("order %+v", o)
	}
}
