package runtime_test

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// A bare number where a duration belongs would be nanoseconds (`market.tick: 1` spun the
// loop; `shutdown.timeout: 5` cut shutdown short with orders live): it is refused, in every
// section, from the file and from the environment, naming the key.
func TestBareDurationsAreRefused(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        []string
		key        string
	}{
		{name: "market.tick", yaml: "market:\n  tick: 1\n", key: "market.tick"},
		{name: "shutdown.timeout", yaml: "shutdown:\n  timeout: 5\n", key: "shutdown.timeout"},
		{name: "float", yaml: "market:\n  poll_interval: 1.5\n", key: "market.poll_interval"},
		{name: "environment", env: []string{"KEEL_SHUTDOWN_TIMEOUT=5"}, key: "shutdown.timeout"},
		{name: "scheduler", yaml: "scheduler:\n  backoff:\n    cap: 10\n", key: "scheduler.backoff.cap"},
		{name: "scheduler window", yaml: "scheduler:\n  windows:\n    - name: W\n      limit: 10\n      interval: 60\n", key: "scheduler.windows"},
		{name: "exchange adapter section", env: append(binanceEnv(), "KEEL_EXCHANGE_TIMEOUT=10"), key: "exchange.timeout"},
		{name: "exchange adapter section in the file", yaml: "exchange:\n  name: binance\n  timeout: 10\n", env: []string{"KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=s"}, key: "exchange.timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := runtime.LoadOptions{Environ: append([]string{}, tt.env...)}
			if tt.yaml != "" {
				o.Path = writeYAML(t, tt.yaml)
			}
			_, _, err := runtime.LoadConfig(o)
			var ce *runtime.ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.Key, tt.key) || !strings.Contains(ce.Reason, "durations need a unit") {
				t.Fatalf("got %v, want a ConfigError on %s saying durations need a unit", err, tt.key)
			}
			t.Log(err)
		})
	}
	// With a unit, and a unit-less 0, they load.
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: writeYAML(t, "market:\n  tick: 250ms\nshutdown:\n  timeout: 5s\n"), Environ: []string{"KEEL_MARKET_INFO_TTL=2m"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Market.Tick != 250*time.Millisecond || c.Shutdown.Timeout != 5*time.Second || c.Market.InfoTTL != 2*time.Minute {
		t.Fatalf("tick %s, timeout %s, info_ttl %s", c.Market.Tick, c.Shutdown.Timeout, c.Market.InfoTTL)
	}
}

type pacedConfig struct {
	Symbol string        `koanf:"symbol"`
	Every  time.Duration `koanf:"every"`
}

func pacedStrategy(name string) fx.Option {
	return strategy.Module(name, func(strategy.Env, pacedConfig) (strategy.Strategy, error) { return nopStrategy{}, nil })
}

// anySectionStrategy reads whatever its section holds.
func anySectionStrategy(name string) fx.Option {
	return strategy.Module(name, func(strategy.Env, map[string]any) (strategy.Strategy, error) { return nopStrategy{}, nil })
}

// startUpError builds the runtime with the given strategies and config and returns its
// start-up error (fx's graph error: the config is checked while the graph is built).
func startUpError(t *testing.T, yaml string, env []string, strategies ...fx.Option) error {
	t.Helper()
	dir := t.TempDir()
	o := runtime.LoadOptions{Environ: append([]string{"KEEL_JOURNAL_PATH=" + dir + "/j.db", "KEEL_KILLSWITCH_FILE=" + dir + "/K", "KEEL_ADMIN_LISTEN=127.0.0.1:0"}, env...)}
	if yaml != "" {
		o.Path = writeYAML(t, yaml)
	}
	opts := append([]fx.Option{runtime.Module, fx.NopLogger, fx.Invoke(func(*runtime.Config) {}), runtime.WithLoadOptions(o)}, strategies...)
	return fx.New(opts...).Err()
}

