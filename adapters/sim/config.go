package sim

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/clock"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultAPIKey    = "keel-sim-key"
	DefaultAPISecret = "keel-sim-secret"
)

// Config configures a simulated exchange. The zero value is usable: every zero field takes the
// default documented on it, applied in one place (setDefaults).
type Config struct {
	// Dialect is the exchange API served: "binance" (the default), or another of Dialects().
	Dialect string
	// Seed drives every random choice (price walks, generated client order ids, fault draws),
	// so two servers with the same seed and the same requests answer alike.
	Seed int64
	// TimeScale compresses time: every limit window, Retry-After, ban and the price walk run
	// TimeScale times faster. Default 1 (zero takes it); otherwise a finite number in
	// [MinTimeScale, MaxTimeScale] (ValidateTimeScale). Windows are rounded to whole seconds
	// (at least one) and exchangeInfo reports exactly the windows enforced.
	TimeScale float64
	// Clock is the time source; default the wall clock. Tests inject internal/clock.Fake.
	Clock clock.Clock
	// Logger receives admin events; default a no-op logger.
	Logger *zerolog.Logger

	// APIKey, APISecret and Ed25519PublicKey describe the single default account when Accounts
	// is empty. With none of them set the account is DefaultAPIKey / DefaultAPISecret (HMAC).
	APIKey           string
	APISecret        string
	Ed25519PublicKey ed25519.PublicKey
	// Balances funds the default account (asset → free amount, decimal strings). Default:
	// 100000 USDT, 2 BTC, 20 ETH, 100000 DOGE.
	Balances map[string]string
	// Accounts, when set, replaces the default account.
	Accounts []Account

	// Symbols listed by exchangeInfo; default BTCUSDT, ETHUSDT and DOGEUSDT (DefaultSymbols).
	Symbols []Symbol
	// CommissionRate charged on every fill, in the asset received. Default "0.001".
	CommissionRate string

	// Limits are the rate limits, before time scaling.
	Limits Limits
	// Abuse holds the ban and key-disable thresholds.
	Abuse Abuse

	// WalkInterval is how often (before time scaling) each price takes one step of its seeded
	// walk. Default 1s.
	WalkInterval time.Duration

	// Streams configures the WebSocket streams and the WebSocket API (ws_streams.go).
	Streams StreamConfig

	// Replay makes symbols' prices follow recorded candles instead of the walk (replay.go).
	Replay []Replay

	// DialectConfig tunes the dialect, of the type its files define (BybitConfig for bybit);
	// nil takes the exchange's documented values. Dialects that need no settings ignore it.
	DialectConfig any
}

// Account is one exchange account. An account has an HMAC secret, an Ed25519 public key, or
// both; a signature is checked against whichever key it can be.
type Account struct {
	APIKey           string
	HMACSecret       string
	Ed25519PublicKey ed25519.PublicKey
	// Balances (asset → free amount); default as Config.Balances.
	Balances map[string]string
	// TradingDisabled makes the account one that "may not place or cancel orders": its
	// /api/v3/account answers canTrade false and the engine refuses its orders (-2010) and
	// cancels (-2011) with errors.md's message.
	TradingDisabled bool
	// EnableWithdrawals and IPRestrict are the key's scopes as GET
	// /sapi/v1/account/apiRestrictions reports them (wallet/account/api-key-permission).
	// The default is the safe key: withdrawals off, IP restriction off (Binance requires an IP
	// restriction before it lets a key withdraw, which the simulator does not enforce). The
	// coinbase dialect reports EnableWithdrawals as key_permissions' can_transfer.
	EnableWithdrawals bool
	IPRestrict        bool
}

// Symbol is one trading pair and its filters (filters.md: PRICE_FILTER, LOT_SIZE, NOTIONAL).
// Every amount is a decimal string.
type Symbol struct {
	Name, Base, Quote            string
	Price                        string // starting price; must be a multiple of TickSize
	MinPrice, MaxPrice, TickSize string
	MinQty, MaxQty, StepSize     string
	MinNotional, MaxNotional     string
}

