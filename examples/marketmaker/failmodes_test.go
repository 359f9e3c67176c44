package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// TestGarbageQuotesAreNeverTraded runs the example bot on REST polling (the path where the
// issue saw it sell at half the market) and feeds it a zero bid, an all-zero quote and a
// crossed book: it pulls its quotes, places nothing while the garbage lasts, never panics,
// and quotes again once the book is sane.
func TestGarbageQuotesAreNeverTraded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bot for several seconds")
	}
	dir := t.TempDir()
	logs := &syncBuffer{}
	var ex adapters.Exchange
	app := fxtest.New(t,
		runtime.Module,
		fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		strategy.Module("marketmaker", New),
		runtime.WithLoadOptions(runtime.LoadOptions{Path: "../../configs/sim.yaml", Environ: []string{
			"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"),
			"KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"),
			"KEEL_ADMIN_LISTEN=127.0.0.1:0",
			"KEEL_LOG_FORMAT=json",
			"KEEL_MARKET_STREAMS=false",
			"KEEL_MARKET_POLL_INTERVAL=100ms",
		}}),
		runtime.WithLogOutput(logs),
		fx.Populate(&ex),
	)
	app.RequireStart()
	defer app.RequireStop()
	srv := ex.(interface{ Server() *sim.Server }).Server()
	live := func() int {
		n := 0
		for _, o := range srv.Orders() {
			if o.Status == "NEW" {
				n++
			}
		}
		return n
	}
	// until polls an observable condition of the running bot, bounded.
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; logs:\n%s", what, logs.String())
			}
		}
	}
	until("both sides quoted", func() bool { return live() == 2 })
	for _, fault := range []string{"zero_bid", "zero", "crossed"} {
		srv.SetFaults(sim.Faults{Quote: fault, Paths: []string{"/api/v3/ticker/bookTicker"}})
		until(fault+": quotes pulled", func() bool { return live() == 0 })
		placed := len(srv.Orders())
		time.Sleep(time.Second) // ten polls of garbage: the run under test, not a wait for a condition
		if n := len(srv.Orders()) - placed; n != 0 {
			t.Fatalf("%s: %d orders placed on garbage quotes", fault, n)
		}
		srv.SetFaults(sim.Faults{})
		until(fault+": quoting again", func() bool { return live() == 2 })
	}
	if strings.Contains(logs.String(), "strategy panicked") {
		t.Fatalf("the strategy panicked:\n%s", logs.String())
	}
}
