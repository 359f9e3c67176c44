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
		{name: "zero summary interval", yaml: "ui:\n  summary_interval: 0s\n", wantKey: "ui.summary_interval"},
		{name: "notify typo", yaml: "notify:\n  slack_url: x\n", wantKey: "notify.slack_url"},
		{name: "slack not a URL", env: []string{"KEEL_NOTIFY_SLACK_WEBHOOK_URL=hooks-secretpath-XYZ"}, wantKey: "notify.slack_webhook_url"},
		{name: "telegram without chat", env: []string{"KEEL_NOTIFY_TELEGRAM_BOT_TOKEN=123:tok"}, wantKey: "notify.telegram_bot_token"},
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
		// Outside the scheduler section too a zero would mean "the default": refused.
		{name: "zero resends", yaml: "orders:\n  max_resends: 0\n", wantKey: "orders.max_resends: 0 is not a value here (a zero would silently mean the default): leave the key out for the default, or -1 for no resends"},
		{name: "zero fleet", env: []string{"KEEL_FLEET_SIZE=0"}, wantKey: "fleet.size: 0 is not a value here"},
		{name: "zero resolve queries", yaml: "orders:\n  resolve_queries: 0\n", wantKey: "orders.resolve_queries: 0 is not"},
		{name: "zero clock skew", yaml: "orders:\n  clock_skew: 0s\n", wantKey: "orders.clock_skew: 0 is not"},
		{name: "zero retention", yaml: "journal:\n  retention: 0h\n", wantKey: "journal.retention: 0 is not"},
		{name: "zero slot lease", env: []string{"KEEL_STORE_SLOT_LEASE=0s"}, wantKey: "store.slot_lease: 0 is not"},
		{name: "zero shutdown timeout", yaml: "shutdown:\n  timeout: 0\n", wantKey: "shutdown.timeout: 0 is not"},
		{name: "zero poll interval", yaml: "market:\n  poll_interval: 0ms\n", wantKey: "market.poll_interval: 0 is not"},
		{name: "zero tick", env: []string{"KEEL_MARKET_TICK=0"}, wantKey: "market.tick: 0 is not"},
		{name: "zero info ttl", yaml: "market:\n  info_ttl: 0\n", wantKey: "market.info_ttl: 0 is not"},
		{name: "zero clock check", env: []string{"KEEL_MARKET_CLOCK_CHECK=0s"}, wantKey: "market.clock_check: 0 is not"},
		{name: "zero refresh", yaml: "portfolio:\n  refresh_interval: 0\n", wantKey: "portfolio.refresh_interval: 0 is not"},
		{name: "zero kill switch poll", env: []string{"KEEL_KILLSWITCH_POLL_INTERVAL=0"}, wantKey: "killswitch.poll_interval: 0 is not"},
		{name: "zero recv window", env: append(binanceEnv(), "KEEL_EXCHANGE_RECV_WINDOW=0"), wantKey: "exchange.recv_window: 0 is not"},
		{name: "zero exchange timeout", env: append(binanceEnv(), "KEEL_EXCHANGE_TIMEOUT=0s"), wantKey: "exchange.timeout: 0 is not"},
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
			if strings.Contains(err.Error(), "secretpath") {
				t.Fatalf("error %q quotes a credential", err)
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

// Every exchange template (configs/<exchange>.yaml) asks for its secrets from the
// environment, then loads as that exchange with the adapter's own config, which never prints
// the secret. A template added with a new exchange is covered without a line here.
func TestExchangeTemplatesNeedSecretsFromTheEnvironment(t *testing.T) {
	// A 32-byte seed in base64: a secret every adapter takes (an HMAC secret, Kraken's base64
	// private key, Coinbase's Ed25519 seed).
	const secret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2U="
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		if name == "sim" || name == "alerts" { // alerts.yaml is Prometheus's, not a bot's
			continue
		}
		t.Run(name, func(t *testing.T) {
			_, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: file, Environ: []string{}})
			if err == nil || !strings.Contains(err.Error(), "exchange.api_") {
				t.Fatalf("the template without environment must ask for the key: %v", err)
			}
			c, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: file, Environ: []string{
				"KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=" + secret,
			}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Exchange.Name != name {
				t.Fatalf("%s configures exchange %q", file, c.Exchange.Name)
			}
			if strings.Contains(fmt.Sprint(c.Exchange.Adapter), secret) {
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

// TestStorePasswordNeverPrinted: a store.url that is refused, whether it parses or not, is
// echoed with its password masked, and the refusal names the key.
func TestStorePasswordNeverPrinted(t *testing.T) {
	for _, tt := range []struct{ url, password string }{
		{"redis://:pa%zzSecretPw1@127.0.0.1:6379/0", "SecretPw1"}, // a bad escape: does not parse
		{"redis://bob:Secret Pw2@127.0.0.1:6379/0", "Secret Pw2"}, // a space in the user info
		{"redis://:SecretPw3@127.0.0.1:notaport/0", "SecretPw3"},  // a bad port
		{"http://:SecretPw4@127.0.0.1:6379/0", "SecretPw4"},       // parses, wrong scheme
		{"redis://:SecretPw5@127.0.0.1:6379/notadb", "SecretPw5"}, // parses, refused by the Redis client
		{"redis://:Secret#Pw6@127.0.0.1:6379/0", "Secret#Pw6"},    // a '#' cuts the URL short
	} {
		_, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{"KEEL_STORE_URL=" + tt.url}})
		if err == nil {
			t.Errorf("store.url %q accepted", tt.url)
			continue
		}
		t.Log(err)
		if !strings.Contains(err.Error(), "store.url") {
			t.Errorf("%q: error %q does not name store.url", tt.url, err)
		}
		for _, part := range []string{tt.password, strings.Split(tt.password, " ")[0], strings.Split(tt.password, "#")[0]} {
			if strings.Contains(err.Error(), part) {
				t.Errorf("%q: error %q prints the password", tt.url, err)
			}
		}
	}
}

// TestZeroWhereZeroIsAValue: a 0 that means 0 is kept (the simulator's seed), and -1 says
// "no resends".
func TestZeroWhereZeroIsAValue(t *testing.T) {
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: writeYAML(t, "exchange:\n  seed: 0\norders:\n  max_resends: -1\n"), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Orders.MaxResends != -1 {
		t.Fatalf("max_resends %d, want -1", c.Orders.MaxResends)
	}
}

// TestConfigFileBounds: a file far larger than a config, and a YAML bomb (a kilobyte whose
// aliases expand to billions of nodes), are refused with an error naming the file, fast.
func TestConfigFileBounds(t *testing.T) {
	huge := "bot:\n  key_prefix: kl\n" + strings.Repeat("# padding\n", runtime.MaxConfigSize/10+1)
	bomb := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	for i, prev := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		name := string(rune('b' + i))
		bomb += name + ": &" + name + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
	}
	bomb += "strategies:\n  x: *i\n"
	for _, tt := range []struct{ name, body, want string }{
		{"over the size cap", huge, "larger than 1024 KiB"},
		{"a YAML bomb", bomb, "alias"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeYAML(t, tt.body)
			_, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: path, Environ: []string{}})
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name the file and say %q", err, tt.want)
			}
		})
	}
}

