package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

type syncBuffer = syncbuf.Buffer

// TestMain lets the test binary stand in for the example's own binary: with
// MARKETMAKER_TEST_RUN_MAIN set, it runs main() (the README's command) instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("MARKETMAKER_TEST_RUN_MAIN") == "1" {
		os.Args = []string{os.Args[0]}
		if a := os.Getenv("MARKETMAKER_TEST_ARGS"); a != "" {
			os.Args = append(os.Args, strings.Fields(a)...)
		}
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// attemptFields are docs/architecture.md's stable per-attempt log fields.
var attemptFields = []string{"ts", "bot_instance_id", "exchange", "endpoint", "method", "status",
	"error_code", "error_message", "request_id", "attempt", "latency_ms", "rate_limit_bucket",
	"concurrency_inflight", "retry_reason", "delay_ms", "idempotency_key"}

// The README's main command, run for 10 s against the embedded simulator: it quotes, requotes
// and cancels, with zero 429s, and its log never carries the secret — on every simulator
// dialect, chosen by configuration alone (an exchange added later is covered without a line
// here), over the dialect's streams where its adapter has them.
func TestExampleBotTradesAgainstTheEmbeddedSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bot for 10 s")
	}
	for _, dialect := range sim.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			exampleBotTrades(t, dialect)
		})
	}
}

func exampleBotTrades(t *testing.T, dialect string) {
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
			"KEEL_EXCHANGE_DIALECT=" + dialect,
			"KEEL_MARKET_POLL_INTERVAL=200ms",
			"KEEL_EXCHANGE_TIME_SCALE=10", // a livelier price walk, so the bot requotes within 10 s
			"KEEL_STRATEGIES_MARKETMAKER_REQUOTE_BPS=1",
			"KEEL_STRATEGIES_MARKETMAKER_MIN_REQUOTE=500ms",
		}}),
		runtime.WithLogOutput(logs),
		fx.Populate(&ex),
	)
	app.RequireStart()
	srv := ex.(interface{ Server() *sim.Server }).Server()
	time.Sleep(10 * time.Second) // the bot's run time under test, not a wait for a condition
	// Count before stopping: the requotes are the strategy's, the shutdown cancels are not.
	var placed, cancelled int
	for _, o := range srv.Orders() {
		placed++
		if o.Status == "CANCELED" {
			cancelled++
		}
	}
	app.RequireStop()

	stats := srv.Stats()
	t.Logf("orders placed %d, cancelled %d, requests %d, 429s %d", placed, cancelled, stats.Total.Requests, stats.Total.Status429)
	if placed < 4 || cancelled < 2 {
		t.Fatalf("the bot placed %d and cancelled %d orders in 10 s; logs:\n%s", placed, cancelled, logs.String())
	}
	if stats.Total.Status429 != 0 || stats.Total.Status418 != 0 {
		t.Fatalf("429s: %d, 418s: %d", stats.Total.Status429, stats.Total.Status418)
	}
	if def, err := adapters.Lookup(dialect); err != nil {
		t.Fatal(err)
	} else if def.Streams && stats.Streams.Opened == 0 {
		t.Fatalf("the %s adapter has streams, but the bot opened no stream connection", dialect)
	}
	out := logs.String()
	if strings.Contains(out, sim.DefaultAPISecret) {
		t.Fatal("the API secret reached the log")
	}
	attempts := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		// Attempt events are the lines with an endpoint and no "event" (a named event such as
		// request_refused names an endpoint too, but is not an attempt).
		if _, ok := ev["endpoint"]; !ok || ev["event"] != nil {
			continue
		}
		if _, named := ev["event"]; named {
			continue // request_refused, retry_given_up, ...: events of their own, not attempts
		}
		attempts++
		for _, f := range attemptFields {
			if _, ok := ev[f]; !ok {
				t.Fatalf("attempt event lacks %q: %s", f, sc.Text())
			}
		}
	}
	if attempts < placed {
		t.Fatalf("%d attempt events for %d orders", attempts, placed)
	}
}

// SIGTERM stops the bot cleanly while it has quotes resting: strategies stop, open orders are
// cancelled, exit code 0, within 5 s, and the journal is closed with nothing left in flight —
// on every simulator dialect, chosen by configuration alone.
func TestSIGTERMExitsZeroWithinFiveSeconds(t *testing.T) {
	// Every dialect the simulator serves: an exchange added later is covered without a line
	// here. Ten times faster than real time, because Kraken's starter tier drains its trading
	// counter at 1 a second and a young order's cancel costs 8: at real time two cancels can
	// wait 10 s for room (configs/kraken.yaml gives shutdown 20 s).
	for _, dialect := range sim.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			sigtermExitsZero(t, "KEEL_EXCHANGE_DIALECT="+dialect, "KEEL_EXCHANGE_TIME_SCALE=10")
		})
	}
}

func sigtermExitsZero(t *testing.T, env ...string) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(),
		"MARKETMAKER_TEST_RUN_MAIN=1",
		"KEEL_JOURNAL_PATH="+filepath.Join(dir, "journal.db"),
		"KEEL_KILLSWITCH_FILE="+filepath.Join(dir, "KILLSWITCH"),
		"KEEL_ADMIN_LISTEN=127.0.0.1:0",
		"KEEL_LOG_FORMAT=json",
	), env...)
	cmd.Dir = dir // no configs/sim.yaml here: the built-in copy is used, as for a built binary
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the bot has an order resting (an accepted placement) before stopping.
	sc := bufio.NewScanner(out)
	var seen strings.Builder
	for sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		var ev struct {
			Status int    `json:"status"`
			Key    string `json:"idempotency_key"`
			Code   int    `json:"error_code"`
		}
		// An attempt that carries an idempotency key is a placement; answered 200 without an
		// error code, the order rests.
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Key != "" && ev.Status == 200 && ev.Code == 0 {
			break
		}
	}
	rest := make(chan string, 1)
	go func() {
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		rest <- b.String()
	}()
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v (output so far:\n%s)", err, seen.String())
	}
	if took > 5*time.Second {
		t.Fatalf("shutdown took %v, want < 5s", took)
	}
	if tail := <-rest; !strings.Contains(tail, "open orders cancelled on shutdown") {
		t.Fatalf("no cancel on shutdown in the log:\n%s", tail)
	}
	j, err := idempotency.OpenFile(filepath.Join(dir, "journal.db"))
	if err != nil {
		t.Fatalf("the journal was not left closed and readable: %v", err)
	}
	defer j.Close()
	if inFlight, err := j.List(context.Background(), idempotency.StateReserved, idempotency.StateSent, idempotency.StateUnknown); err != nil || len(inFlight) != 0 {
		t.Fatalf("journal entries still in flight after shutdown: %v %v", inFlight, err)
	}
}