// DefaultSymbols are the symbols of a zero Config, with filters like Binance's live ones.
func DefaultSymbols() []Symbol {
	return []Symbol{
		{Name: "BTCUSDT", Base: "BTC", Quote: "USDT", Price: "65000.00",
			MinPrice: "0.01", MaxPrice: "1000000.00", TickSize: "0.01",
			MinQty: "0.00001", MaxQty: "9000.00000", StepSize: "0.00001",
			MinNotional: "5.00", MaxNotional: "9000000.00"},
		{Name: "ETHUSDT", Base: "ETH", Quote: "USDT", Price: "3200.00",
			MinPrice: "0.01", MaxPrice: "1000000.00", TickSize: "0.01",
			MinQty: "0.0001", MaxQty: "9000.0000", StepSize: "0.0001",
			MinNotional: "5.00", MaxNotional: "9000000.00"},
		{Name: "DOGEUSDT", Base: "DOGE", Quote: "USDT", Price: "0.15000",
			MinPrice: "0.00001", MaxPrice: "1000.00000", TickSize: "0.00001",
			MinQty: "1", MaxQty: "9000000", StepSize: "1",
			MinNotional: "1.00", MaxNotional: "9000000.00"},
	}
}

// Limits are Binance's published limits (rest-api.md "LIMITS", "Query Unfilled Order Count";
// RAW_REQUESTS as exchangeInfo reports it today). Zero fields take the defaults.
type Limits struct {
	RequestWeight       int64         // per IP per RequestWeightWindow; default 6000
	RequestWeightWindow time.Duration // default 1m
	RawRequests         int64         // per IP per RawRequestsWindow; default 300000
	RawRequestsWindow   time.Duration // default 5m
	Orders10s           int64         // unfilled orders per account per 10s; default 50
	OrdersDay           int64         // unfilled orders per account per day; default 160000
	// ChargeAllOrders charges POST /api/v3/order, DELETE /api/v3/order and DELETE
	// /api/v3/openOrders their documented weight (1) even when they succeed. By default
	// (false) a successful call weighs 0 and a failed one is charged, the rule Binance runs
	// since 2026-04-02 (CHANGELOG 2026-03-27).
	ChargeAllOrders bool
	// ChargeWSAPISessions charges the WebSocket API's own costs to the IP's REQUEST_WEIGHT as
	// web-socket-api.md documents them: 2 a connection ("Connecting to WebSocket API costs 2
	// weight"), 2 each session.logon, session.status, session.logout,
	// userDataStream.subscribe.signature (and userDataStream.subscribe and .unsubscribe, whose
	// weight the docs leave out). Off by default: Keel's Binance adapter does not budget them
	// yet, and charged they push `keel certify`'s five-instance deploy-burst into a rate limit
	// its schedulers never saw. Methods with a REST twin are always charged (ws_api_rest.go).
	ChargeWSAPISessions bool
}

// Abuse configures bans and key disabling. Zero fields take the defaults.
type Abuse struct {
	// BanAfter is how many requests an IP may send inside a Retry-After window before it is
	// banned (418). Default 5: a few requests already in flight when the 429 was sent are
	// forgiven, a client that keeps hammering is not.
	BanAfter int
	// BanBase is the first ban; each later ban of the same IP doubles, up to BanMax.
	// Defaults 2m and 72h (rest-api.md: "from 2 minutes to 3 days"). Both are time-scaled.
	BanBase, BanMax time.Duration
	// AuthFailures bad signatures or timestamps within AuthWindow disable the key until the
	// admin API restores it. Defaults 10 and 1m (time-scaled).
	AuthFailures int
	AuthWindow   time.Duration
}