// TestHugeValuesAreNotEchoedWhole: a config error shows a bad value's start and size, not a
// megabyte of it, whether the value came from the file or the environment.
func TestHugeValuesAreNotEchoedWhole(t *testing.T) {
	big := strings.Repeat("A", 200_000)
	for _, tt := range []struct {
		name, yaml, key string
		env             []string
		size            string // the echoed value's size, when the error quotes it
	}{
		{name: "bad instance id", yaml: "bot:\n  instance_id: " + big + "\n", key: "bot.instance_id", size: "200000 bytes"},
		{name: "bad log level", yaml: "log:\n  level: \"" + big + "\"\n", key: "log.level", size: "200000 bytes"},
		{name: "bad format from the environment", env: []string{"KEEL_LOG_FORMAT=" + big}, key: "log.format", size: "200000 bytes"},
		{name: "bad duration from the environment", env: []string{"KEEL_MARKET_TICK=" + big}, key: "market.tick"},
		{name: "unknown long key", yaml: "admin:\n  " + strings.Repeat("k", 1000) + ": 1\n", key: "admin.kkkk", size: "1006 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := runtime.LoadOptions{Environ: append([]string{}, tt.env...)}
			if tt.yaml != "" {
				o.Path = writeYAML(t, tt.yaml)
			}
			_, _, err := runtime.LoadConfig(o)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, tt.key) || len(msg) > 1000 || !strings.Contains(msg, tt.size) {
				t.Fatalf("error of %d bytes, want the key %s and %q in under 1000: %.300s", len(msg), tt.key, tt.size, msg)
			}
		})
	}
}
