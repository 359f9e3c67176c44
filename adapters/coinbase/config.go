package coinbase

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// ProductionURL is Advanced Trade's REST root. Coinbase's sandbox
// (https://api-sandbox.coinbase.com) answers static, unauthenticated data only: use the
// simulator (keel sim --dialect coinbase) to try a bot.
const ProductionURL = "https://api.coinbase.com"

// Defaults applied to zero Config fields.
const (
	DefaultTimeout = 15 * time.Second
	// DefaultJWTLifetime is how long a request's JWT lives (exp - nbf). The docs sign 120 s;
	// the adapter signs 5 s by default, which bounds how late a request can land (the
	// orders journal's acceptance window) the way Binance's recvWindow does. Coinbase
	// checks exp as a bound, so a shorter life is accepted (a guess: the docs show 120).
	DefaultJWTLifetime = 5 * time.Second
)

// Secret is a credential read from configuration; it prints as "[REDACTED]".
type Secret = rest.Secret

// Config configures a Client. Without api_key and api_secret it is public-only: market data
// works, private calls fail with an auth-class error without sending anything.
type Config struct {
	// BaseURL is the REST root (default ProductionURL; the simulator's for tests).
	BaseURL string `koanf:"base_url"`
	// APIKey is the key's name ("organizations/{org_id}/apiKeys/{key_id}", or the key id of
	// a newer CDP key): the JWT's kid and sub.
	APIKey Secret `koanf:"api_key"`
	// APISecret is its private key: the PEM of an ECDSA (P-256) key, or an Ed25519 secret in
	// base64, as Coinbase shows them.
	APISecret Secret `koanf:"api_secret"`
	// WSURL is the market data WebSocket (default ProductionWSURL with the production REST
	// root; otherwise the REST root's host at /ws, as the simulator serves it). WSUserURL is
	// the user order data WebSocket (default ProductionWSUserURL, or /ws/user likewise).
	WSURL     string `koanf:"ws_url"`
	WSUserURL string `koanf:"ws_user_url"`
	// JWTLifetime is how long every JWT lives from its signing (exp, rounded up to the
	// second), in whole seconds in [1s, 120s]; default 5s.
	JWTLifetime time.Duration `koanf:"jwt_lifetime"`
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
	if c.BaseURL == "" {
		c.BaseURL = ProductionURL
	}
	if c.WSURL == "" || c.WSUserURL == "" {
		// The streams follow the REST root: production's endpoints with production's root,
		// the same host's otherwise (the simulator), never production's behind a test root.
		market, user := ProductionWSURL, ProductionWSUserURL
		if strings.TrimRight(c.BaseURL, "/") != ProductionURL {
			root := strings.TrimRight(c.BaseURL, "/")
			root = strings.Replace(strings.Replace(root, "https://", "wss://", 1), "http://", "ws://", 1)
			market, user = root+"/ws", root+"/ws/user"
		}
		if c.WSURL == "" {
			c.WSURL = market
		}
		if c.WSUserURL == "" {
			c.WSUserURL = user
		}
	}
	if c.JWTLifetime == 0 {
		c.JWTLifetime = DefaultJWTLifetime
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
}

// String prints the config with its secrets redacted.
func (c Config) String() string {
	c.setDefaults()
	return fmt.Sprintf("coinbase.Config{BaseURL:%q WSURL:%q WSUserURL:%q APIKey:%s APISecret:%s JWTLifetime:%s Timeout:%s}",
		c.BaseURL, c.WSURL, c.WSUserURL, c.APIKey, c.APISecret, c.JWTLifetime, c.Timeout)
}

// GoString keeps %#v redacted.
func (c Config) GoString() string { return c.String() }

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("coinbase: invalid config")

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
}

