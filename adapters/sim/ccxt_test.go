package sim_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// TestCCXT drives the simulator with ccxt (JavaScript; the client most bots outside Go use),
// unmodified: markets, tickers, book, candles, trades, balance, limit and market orders,
// query, cancel, fills (testdata/ccxt/check.mjs; every URL ccxt knows is pointed at the
// simulator, nothing leaves loopback). It needs node and ccxt, which the Go toolchain does not
// bring: `npm ci --prefix adapters/sim/testdata/ccxt` installs the pinned version there (.ci/run
// does), or KEEL_CCXT_DIR names another directory where `npm install ccxt@4.5.84` ran; without
// either the test skips, saying so.
func TestCCXT(t *testing.T) {
	runCCXT(t, "check.mjs", 13, sim.Config{Seed: 9, WalkInterval: 100 * time.Millisecond})
}

// TestCCXTStreams drives the market streams (watchTicker, watchOrderBook, watchTrades,
// watchOHLCV: ccxt opens /ws/<n> and subscribes with SUBSCRIBE) and the WebSocket API
// (createOrderWs, fetchOrderWs, editOrderWs = order.cancelReplace, cancelOrderWs,
// fetchBalanceWs, fetchMyTradesWs) with ccxt.pro, unmodified (testdata/ccxt/check_ws.mjs), as
// TestCCXT does REST.
func TestCCXTStreams(t *testing.T) {
	runCCXT(t, "check_ws.mjs", 12, sim.Config{Seed: 9, WalkInterval: 100 * time.Millisecond,
		Streams: sim.StreamConfig{Interval: 20 * time.Millisecond}})
}

// runCCXT runs a testdata/ccxt script against a simulator of cfg and wants steps passed.
func runCCXT(t *testing.T, scriptName string, steps int, cfg sim.Config) {
	t.Helper()
	dir := os.Getenv("KEEL_CCXT_DIR")
	if dir == "" {
		dir = "testdata/ccxt"
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "ccxt")); err != nil {
			t.Skip("ccxt is not installed: run `npm ci --prefix adapters/sim/testdata/ccxt` (or point KEEL_CCXT_DIR at an install of ccxt@4.5.84)")
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("KEEL_CCXT_DIR is set but node is not on PATH: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ccxt")); err != nil {
		t.Fatalf("KEEL_CCXT_DIR=%s has no node_modules/ccxt: %v", dir, err)
	}
	script, err := os.ReadFile(filepath.Join("testdata", "ccxt", scriptName))
	if err != nil {
		t.Fatal(err)
	}
	// The script must sit beside node_modules for its import to resolve.
	f, err := os.CreateTemp(dir, "keel-ccxt-check-*.mjs")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	f.Write(script)
	f.Close()
	srv := listen(t, cfg)
	cmd := exec.Command(node, f.Name())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KEEL_SIM_URL="+srv.URL(), "KEEL_SIM_KEY="+sim.DefaultAPIKey, "KEEL_SIM_SECRET="+sim.DefaultAPISecret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ccxt: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), `"ok":true`); n != steps {
		t.Fatalf("%d of %d ccxt calls passed:\n%s", n, steps, out)
	}
}