func (c *Config) setDefaults() {
	if c.Dialect == "" {
		c.Dialect = DialectBinance
	}
	if c.TimeScale == 0 {
		c.TimeScale = 1
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		l := zerolog.Nop()
		c.Logger = &l
	}
	if len(c.Accounts) == 0 {
		a := Account{APIKey: c.APIKey, HMACSecret: c.APISecret, Ed25519PublicKey: c.Ed25519PublicKey, Balances: c.Balances}
		if a.APIKey == "" {
			a.APIKey = DefaultAPIKey
		}
		if a.HMACSecret == "" && a.Ed25519PublicKey == nil {
			a.HMACSecret = DefaultAPISecret
		}
		c.Accounts = []Account{a}
	}
	for i := range c.Accounts {
		if c.Accounts[i].Balances == nil {
			c.Accounts[i].Balances = map[string]string{"USDT": "100000", "BTC": "2", "ETH": "20", "DOGE": "100000"}
		}
	}
	if len(c.Symbols) == 0 {
		c.Symbols = DefaultSymbols()
	}
	if c.CommissionRate == "" {
		c.CommissionRate = "0.001"
	}
	l := &c.Limits
	if l.RequestWeight == 0 {
		l.RequestWeight = 6000
	}
	if l.RequestWeightWindow == 0 {
		l.RequestWeightWindow = time.Minute
	}
	if l.RawRequests == 0 {
		l.RawRequests = 300000
	}
	if l.RawRequestsWindow == 0 {
		l.RawRequestsWindow = 5 * time.Minute
	}
	if l.Orders10s == 0 {
		l.Orders10s = 50
	}
	if l.OrdersDay == 0 {
		l.OrdersDay = 160000
	}
	a := &c.Abuse
	if a.BanAfter == 0 {
		a.BanAfter = 5
	}
	if a.BanBase == 0 {
		a.BanBase = 2 * time.Minute
	}
	if a.BanMax == 0 {
		a.BanMax = 72 * time.Hour
	}
	if a.AuthFailures == 0 {
		a.AuthFailures = 10
	}
	if a.AuthWindow == 0 {
		a.AuthWindow = time.Minute
	}
	if c.WalkInterval == 0 {
		c.WalkInterval = time.Second
	}
	c.Streams.setDefaults()
}

// The time scales a simulator accepts. Below MinTimeScale the longest ban (72 h, scaled)
// no longer fits in a time.Duration; above MaxTimeScale every window is already its
// one-second minimum.
const (
	MinTimeScale = 0.001
	MaxTimeScale = 1_000_000
)

// ValidateTimeScale reports why v cannot be a time scale — NaN, infinite, zero, negative, or
// outside [MinTimeScale, MaxTimeScale] — naming name, the flag or key v came from
// ("--time-scale", "sim.time_scale"); nil when v is one. Config.Validate applies it after
// defaults, so there a zero TimeScale is the default 1; a flag or a config key that was set
// to 0 should be checked with this before it reaches a Config.
func ValidateTimeScale(name string, v float64) error {
	if reason := timeScaleProblem(v); reason != "" {
		return fmt.Errorf("%s: %s, got %v", name, reason, v)
	}
	return nil
}

func timeScaleProblem(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "want a finite number"
	case v <= 0:
		return "want a number > 0 (1 is real time, 60 makes a minute last a second)"
	case v < MinTimeScale || v > MaxTimeScale:
		return fmt.Sprintf("want a number in [%v, %v]", MinTimeScale, float64(MaxTimeScale))
	}
	return ""
}

// TimeScaleFlag is a flag.Value for a time-scale flag that refuses, at parse time, what
// ValidateTimeScale refuses, so the flag package's error names the flag:
//
//	scale := sim.TimeScaleFlag(1)
//	fs.Var(&scale, "time-scale", "...")
//	// keel sim --time-scale NaN → invalid value "NaN" for flag -time-scale: want a finite number
type TimeScaleFlag float64

// String prints the value.
func (f *TimeScaleFlag) String() string {
	if f == nil {
		return "0"
	}
	return strconv.FormatFloat(float64(*f), 'g', -1, 64)
}

// Set parses and checks s.
func (f *TimeScaleFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return errors.New("want a number")
	}
	if reason := timeScaleProblem(v); reason != "" {
		return errors.New(reason)
	}
	*f = TimeScaleFlag(v)
	return nil
}

