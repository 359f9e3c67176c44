package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// pluginConfig is the config of an exchange the runtime has never heard of.
type pluginConfig struct {
	Greeting string `koanf:"greeting"`
}

func (c *pluginConfig) Validate() error {
	if c.Greeting == "" {
		return errors.New("greeting: required")
	}
	return nil
}

func (c *pluginConfig) SchedulerWindows() []scheduler.WindowConfig {
	return []scheduler.WindowConfig{{Name: "PLUGIN_1S", Limit: 7, Interval: time.Second, Kind: scheduler.KindSliding}}
}

func (c *pluginConfig) SchedulerBuckets() []scheduler.BucketConfig {
	return []scheduler.BucketConfig{{Name: "plugin"}}
}

func (c *pluginConfig) AcceptanceWindow() time.Duration { return 1234 * time.Millisecond }

var pluginBuilt = make(chan *pluginConfig, 8)

func init() {
	adapters.Register(adapters.Definition{
		Name:      "plugintest",
		NewConfig: func() adapters.Config { return &pluginConfig{} },
		New: func(cfg adapters.Config, env adapters.Env) (adapters.Exchange, error) {
			if env.Scheduler == nil {
				return nil, errors.New("no scheduler in the adapter's Env")
			}
			pluginBuilt <- cfg.(*pluginConfig)
			return &fakeExchange{}, nil
		},
	})
}

// The runtime builds an exchange it does not import, from the registry: the adapter's own
// config keys, windows, buckets and acceptance window reach it; its unknown keys are refused
// with the full key.
func TestRuntimeBuildsARegisteredExchange(t *testing.T) {
	dir := t.TempDir()
	env := []string{"KEEL_EXCHANGE_NAME=plugintest", "KEEL_EXCHANGE_GREETING=hello",
		"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "j.db"), "KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KS"),
		"KEEL_ADMIN_LISTEN=127.0.0.1:0", "KEEL_MARKET_STREAMS=false"}
	c, _, err := LoadConfig(LoadOptions{Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	if c.Orders.RecvWindow != 1234*time.Millisecond || len(c.Scheduler.Windows) != 1 || c.Scheduler.Windows[0].Name != "PLUGIN_1S" ||
		len(c.Scheduler.Buckets) != 1 || c.Scheduler.Buckets[0].Name != "plugin" {
		t.Fatalf("the adapter's windows, buckets and acceptance window did not reach the runtime: %+v %+v %v",
			c.Scheduler.Windows, c.Scheduler.Buckets, c.Orders.RecvWindow)
	}
	var ex adapters.Exchange
	app := fxtest.New(t, Module, WithLoadOptions(LoadOptions{Environ: env}), fx.Populate(&ex))
	defer app.RequireStart().RequireStop()
	if _, ok := ex.(*fakeExchange); !ok {
		t.Fatalf("exchange %T, want the registered adapter's", ex)
	}
	if got := <-pluginBuilt; got.Greeting != "hello" {
		t.Fatalf("the adapter got config %+v", got)
	}

	_, _, err = LoadConfig(LoadOptions{Environ: []string{"KEEL_EXCHANGE_NAME=plugintest", "KEEL_EXCHANGE_GREETING=hi"},
		Path: writeTemp(t, "exchange:\n  greting: typo\n")})
	if err == nil || !strings.Contains(err.Error(), "exchange.greting") {
		t.Fatalf("an unknown key of the adapter's section: %v", err)
	}
	_, _, err = LoadConfig(LoadOptions{Environ: []string{"KEEL_EXCHANGE_NAME=plugintest"}})
	if err == nil || !strings.Contains(err.Error(), "exchange.greeting") {
		t.Fatalf("the adapter's Validate error must name the full key: %v", err)
	}
}

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keel.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
