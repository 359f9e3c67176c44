package bybit_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestRegistered: exchange.name bybit builds from the registry with Bybit's defaults, its
// config names the bad key, and it has no streams.
func TestRegistered(t *testing.T) {
	d, err := adapters.Lookup("bybit")
	if err != nil {
		t.Fatal(err)
	}
	if d.Streams {
		t.Fatal("the bybit adapter declares streams")
	}
	cfg := d.NewConfig().(*bybit.BotConfig)
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "api_key:") {
		t.Fatalf("a trading bot's config without credentials: %v, want an error naming api_key", err)
	}
	if cfg.AcceptanceWindow() != 5*time.Second {
		t.Fatalf("defaults: %v", cfg)
	}
	for _, c := range []struct {
		cfg bybit.Config
		key string
	}{
		{bybit.Config{Environment: "moon"}, "environment"},
		{bybit.Config{BaseURL: "ftp://x"}, "base_url"},
		{bybit.Config{RecvWindow: 90000}, "recv_window"},
		{bybit.Config{APIKey: "k"}, "api_secret"},
		{bybit.Config{APISecret: "s"}, "api_key"},
	} {
		if err := c.cfg.Validate(); !errors.Is(err, bybit.ErrConfig) || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("%v: %v, want an error naming %s", c.cfg, err, c.key)
		}
	}
	for env, url := range map[string]string{"testnet": bybit.TestnetURL, "demo": bybit.DemoURL, "mainnet": bybit.MainnetURL} {
		c := bybit.BotConfig{Config: bybit.Config{Environment: env}}
		ex, err := d.New(&c, adapters.Env{Scheduler: newScheduler(t)})
		if err != nil || !strings.Contains(ex.(*bybit.Client).String(), url) {
			t.Fatalf("%s: %v %v", env, ex, err)
		}
		if _, err := ex.(adapters.Streamer).UserStream(adapters.UserHandler{}, adapters.StreamOptions{}); !errors.Is(err, adapters.ErrNoStreams) {
			t.Fatalf("user stream: %v", err)
		}
	}
}

func newScheduler(t *testing.T) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(scheduler.Config{Windows: bybit.SchedulerWindows(), Buckets: bybit.SchedulerBuckets()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEmbeddedSimulator: exchange.name sim with dialect bybit starts the simulator
// in-process and builds this adapter against it.
func TestEmbeddedSimulator(t *testing.T) {
	d, err := adapters.Lookup("sim")
	if err != nil {
		t.Fatal(err)
	}
	cfg := d.NewConfig().(*sim.ExchangeConfig)
	cfg.Dialect = sim.DialectBybit
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var stops []func() error
	ex, err := d.New(cfg, adapters.Env{Scheduler: newScheduler(t), OnStop: func(f func() error) { stops = append(stops, f) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, f := range stops {
			f()
		}
	}()
	ctx := testCtx(t)
	if _, err := ex.Ticker(ctx, "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.Balances(ctx); err != nil {
		t.Fatal(err)
	}
}
