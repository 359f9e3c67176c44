package binance

import (
	"fmt"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// The Binance Spot adapter registers itself as exchange "binance": a binary that imports
// this package can run `exchange.name: binance`.
func init() {
	adapters.Register(adapters.Definition{
		Name: "binance",
		NewConfig: func() adapters.Config {
			c := &BotConfig{}
			c.setFixedDefaults() // stream URLs follow the base_url the user sets
			return c
		},
		New: func(cfg adapters.Config, env adapters.Env) (adapters.Exchange, error) {
			c, ok := cfg.(*BotConfig)
			if !ok {
				return nil, fmt.Errorf("binance: config of type %T", cfg)
			}
			return New(c.Config, env.Scheduler)
		},
		Streams: true,
	})
}

// BotConfig is the `exchange:` section of a bot trading on Binance: a Config that must carry
// credentials (a public-only Config is for market data tools, not a trading bot).
type BotConfig struct {
	Config `koanf:",squash"`
}

var _ adapters.SimTarget = (*BotConfig)(nil)

// Validate checks the Config and that it can sign.
func (c *BotConfig) Validate() error {
	if c.APIKey == "" {
		return configErr("api_key", "required for trading; set KEEL_EXCHANGE_API_KEY")
	}
	if c.APISecret == "" && c.Ed25519PrivateKey == "" && c.Ed25519PrivateKeyFile == "" {
		return configErr("api_secret", "a signing key is required: set KEEL_EXCHANGE_API_SECRET, or ed25519_private_key_file")
	}
	return c.Config.Validate()
}

// ValidatePublic checks the Config without requiring keys (adapters.PublicConfig): a
// public-only client signs nothing, so any signed call fails before it is sent.
func (c *BotConfig) ValidatePublic() error { return c.Config.Validate() }

// SchedulerWindows are Binance's documented limit windows (SchedulerWindows).
func (c *Config) SchedulerWindows() []scheduler.WindowConfig { return SchedulerWindows() }

// SchedulerBuckets are the adapter's buckets (SchedulerBuckets).
func (c *Config) SchedulerBuckets() []scheduler.BucketConfig { return SchedulerBuckets() }

// AcceptanceWindow is recvWindow.
func (c *Config) AcceptanceWindow() time.Duration {
	rw := c.RecvWindow
	if rw == 0 {
		rw = DefaultRecvWindow
	}
	return time.Duration(rw) * time.Millisecond
}

// ForSimulator points the config at a simulator speaking Binance's dialect.
// Binance announces its windows in exchangeInfo, so a time-scaled simulator needs no scale
// here.
func (c *Config) ForSimulator(s adapters.SimEndpoint) {
	c.BaseURL, c.StreamURL, c.WSAPIURL = s.RESTURL, s.WSURL, s.WSURL+"/ws-api/v3"
	c.APIKey, c.APISecret = Secret(s.APIKey), Secret(s.APISecret)
	c.Ed25519PrivateKey, c.Ed25519PrivateKeyFile = "", ""
}
