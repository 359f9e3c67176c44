package bybit

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// Bybit's REST roots (docs/v5/guide.mdx, docs/v5/demo.mdx). Keys belong to one environment:
// a testnet key answers 10003 on mainnet, and demo-trading keys are created on mainnet in
// Demo Trading mode (faq.mdx "Why I get 10003").
const (
	MainnetURL = "https://api.bybit.com"
	TestnetURL = "https://api-testnet.bybit.com"
	DemoURL    = "https://api-demo.bybit.com"
)

// Defaults applied to zero Config fields.
const (
	// DefaultRecvWindow is Bybit's own default X-BAPI-RECV-WINDOW, in milliseconds.
	DefaultRecvWindow = 5000
	// MaxRecvWindow bounds recv_window. Bybit documents no maximum; a request signed a minute
	// ago is stale for trading anyway (a guess, Binance's bound).
	MaxRecvWindow = 60000
	// DefaultTimeout bounds one HTTP attempt.
	DefaultTimeout = 15 * time.Second
)

// Secret is a credential read from configuration; it prints as "[REDACTED]".
type Secret = rest.Secret

// Config configures a Client. A Config without api_key and api_secret is public-only: market
// data works, signed calls fail with an auth-class error without sending anything.
type Config struct {
	// Environment picks the REST root when base_url is empty: "mainnet" (the default),
	// "testnet" or "demo".
	Environment string `koanf:"environment"`
	// BaseURL is the REST root; it overrides environment (a regional host such as
	// https://api.bybit.eu, or the simulator).
	BaseURL string `koanf:"base_url"`
	// APIKey goes in X-BAPI-API-KEY; APISecret is the HMAC-SHA256 secret (RSA keys are not
	// supported).
	APIKey    Secret `koanf:"api_key"`
	APISecret Secret `koanf:"api_secret"`
	// RecvWindow in milliseconds (default 5000): Bybit serves a request whose timestamp is in
	// [server_time - recv_window, server_time + 1000). Requests are refused before signing
	// when the local clock is further off than this.
	RecvWindow int `koanf:"recv_window"`
	// Timeout bounds one HTTP attempt (default 15s).
	Timeout time.Duration `koanf:"timeout"`
}

