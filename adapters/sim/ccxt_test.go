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
// bring: set KEEL_CCXT_DIR to a directory where `npm install ccxt@4.5.84` ran; without it the
// test skips, saying so.
func TestCCXT(t *testing.T) {
	dir := os.Getenv("KEEL_CCXT_DIR")
	if dir == "" {
		t.Skip("KEEL_CCXT_DIR is not set: run `npm install ccxt@4.5.84` in a directory and point KEEL_CCXT_DIR at it")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("KEEL_CCXT_DIR is set but node is not on PATH: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ccxt")); err != nil {
		t.Fatalf("KEEL_CCXT_DIR=%s has no node_modules/ccxt: %v", dir, err)
	}
	script, err := os.ReadFile("testdata/ccxt/check.mjs")
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
	srv := listen(t, sim.Config{Seed: 9, WalkInterval: 100 * time.Millisecond})
	cmd := exec.Command(node, f.Name())
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KEEL_SIM_URL="+srv.URL(), "KEEL_SIM_KEY="+sim.DefaultAPIKey, "KEEL_SIM_SECRET="+sim.DefaultAPISecret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ccxt: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), `"ok":true`); n != 13 {
		t.Fatalf("%d of 13 ccxt calls passed:\n%s", n, out)
	}
}
