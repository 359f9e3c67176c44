package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/binance"
	_ "github.com/keelbot/keel/adapters/exchanges"
	"github.com/keelbot/keel/configs"
	"github.com/keelbot/keel/runtime"
)

// binanceEnv configures exchange.name binance with credentials, from the environment.
func binanceEnv() []string {
	return []string{"KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL=https://api.binance.com",
		"KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=s"}
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "keel.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsEqualConfigsSimYAML(t *testing.T) {
	onDisk, err := os.ReadFile("../configs/sim.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != string(configs.Sim) {
		t.Fatal("the embedded defaults differ from configs/sim.yaml")
	}
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Exchange.Name != "sim" || c.Admin.Listen != "127.0.0.1:9464" || c.KillSwitch.File != "./KILLSWITCH" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEnvironmentOverridesResolveAgainstKnownKeys(t *testing.T) {
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{
		"KEEL_EXCHANGE_NAME=binance",
		"KEEL_EXCHANGE_BASE_URL=http://127.0.0.1:8600",
		"KEEL_EXCHANGE_API_KEY=K",
		"KEEL_EXCHANGE_API_SECRET=S3CR3T",
		"KEEL_ADMIN_LISTEN=127.0.0.1:9999",
		"KEEL_KILLSWITCH_FILE=/tmp/halt",
		"KEEL_JOURNAL_PATH=/tmp/j.db",
		"KEEL_SCHEDULER_BACKOFF_BASE=300ms", // not in the YAML: known from the struct
		"KEEL_STRATEGIES_MARKETMAKER_SPREAD_BPS=40",
		"PATH=/usr/bin", // not ours: ignored
	}})
	if err != nil {
		t.Fatal(err)
	}
	bc, ok := c.Exchange.Adapter.(*binance.BotConfig)
	if !ok {
		t.Fatalf("exchange.name binance decoded into %T", c.Exchange.Adapter)
	}
	switch {
	case bc.BaseURL != "http://127.0.0.1:8600", string(bc.APISecret) != "S3CR3T",
		c.Admin.Listen != "127.0.0.1:9999", c.KillSwitch.File != "/tmp/halt", c.Journal.Path != "/tmp/j.db",
		c.Scheduler.Backoff.Base != 300*time.Millisecond:
		t.Fatalf("overrides not applied: %+v", c)
	}
	if got := c.Strategies["marketmaker"].(map[string]any)["spread_bps"]; got != "40" {
		t.Fatalf("strategy key override = %v", got)
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantKey string
	}{
		{name: "wrong type", yaml: "admin:\n  allow_remote: maybe\n", wantKey: "admin.allow_remote"},
		{name: "wrong duration", yaml: "shutdown:\n  timeout: soon\n", wantKey: "shutdown.timeout"},
		{name: "unknown exchange", yaml: "exchange:\n  name: ftx\n", wantKey: "exchange.name"},
		{name: "negative cap", yaml: "scheduler:\n  buckets:\n    - name: orders\n      max_concurrency: -1\n", wantKey: "max_concurrency"},
		{name: "binance without secret", yaml: "exchange:\n  name: binance\n  base_url: https://api.binance.com\n  api_key: K\n", wantKey: "exchange.api_secret"},
		{name: "unknown key", yaml: "admin:\n  lisen: 127.0.0.1:1\n", wantKey: "admin.lisen"},
		{name: "unknown section", yaml: "amdin:\n  listen: 127.0.0.1:1\n", wantKey: "amdin"},
		{name: "remote admin", yaml: "admin:\n  listen: 0.0.0.0:9464\n", wantKey: "admin.listen"},
		{name: "bad log level", yaml: "log:\n  level: loud\n", wantKey: "log.level"},
		{name: "unknown env var", env: []string{"KEEL_ADMIN_LISTENN=x"}, wantKey: "KEEL_ADMIN_LISTENN"},
		// In the scheduler section a zero means "the default": written out, it is refused.
		{name: "zero cap", yaml: "scheduler:\n  buckets:\n    - name: orders\n      max_concurrency: 0\n", wantKey: "scheduler.buckets[0].max_concurrency"},
		{name: "zero safety fraction", yaml: "scheduler:\n  safety_fraction: 0\n", wantKey: "scheduler.safety_fraction"},
		{name: "zero headroom", yaml: "scheduler:\n  headroom:\n    market: 0.0\n", wantKey: "scheduler.headroom.market"},
		{name: "zero retries", env: []string{"KEEL_SCHEDULER_RETRIES_RATE_LIMIT=0"}, wantKey: "scheduler.retries.rate_limit: 0 is not a value here (a zero means the default): leave the key out for the default, or use -1"},
		{name: "zero duration", yaml: "scheduler:\n  backoff:\n    base: 0s\n", wantKey: "scheduler.backoff.base"},
		{name: "bad safety fraction", yaml: "scheduler:\n  safety_fraction: 1.5\n", wantKey: "safety_fraction"},
		{name: "NaN time scale", yaml: "exchange:\n  time_scale: .nan\n", wantKey: "exchange.time_scale"},
		{name: "infinite time scale", env: []string{"KEEL_EXCHANGE_TIME_SCALE=+Inf"}, wantKey: "exchange.time_scale"},
		{name: "zero time scale", yaml: "exchange:\n  time_scale: 0\n", wantKey: "exchange.time_scale"},
		{name: "settle time inside a long recvWindow", env: append(binanceEnv(), "KEEL_EXCHANGE_RECV_WINDOW=20000"), wantKey: "orders.settle_time"},
		{name: "negative time scale", yaml: "exchange:\n  time_scale: -2\n", wantKey: "exchange.time_scale"},
		{name: "unknown dialect", yaml: "exchange:\n  dialect: ftx\n", wantKey: "exchange.dialect"},
		{name: "a binance key under the simulator", yaml: "exchange:\n  recv_window: 5000\n", wantKey: "exchange.recv_window"},
		{name: "a simulator key under binance", env: append(binanceEnv(), "KEEL_EXCHANGE_TIME_SCALE=2"), wantKey: "exchange.time_scale"},
		{name: "bad kill switch poll", yaml: "killswitch:\n  poll_interval: 10s\n", wantKey: "killswitch.poll_interval"},
		{name: "unknown strategy failure action", yaml: "on_strategy_failure: ignore\n", wantKey: "on_strategy_failure"},
		{name: "negative admin connection cap", env: []string{"KEEL_ADMIN_MAX_CONNECTIONS=-1"}, wantKey: "admin.max_connections"},
		{name: "negative admin idle timeout", yaml: "admin:\n  idle_timeout: -1s\n", wantKey: "admin.idle_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := runtime.LoadOptions{Environ: tt.env}
			if o.Environ == nil {
				o.Environ = []string{}
			}
			if tt.yaml != "" {
				o.Path = writeYAML(t, tt.yaml)
			}
			_, _, err := runtime.LoadConfig(o)
			if err == nil {
				t.Fatal("bad config accepted")
			}
			var ce *runtime.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *runtime.ConfigError", err, err)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("error %q does not name %s", err, tt.wantKey)
			}
		})
	}
}

