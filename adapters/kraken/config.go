package kraken

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// Defaults applied to zero Config fields.
const (
	// DefaultBaseURL is Kraken's production REST root (there is no spot testnet).
	DefaultBaseURL = "https://api.kraken.com"
	// DefaultTimeout bounds one HTTP attempt.
	DefaultTimeout = 15 * time.Second
	// DefaultTier is the verification tier whose limits apply when none is configured: the
	// lowest, so an unconfigured bot never exceeds what any account may do.
	DefaultTier = "starter"
)

// Tier is one of Kraken's verification tiers and its limits (docs.kraken.com guides
// spot-rest-ratelimits and spot-ratelimits).
type Tier struct {
	Name string
	// RESTMax is the REST call counter's maximum; RESTDecay what it drains per second.
	RESTMax   int64
	RESTDecay float64
	// TradeMax is the per-pair trading-engine counter's threshold; TradeDecay what it drains
	// per second.
	TradeMax   int64
	TradeDecay float64
}

// Tiers are Kraken's documented tiers.
var Tiers = map[string]Tier{
	"starter":      {Name: "starter", RESTMax: 15, RESTDecay: 0.33, TradeMax: 60, TradeDecay: 1},
	"intermediate": {Name: "intermediate", RESTMax: 20, RESTDecay: 0.5, TradeMax: 125, TradeDecay: 2.34},
	"pro":          {Name: "pro", RESTMax: 20, RESTDecay: 1, TradeMax: 180, TradeDecay: 3.75},
}

// Config configures a Client. Zero values mean defaults. A Config without api_key and
// api_secret is public-only: market data works, private calls fail with an auth-class error
// without sending anything.
type Config struct {
	// BaseURL is the REST root (default https://api.kraken.com; the simulator's address).
	BaseURL string `koanf:"base_url"`
	// APIKey is sent in the API-Key header.
	APIKey rest.Secret `koanf:"api_key"`
	// APISecret is the API private key as Kraken issues it: base64.
	APISecret rest.Secret `koanf:"api_secret"`
	// Timeout bounds one HTTP attempt (default 15s).
	Timeout time.Duration `koanf:"timeout"`
	// Tier is the account's verification tier, which sets the limits: starter (default),
	// intermediate or pro.
	Tier string `koanf:"tier"`
	// NonceFile, if set, keeps the nonce's high-water mark across restarts, so a restart
	// continues above the last nonce even if the host clock stepped back meanwhile.
	NonceFile string `koanf:"nonce_file"`
	// TimeScale runs every limit TimeScale times faster: only for a time-scaled simulator
	// (keel sim --time-scale). Default 1.
	TimeScale float64 `koanf:"time_scale"`
}

// String prints the config with its secrets redacted.
func (c Config) String() string {
	return fmt.Sprintf("kraken.Config{BaseURL:%q APIKey:%s APISecret:%s Timeout:%s Tier:%q NonceFile:%q TimeScale:%v}",
		c.BaseURL, c.APIKey, c.APISecret, c.Timeout, c.Tier, c.NonceFile, c.TimeScale)
}

// GoString keeps %#v redacted.
func (c Config) GoString() string { return c.String() }

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Tier == "" {
		c.Tier = DefaultTier
	}
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
}

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("kraken: invalid config")

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
}

// Validate checks the config after defaults and names the bad key. It never includes a
// secret's value in its error.
func (c Config) Validate() error {
	c.setDefaults()
	if _, err := rest.ParseBaseURL(c.BaseURL); err != nil {
		return configErr("base_url", "%v", err)
	}
	if c.Timeout < 0 {
		return configErr("timeout", "expected a positive duration, got %s", c.Timeout)
	}
	if _, ok := Tiers[c.Tier]; !ok {
		return configErr("tier", "expected starter, intermediate or pro, got %q", c.Tier)
	}
	if math.IsNaN(c.TimeScale) || math.IsInf(c.TimeScale, 0) || c.TimeScale <= 0 {
		return configErr("time_scale", "expected a positive number, got %v", c.TimeScale)
	}
	switch {
	case c.APIKey == "" && c.APISecret != "":
		return configErr("api_key", "required when api_secret is set")
	case c.APIKey != "" && c.APISecret == "":
		return configErr("api_secret", "required when api_key is set")
	}
	if strings.ContainsAny(string(c.APIKey), " \t\r\n") {
		return configErr("api_key", "must not contain whitespace")
	}
	if c.APISecret != "" {
		if _, err := decodeSecret(c.APISecret); err != nil {
			return configErr("api_secret", "%v", err)
		}
	}
	return nil
}

// decodeSecret reads the base64 private key; the error never carries the key.
func decodeSecret(s rest.Secret) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(s)))
	if err != nil || len(b) == 0 {
		return nil, errors.New("expected the base64 private key Kraken issues")
	}
	return b, nil
}

// tier returns the configured tier (after defaults).
func (c Config) tier() Tier {
	c.setDefaults()
	return Tiers[c.Tier]
}

// drain is how long a full counter of max takes to drain at decay per second: the
// Interval of a scheduler.KindDecaying window (the level drains at Limit per Interval).
func (c Config) drain(max int64, decay float64) time.Duration {
	c.setDefaults()
	return time.Duration(float64(max) / decay / c.TimeScale * float64(time.Second))
}

// SchedulerWindows are the REST call counter of the key and the public counter, as decaying
// windows at the tier's numbers. The trading-engine counters are per pair: the Client adds
// one with AddWindow when it first trades a pair (TradeWindow).
func (c Config) SchedulerWindows() []scheduler.WindowConfig {
	t := c.tier()
	return []scheduler.WindowConfig{
		{Name: WindowREST, Limit: t.RESTMax, Interval: c.drain(t.RESTMax, t.RESTDecay), Kind: scheduler.KindDecaying},
		{Name: WindowPublic, Limit: publicMax, Interval: c.drain(publicMax, publicDecay), Kind: scheduler.KindDecaying},
	}
}

// TradeWindow is the scheduler window of the trading-engine counter of pair (its id).
func (c Config) TradeWindow(pair string) scheduler.WindowConfig {
	t := c.tier()
	return scheduler.WindowConfig{Name: WindowTradePrefix + pair, Limit: t.TradeMax, Interval: c.drain(t.TradeMax, t.TradeDecay),
		Kind: scheduler.KindDecaying}
}

// SchedulerBuckets are the buckets the adapter's requests name.
func (c Config) SchedulerBuckets() []scheduler.BucketConfig {
	return []scheduler.BucketConfig{{Name: BucketOrders}, {Name: BucketAccount}, {Name: BucketMarket, Public: true}}
}

// AcceptanceWindow is 0: Kraken signs with a nonce, not a timestamp, and sets no window in
// which a request must arrive (the optional deadline parameter is not used).
func (c Config) AcceptanceWindow() time.Duration { return 0 }

// ForSimulator points the config at the simulator's Kraken dialect, whose private key is the
// base64 of the account's secret (sim.KrakenPrivateKey), with its limits scaled as the
// simulator's.
func (c *Config) ForSimulator(s adapters.SimEndpoint) {
	c.BaseURL = s.RESTURL
	c.APIKey = rest.Secret(s.APIKey)
	c.APISecret = rest.Secret(base64.StdEncoding.EncodeToString([]byte(s.APISecret)))
	if s.TimeScale > 0 {
		c.TimeScale = s.TimeScale
	}
}

var (
	_ adapters.Config    = (*Config)(nil)
	_ adapters.SimTarget = (*Config)(nil)
)