// Validate reports the first field that cannot work, by name.
func (c *Config) Validate() error {
	if err := ValidateDialect(c.Dialect); err != nil {
		return err
	}
	if err := ValidateTimeScale("sim: TimeScale", c.TimeScale); err != nil {
		return err
	}
	keys := map[string]bool{}
	for i, a := range c.Accounts {
		if !validKeyFormat(a.APIKey) {
			return fmt.Errorf("sim: Accounts[%d].APIKey: want 1-256 printable ASCII characters without spaces", i)
		}
		if keys[a.APIKey] {
			return fmt.Errorf("sim: Accounts[%d].APIKey: duplicate key", i)
		}
		keys[a.APIKey] = true
		if a.HMACSecret == "" && a.Ed25519PublicKey == nil {
			return fmt.Errorf("sim: Accounts[%d]: want an HMACSecret or an Ed25519PublicKey", i)
		}
		if a.Ed25519PublicKey != nil && len(a.Ed25519PublicKey) != ed25519.PublicKeySize {
			return fmt.Errorf("sim: Accounts[%d].Ed25519PublicKey: want %d bytes, got %d", i, ed25519.PublicKeySize, len(a.Ed25519PublicKey))
		}
		for asset, v := range a.Balances {
			if d, err := decimal.NewFromString(v); err != nil || d.IsNegative() {
				return fmt.Errorf("sim: Accounts[%d].Balances[%s]: want a non-negative decimal, got %q", i, asset, v)
			}
		}
	}
	for i := range c.Replay {
		if err := c.Replay[i].validate(i); err != nil {
			return err
		}
		listed := false
		for _, s := range c.Symbols {
			listed = listed || s.Name == c.Replay[i].Symbol
		}
		if !listed {
			return fmt.Errorf("%w: Replay[%d].Symbol %q", errReplaySymbol, i, c.Replay[i].Symbol)
		}
	}
	names := map[string]bool{}
	for i, s := range c.Symbols {
		if s.Name == "" || s.Base == "" || s.Quote == "" {
			return fmt.Errorf("sim: Symbols[%d]: want Name, Base and Quote", i)
		}
		if names[s.Name] {
			return fmt.Errorf("sim: Symbols[%d].Name: duplicate %s", i, s.Name)
		}
		names[s.Name] = true
		for field, v := range map[string]string{"Price": s.Price, "TickSize": s.TickSize, "StepSize": s.StepSize} {
			if d, err := decimal.NewFromString(v); err != nil || !d.IsPositive() {
				return fmt.Errorf("sim: Symbols[%d].%s: want a positive decimal, got %q", i, field, v)
			}
		}
		for field, v := range map[string]string{"MinPrice": s.MinPrice, "MaxPrice": s.MaxPrice, "MinQty": s.MinQty,
			"MaxQty": s.MaxQty, "MinNotional": s.MinNotional, "MaxNotional": s.MaxNotional} {
			if v == "" {
				continue
			}
			if d, err := decimal.NewFromString(v); err != nil || d.IsNegative() {
				return fmt.Errorf("sim: Symbols[%d].%s: want a non-negative decimal, got %q", i, field, v)
			}
		}
		p, _ := decimal.NewFromString(s.Price)
		t, _ := decimal.NewFromString(s.TickSize)
		if !p.Mod(t).IsZero() {
			return fmt.Errorf("sim: Symbols[%d].Price: %s is not a multiple of TickSize %s", i, s.Price, s.TickSize)
		}
	}
	if d, err := decimal.NewFromString(c.CommissionRate); err != nil || d.IsNegative() || d.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return fmt.Errorf("sim: CommissionRate: want a decimal in [0,1), got %q", c.CommissionRate)
	}
	if c.Limits.RequestWeight < 0 || c.Limits.RawRequests < 0 || c.Limits.Orders10s < 0 || c.Limits.OrdersDay < 0 {
		return errors.New("sim: Limits: want positive limits")
	}
	if c.Abuse.BanAfter < 0 || c.Abuse.AuthFailures < 0 {
		return errors.New("sim: Abuse: want positive thresholds")
	}
	return nil
}

// validKeyFormat is the simulator's API-key format rule: 1-256 printable ASCII characters,
// no spaces. Real keys are 64 alphanumerics; a looser rule lets `--api-key K` work.
func validKeyFormat(k string) bool {
	if len(k) == 0 || len(k) > 256 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}