// A strategy section no strategy in the binary reads stops start-up: a misspelled one
// (`strategies.marketmakr`) would leave the built-in defaults trading. The built-in
// defaults' own marketmaker section does not, while untouched, stop a binary without that
// strategy (go run ./examples/tight).
func TestStrategySectionsMustBelongToAStrategy(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        []string
		strategies []fx.Option
		key        string // "" when start-up must succeed
	}{
		{name: "misspelled section", yaml: "strategies:\n  marketmakr:\n    spread_bps: 50\n", strategies: []fx.Option{anySectionStrategy("marketmaker")}, key: "strategies.marketmakr"},
		{name: "section for an absent strategy", yaml: "strategies:\n  tight:\n    symbol: X\n  grid:\n    symbol: Y\n", strategies: []fx.Option{pacedStrategy("tight")}, key: "strategies.grid"},
		{name: "defaults' section changed through the environment", env: []string{"KEEL_STRATEGIES_MARKETMAKER_SPREAD_BPS=50"}, strategies: []fx.Option{pacedStrategy("tight")}, key: "strategies.marketmaker"},
		{name: "defaults' section changed in the file", yaml: "strategies:\n  marketmaker:\n    spread_bps: 50\n", strategies: []fx.Option{pacedStrategy("tight")}, key: "strategies.marketmaker"},
		{name: "untouched defaults' section", yaml: "strategies:\n  tight:\n    symbol: X\n", strategies: []fx.Option{pacedStrategy("tight")}},
		{name: "a copy of the defaults", yaml: string(mustRead(t, "../configs/sim.yaml")) + "  tight:\n    symbol: X\n", strategies: []fx.Option{pacedStrategy("tight")}},
		{name: "bare duration in a strategy section", yaml: "strategies:\n  tight:\n    every: 2\n", strategies: []fx.Option{pacedStrategy("tight")}, key: "strategies.tight.every"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := startUpError(t, tt.yaml, tt.env, tt.strategies...)
			if tt.key == "" {
				if err != nil {
					t.Fatalf("start-up failed: %v", err)
				}
				return
			}
			var ce *runtime.ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key {
				t.Fatalf("start-up error %v; want a ConfigError on %s", err, tt.key)
			}
			t.Log(ce)
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A strategy's own Validate error is a ConfigError on the full key, as the runtime's are.
func TestStrategyValidateErrorIsAConfigError(t *testing.T) {
	err := startUpError(t, "strategies:\n  s:\n    size: 1\n", nil,
		strategy.Module("s", func(strategy.Env, symbolConfig) (strategy.Strategy, error) { return nopStrategy{}, nil }))
	var ce *runtime.ConfigError
	if !errors.As(err, &ce) || ce.Error() != "config: strategies.s.symbol: required" {
		t.Fatalf("got %v; want the ConfigError config: strategies.s.symbol: required", err)
	}
}

// On a terminal every line shows a level, the scheduler's attempt events included (in JSON
// they carry no level field): a success INF, a server error WRN, never "???".
func TestConsoleLinesShowTheirLevel(t *testing.T) {
	dir := t.TempDir()
	logs := &syncbuf.Buffer{}
	var ex adapters.Exchange
	app := fxtest.New(t, runtime.Module, fx.Invoke(func(*runtime.Loop) {}),
		anySectionStrategy("marketmaker"),
		runtime.WithLoadOptions(runtime.LoadOptions{Environ: []string{
			"KEEL_JOURNAL_PATH=" + dir + "/j.db", "KEEL_KILLSWITCH_FILE=" + dir + "/K", "KEEL_ADMIN_LISTEN=127.0.0.1:0",
			"KEEL_LOG_FORMAT=console", "KEEL_MARKET_STREAMS=false", "KEEL_PORTFOLIO_REFRESH_INTERVAL=100ms",
			// On a console successful attempts print only at debug (the summary line replaces them).
			"KEEL_LOG_LEVEL=debug",
		}}),
		runtime.WithLogOutput(logs), fx.Populate(&ex))
	app.RequireStart()
	defer app.RequireStop()
	srv := ex.(interface{ Server() *sim.Server }).Server()
	waitFor(t, logs, "/api/v3/account")
	srv.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: 503, Paths: []string{"/api/v3/account"}})
	waitFor(t, logs, "503")
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	for _, line := range strings.Split(ansi.ReplaceAllString(logs.String(), ""), "\n") {
		if strings.Contains(line, "???") {
			t.Fatalf("a console line without its level: %q", line)
		}
		switch {
		case strings.Contains(line, "status=200") && !strings.Contains(line, " INF "):
			t.Fatalf("a successful attempt is not INF: %q", line)
		case strings.Contains(line, "status=503") && !strings.Contains(line, " WRN "):
			t.Fatalf("a failed attempt is not WRN: %q", line)
		}
	}
}

// waitFor polls the log until it contains s (bounded: 10 s).
func waitFor(t *testing.T, logs *syncbuf.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log after 10 s:\n%s", s, logs.String())
		}
		<-time.After(10 * time.Millisecond) // a bounded poll of the log, not a wait for time to pass
	}
}

// scheduler.windows replaces the adapter's windows whole: a list that leaves one out would
// make every request costing it fail once the bot runs, so start-up refuses it.
func TestSchedulerWindowsMustCoverTheAdapters(t *testing.T) {
	_, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: writeYAML(t, "scheduler:\n  windows:\n    - {name: REQUEST_WEIGHT_1M, limit: 1200, interval: 1m}\n"), Environ: []string{}})
	var ce *runtime.ConfigError
	if !errors.As(err, &ce) || ce.Key != "scheduler.windows" || !strings.Contains(ce.Reason, "RAW_REQUESTS_5M") {
		t.Fatalf("got %v, want a ConfigError on scheduler.windows naming the missing window", err)
	}
}

// exchange.base_url on the testnet with the stream URLs on production stops start-up naming
// the stream key; left empty, they follow (the adapter's tests check which URLs it derives).
func TestStreamURLsMustFollowTheBaseURL(t *testing.T) {
	env := []string{"KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=s",
		"KEEL_EXCHANGE_BASE_URL=https://testnet.binance.vision"}
	if _, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: env}); err != nil {
		t.Fatalf("a testnet base_url alone: %v", err)
	}
	_, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: append(env, "KEEL_EXCHANGE_STREAM_URL=wss://stream.binance.com:9443")})
	var ce *runtime.ConfigError
	if !errors.As(err, &ce) || ce.Key != "exchange.stream_url" {
		t.Fatalf("testnet base_url with production streams: %v; want a ConfigError on exchange.stream_url", err)
	}
	t.Log(err)
}