// NewConfig returns a Config with every default applied.
func NewConfig() *Config {
	c := &Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Environment == "" {
		c.Environment = "mainnet"
	}
	if c.BaseURL == "" {
		switch c.Environment {
		case "testnet":
			c.BaseURL = TestnetURL
		case "demo":
			c.BaseURL = DemoURL
		case "mainnet":
			c.BaseURL = MainnetURL
		}
	}
	if c.RecvWindow == 0 {
		c.RecvWindow = DefaultRecvWindow
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// String prints the config with its secrets redacted.
// Defaults are resolved (the effective base URL is shown).
func (c Config) String() string {
	c.setDefaults()
	return fmt.Sprintf("bybit.Config{Environment:%q BaseURL:%q APIKey:%s APISecret:%s RecvWindow:%d Timeout:%s}",
		c.Environment, c.BaseURL, c.APIKey, c.APISecret, c.RecvWindow, c.Timeout)
}

// GoString keeps %#v redacted.
func (c Config) GoString() string { return c.String() }

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("bybit: invalid config")

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
}

// Validate checks the config after defaults and names the bad key. It never includes a
// secret's value.
func (c *Config) Validate() error {
	d := *c
	d.setDefaults()
	switch d.Environment {
	case "mainnet", "testnet", "demo":
	default:
		return configErr("environment", "want mainnet, testnet or demo, got %q", d.Environment)
	}
	if _, err := rest.ParseBaseURL(d.BaseURL); err != nil {
		return configErr("base_url", "%v", err)
	}
	// base_url overrides environment; a base_url of another Bybit environment than the one
	// named would trade where the operator did not mean to (keys belong to one environment).
	if other := hostEnvironment(d.BaseURL); d.Environment != "mainnet" && other != "" && other != d.Environment {
		return configErr("base_url", "%q is Bybit %s but environment is %s: leave base_url empty to follow environment", d.BaseURL, other, d.Environment)
	}
	if d.RecvWindow < 1 || d.RecvWindow > MaxRecvWindow {
		return configErr("recv_window", "want milliseconds in [1, %d], got %d", MaxRecvWindow, d.RecvWindow)
	}
	if d.Timeout < 0 {
		return configErr("timeout", "want a positive duration, got %s", d.Timeout)
	}
	switch {
	case d.APIKey != "" && d.APISecret == "":
		return configErr("api_secret", "required when api_key is set")
	case d.APIKey == "" && d.APISecret != "":
		return configErr("api_key", "required when api_secret is set")
	}
	for key, v := range map[string]Secret{"api_key": d.APIKey, "api_secret": d.APISecret} {
		if strings.ContainsAny(string(v), " \t\r\n") {
			return configErr(key, "must not contain whitespace")
		}
	}
	return nil
}

// hostEnvironment names the Bybit environment of a REST root, or "" for a host that is not
// one of Bybit's three (a regional host, the simulator).
func hostEnvironment(raw string) string {
	for env, root := range map[string]string{"mainnet": MainnetURL, "testnet": TestnetURL, "demo": DemoURL} {
		if strings.TrimRight(strings.ToLower(raw), "/") == root {
			return env
		}
	}
	return ""
}

// SchedulerWindows are the adapter's limit windows at Bybit's documented limits.
func (c *Config) SchedulerWindows() []scheduler.WindowConfig { return SchedulerWindows() }

// SchedulerBuckets are the buckets the adapter's requests name.
func (c *Config) SchedulerBuckets() []scheduler.BucketConfig { return SchedulerBuckets() }

// AcceptanceWindow is recv_window: a request lands at most that long after it was signed.
func (c *Config) AcceptanceWindow() time.Duration {
	d := *c
	d.setDefaults()
	return time.Duration(d.RecvWindow) * time.Millisecond
}

// ForSimulator points the config at a simulator speaking the bybit dialect (adapters/sim).
// Under a time scale the simulator's windows are shorter than the adapter's: the adapter
// stays on the safe side.
func (c *Config) ForSimulator(s adapters.SimEndpoint) {
	c.BaseURL, c.APIKey, c.APISecret = s.RESTURL, Secret(s.APIKey), Secret(s.APISecret)
}

// BotConfig is the `exchange:` section of a bot trading on Bybit: a Config that must carry
// credentials (a public-only Config is for market data tools, not a trading bot).
type BotConfig struct {
	Config `koanf:",squash"`
}

// Validate checks the Config and that it can sign.
func (c *BotConfig) Validate() error {
	if c.APIKey == "" {
		return configErr("api_key", "required for trading; set KEEL_EXCHANGE_API_KEY")
	}
	if c.APISecret == "" {
		return configErr("api_secret", "required for trading; set KEEL_EXCHANGE_API_SECRET")
	}
	return c.Config.Validate()
}

var (
	_ adapters.Config    = (*Config)(nil)
	_ adapters.SimTarget = (*Config)(nil)
	_ adapters.Config    = (*BotConfig)(nil)
	_ adapters.SimTarget = (*BotConfig)(nil)
)

func init() {
	adapters.Register(adapters.Definition{
		Name: "bybit",
		// No defaults applied here: base_url follows environment when left out, so a config
		// that says testnet gets the testnet's URL (New applies the defaults).
		NewConfig: func() adapters.Config { return &BotConfig{} },
		New: func(cfg adapters.Config, env adapters.Env) (adapters.Exchange, error) {
			c, ok := cfg.(*BotConfig)
			if !ok {
				return nil, fmt.Errorf("bybit: config of type %T, want *bybit.BotConfig", cfg)
			}
			if env.Scheduler == nil {
				return nil, errors.New("bybit: no scheduler in the environment")
			}
			return New(c.Config, env.Scheduler)
		},
		// REST only: the runtime polls for quotes and order updates.
		Streams: false,
	})
}