func TestConfigErrorsNeverCarryTheSecret(t *testing.T) {
	_, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{
		"KEEL_EXCHANGE_NAME=binance",
		"KEEL_EXCHANGE_BASE_URL=https://api.binance.com",
		"KEEL_EXCHANGE_API_KEY=K",
		"KEEL_EXCHANGE_API_SECRET=TOPSECRETVALUE",
		"KEEL_EXCHANGE_ED25519_PRIVATE_KEY_FILE=/nonexistent",
	}})
	if err == nil {
		t.Fatal("two signing keys accepted")
	}
	if strings.Contains(err.Error(), "TOPSECRETVALUE") {
		t.Fatalf("secret leaked: %v", err)
	}
}

// Every exchange template asks for its secrets from the environment, then loads as that
// exchange with the adapter's own config.
func TestExchangeTemplatesNeedSecretsFromTheEnvironment(t *testing.T) {
	for _, tt := range []struct{ file, name, baseURL string }{
		{"../configs/binance.yaml", "binance", "https://api.binance.com"},
		{"../configs/kraken.yaml", "kraken", "https://api.kraken.com"},
		{"../configs/bybit.yaml", "bybit", "https://api-testnet.bybit.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: tt.file, Environ: []string{}})
			if err == nil || !strings.Contains(err.Error(), "exchange.api_") {
				t.Fatalf("the template without environment must ask for the key: %v", err)
			}
			c, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: tt.file, Environ: []string{
				"KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=c2VjcmV0",
			}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Exchange.Name != tt.name || !strings.Contains(fmt.Sprint(c.Exchange.Adapter), tt.baseURL) {
				t.Fatalf("template: %s %v", c.Exchange.Name, c.Exchange.Adapter)
			}
			if strings.Contains(fmt.Sprint(c.Exchange.Adapter), "c2VjcmV0") {
				t.Fatalf("the adapter config prints its secret: %v", c.Exchange.Adapter)
			}
		})
	}
}

// The orders manager's timing follows the keys it depends on: its acceptance window is
// exchange.recv_window and a placement's send-by deadline is scheduler.default_budget,
// unless set on their own.
func TestOrdersTimingFollowsExchangeAndScheduler(t *testing.T) {
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: append(binanceEnv(),
		"KEEL_EXCHANGE_RECV_WINDOW=3000", "KEEL_SCHEDULER_DEFAULT_BUDGET=12s")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Orders.RecvWindow != 3*time.Second || c.Orders.SendTimeout != 12*time.Second {
		t.Fatalf("recv_window %s, send_timeout %s; want 3s and 12s", c.Orders.RecvWindow, c.Orders.SendTimeout)
	}
	c, _, err = runtime.LoadConfig(runtime.LoadOptions{Environ: []string{
		"KEEL_SCHEDULER_DEFAULT_BUDGET=12s", "KEEL_ORDERS_SEND_TIMEOUT=5s"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Orders.SendTimeout != 5*time.Second {
		t.Fatalf("send_timeout %s, want its own 5s", c.Orders.SendTimeout)
	}
}
