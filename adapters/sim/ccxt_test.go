package sim_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// TestCCXTClient drives the simulator with ccxt (JavaScript; the most widely used trading
// library), unmodified: REST market data and trading (editOrder is cancelReplace), the market
// streams (ccxt opens /ws/<n> and subscribes with SUBSCRIBE) and the WebSocket API
// (order.place, order.status, order.cancelReplace, order.cancel, account.status, myTrades).
// testdata/ccxt/check.js lists the checks. It needs node and ccxt installed:
//
//	cd adapters/sim/testdata/ccxt && npm ci --ignore-scripts
//
// and skips, saying so, without them.
func TestCCXTClient(t *testing.T) {
	node, err := exec.LookPath("node")
	dir := filepath.Join("testdata", "ccxt")
	modules := filepath.Join(dir, "node_modules")
	if d := os.Getenv("KEEL_CCXT_DIR"); d != "" { // an install of ccxt elsewhere
		modules = filepath.Join(d, "node_modules")
	}
	if _, serr := os.Stat(filepath.Join(modules, "ccxt")); err != nil || serr != nil {
		t.Skip("ccxt is not installed: cd adapters/sim/testdata/ccxt && npm ci --ignore-scripts (needs node), or KEEL_CCXT_DIR=<a directory with ccxt 4.5.84 in node_modules>")
	}
	modules, _ = filepath.Abs(modules)
	s := listen(t, sim.Config{Seed: 11, APIKey: testKey, APISecret: testSecret, WalkInterval: 100 * time.Millisecond,
		Streams: sim.StreamConfig{Interval: 20 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "check.js", s.URL(), testKey, testSecret)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ccxt against the simulator: %v\n%s", err, out)
	}
	t.Logf("ccxt:\n%s", out)
}
