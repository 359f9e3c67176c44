package runtime_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

type nopStrategy struct{}

func (nopStrategy) OnEvent(ctx context.Context, ev strategy.Event) error { return nil }

func TestWiringValidates(t *testing.T) {
	err := fx.ValidateApp(
		runtime.Module,
		fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		strategy.Module("a", func(strategy.Env, struct{}) (strategy.Strategy, error) { return nopStrategy{}, nil }),
		strategy.Module("b", func(strategy.Env, struct{}) (strategy.Strategy, error) { return nopStrategy{}, nil }),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// A bad configuration fails start-up itself, not just LoadConfig, and the error names the key.
func TestBadConfigFailsStartUpNamingTheKey(t *testing.T) {
	for key, env := range map[string]string{
		"exchange.name":             "KEEL_EXCHANGE_NAME=ftx",
		"scheduler.safety_fraction": "KEEL_SCHEDULER_SAFETY_FRACTION=2",
		"admin.allow_remote":        "KEEL_ADMIN_ALLOW_REMOTE=perhaps",
		"KEEL_ADMN_LISTEN":          "KEEL_ADMN_LISTEN=127.0.0.1:1",
		"exchange.api_secret":       "KEEL_EXCHANGE_NAME=binance",
		"strategies.a.symbol":       "KEEL_STRATEGIES_A_SYMBOL=x",
	} {
		t.Run(key, func(t *testing.T) {
			environ := []string{env, "KEEL_JOURNAL_PATH=" + t.TempDir() + "/j.db"}
			if key == "exchange.api_secret" {
				environ = append(environ, "KEEL_EXCHANGE_BASE_URL=https://api.binance.com", "KEEL_EXCHANGE_API_KEY=k")
			}
			app := fx.New(runtime.Module, fx.NopLogger,
				fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
				runtime.WithLoadOptions(runtime.LoadOptions{Environ: environ}))
			err := app.Err()
			if key == "strategies.a.symbol" {
				// strategies.a is not in the defaults, so its keys are unknown to the environment.
				key = "KEEL_STRATEGIES_A_SYMBOL"
			}
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Fatalf("start-up error %v does not name %s", err, key)
			}
		})
	}
}

type symbolConfig struct {
	Symbol string `koanf:"symbol"`
	Size   int    `koanf:"size"`
}

func (c *symbolConfig) Validate() error {
	if c.Symbol == "" {
		return errors.New("symbol: required")
	}
	return nil
}

// A strategy's own section is checked at start-up too: unknown keys, wrong types, and its
// Validate, each naming the key.
func TestBadStrategyConfigFailsStartUp(t *testing.T) {
	for key, yaml := range map[string]string{
		"strategies.s.sise":   "strategies:\n  s:\n    symbol: BTCUSDT\n    sise: 1\n",
		"strategies.s.size":   "strategies:\n  s:\n    symbol: BTCUSDT\n    size: big\n",
		"strategies.s.symbol": "strategies:\n  s:\n    size: 1\n",
	} {
		t.Run(key, func(t *testing.T) {
			dir := t.TempDir()
			path := dir + "/keel.yaml"
			if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			app := fx.New(runtime.Module, fx.NopLogger,
				fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
				strategy.Module("s", func(strategy.Env, symbolConfig) (strategy.Strategy, error) { return nopStrategy{}, nil }),
				runtime.WithLoadOptions(runtime.LoadOptions{Path: path, Environ: []string{"KEEL_JOURNAL_PATH=" + dir + "/j.db"}}))
			if err := app.Err(); err == nil || !strings.Contains(err.Error(), key) {
				t.Fatalf("start-up error %v does not name %s", err, key)
			}
		})
	}
}

// A journal that is not a journal stops start-up with an error naming the file, and the file
// is left as it was (never replaced by an empty journal).
func TestCorruptJournalFailsStartUp(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/journal.db"
	garbage := []byte(strings.Repeat("not a bbolt file ", 512))
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	app := fx.New(runtime.Module, fx.NopLogger,
		fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		runtime.WithLoadOptions(runtime.LoadOptions{Environ: []string{"KEEL_JOURNAL_PATH=" + path,
			"KEEL_KILLSWITCH_FILE=" + dir + "/KILLSWITCH", "KEEL_ADMIN_LISTEN=127.0.0.1:0"}}))
	err := app.Err()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = app.Start(ctx)
		_ = app.Stop(ctx)
	}
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("start-up error %v does not name the journal %s", err, path)
	}
	if after, _ := os.ReadFile(path); string(after) != string(garbage) {
		t.Fatal("the corrupt journal was modified")
	}
}

// A journal that had to be created is logged with its path: on a restart it means the path
// moved, which an operator must hear about.
func TestNewJournalIsLogged(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/journal.db"
	for run, want := range []bool{true, false} {
		var logs syncBuffer
		app := fx.New(runtime.Module, fx.NopLogger, runtime.WithLogOutput(&logs),
			fx.Invoke(func(idempotency.Store) {}),
			runtime.WithLoadOptions(runtime.LoadOptions{Environ: []string{"KEEL_JOURNAL_PATH=" + path,
				"KEEL_KILLSWITCH_FILE=" + dir + "/KILLSWITCH", "KEEL_LOG_FORMAT=json"}}))
		if err := app.Err(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := app.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := app.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if got := strings.Contains(logs.String(), "created an empty one") && strings.Contains(logs.String(), path); got != want {
			t.Fatalf("run %d: new-journal warning logged = %v, want %v:\n%s", run, got, want, logs.String())
		}
	}
}