// Validate checks the config after defaults and names the bad key. It never includes a
// secret's value.
func (c *Config) Validate() error {
	d := *c
	d.setDefaults()
	if _, err := rest.ParseBaseURL(d.BaseURL); err != nil {
		return configErr("base_url", "%v", err)
	}
	for _, u := range []struct{ key, val string }{{"ws_url", d.WSURL}, {"ws_user_url", d.WSUserURL}} {
		if err := checkWSURL(u.val); err != nil {
			return configErr(u.key, "%v", err)
		}
	}
	if (d.WSURL == ProductionWSURL || d.WSUserURL == ProductionWSUserURL) && strings.TrimRight(d.BaseURL, "/") != ProductionURL {
		return configErr("ws_url", "production's stream %s with base_url %s: set ws_url and ws_user_url for that environment, or leave them empty to follow base_url",
			ProductionWSURL, d.BaseURL)
	}
	if d.JWTLifetime <= 0 || d.JWTLifetime > MaxJWTLifetime || d.JWTLifetime%time.Second != 0 {
		return configErr("jwt_lifetime", "want whole seconds in [1s, %s], got %s", MaxJWTLifetime, d.JWTLifetime)
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
	if strings.ContainsAny(string(d.APIKey), " \t\r\n") {
		return configErr("api_key", "must not contain whitespace")
	}
	if d.APISecret != "" {
		if _, err := parseKey(string(d.APIKey), string(d.APISecret)); err != nil {
			return configErr("api_secret", "%v", err)
		}
	}
	return nil
}

// checkWSURL accepts a ws:// or wss:// URL with a host.
func checkWSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("want a ws:// or wss:// URL, got %q", snippet([]byte(raw)))
	}
	return nil
}

// SchedulerWindows are the adapter's limit windows at Coinbase's documented limits.
func (c *Config) SchedulerWindows() []scheduler.WindowConfig { return SchedulerWindows() }

// SchedulerBuckets are the buckets the adapter's requests name.
func (c *Config) SchedulerBuckets() []scheduler.BucketConfig { return SchedulerBuckets() }

// AcceptanceWindow is how long after it was signed a request can still land: the JWT's
// lifetime, plus the second its exp is rounded up by.
func (c *Config) AcceptanceWindow() time.Duration {
	d := *c
	d.setDefaults()
	return d.JWTLifetime + time.Second
}

// SimSecret is the Ed25519 secret (base64 of the 64-byte key) the simulator's coinbase
// dialect verifies for an account whose secret is not a key: the key seeded by SHA-256 of
// it (sim.CoinbaseSimSeed).
func SimSecret(simSecret string) string {
	seed := sha256.Sum256([]byte(simSecret))
	return base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed[:]))
}

// ForSimulator points the config at a simulator speaking the coinbase dialect.
func (c *Config) ForSimulator(s adapters.SimEndpoint) {
	c.BaseURL, c.APIKey = s.RESTURL, Secret(s.APIKey)
	c.WSURL, c.WSUserURL = s.WSURL+"/ws", s.WSURL+"/ws/user"
	if _, err := parseKey(s.APIKey, s.APISecret); err == nil {
		c.APISecret = Secret(s.APISecret)
	} else {
		c.APISecret = Secret(SimSecret(s.APISecret))
	}
}

// BotConfig is the `exchange:` section of a bot trading on Coinbase: a Config that must carry
// credentials.
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
		Name:      "coinbase",
		NewConfig: func() adapters.Config { return &BotConfig{} },
		New: func(cfg adapters.Config, env adapters.Env) (adapters.Exchange, error) {
			c, ok := cfg.(*BotConfig)
			if !ok {
				return nil, fmt.Errorf("coinbase: config of type %T, want *coinbase.BotConfig", cfg)
			}
			if env.Scheduler == nil {
				return nil, errors.New("coinbase: no scheduler in the environment")
			}
			return New(c.Config, env.Scheduler)
		},
		// level2 and market_trades for books and trades, the user channel for orders.
		Streams: true,
	})
}
