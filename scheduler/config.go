package scheduler

import (
	"fmt"
	"time"
)

// Config configures a Scheduler. It is loaded with koanf (snake_case keys).
//
// Zero means default: a field left zero takes the default documented on it, so a Config
// literal names only what it changes, and a zero is never an error here, even where the
// default is not zero-like (a bucket's max_concurrency 0 is its default cap, not no
// concurrency; safety_fraction 0 is 0.9). Only a window's name, limit and interval and a
// bucket's name have no default: they are required. Effective shows the defaults applied;
// they are applied in that one place, before validation, so Validate and New agree on what a
// zero means. A loader that wants an explicit zero in a file refused must tell it from an
// absent key itself before building the Config. A negative value is an error unless its
// field gives it a meaning (RetryConfig, BreakerConfig.FailureRatio).
type Config struct {
	// Exchange and InstanceID are written into every attempt's log event as `exchange` and
	// `bot_instance_id`.
	Exchange   string `koanf:"exchange"`
	InstanceID string `koanf:"instance_id"`

	// Windows are the exchange's limit windows. Adapters may add or change them later with
	// SetWindowLimit (limits learned from exchangeInfo).
	Windows []WindowConfig `koanf:"windows"`
	// Buckets are the concurrency buckets requests name.
	Buckets []BucketConfig `koanf:"buckets"`

	// SafetyFraction is the share of each announced limit the scheduler uses, in (0,1], while
	// the exchange's usage reports do not confirm the window's count (none came lately, or
	// one showed more than the count allowed for). 0 means the default, 0.9.
	SafetyFraction float64 `koanf:"safety_fraction"`
	// SafetyFractionConfirmed is the share of a window's announced limit used while the
	// exchange's usage reports confirm its count (usage.go): one came within the window's
	// interval and none in the last interval showed more than the count allowed for. In
	// [safety_fraction, 1]; 0 means the default, 0.99 (or safety_fraction, if higher). Set it
	// to safety_fraction to use one fixed fraction.
	SafetyFractionConfirmed float64 `koanf:"safety_fraction_confirmed"`
	// Headroom is the share of the safe limit each priority may use when higher priorities
	// need theirs; what they do not need is lent (HeadroomConfig.Lookback).
	Headroom HeadroomConfig `koanf:"headroom"`

	// DefaultBudget bounds a request whose Budget is 0: queueing, attempts and retries.
	// Default 30s.
	DefaultBudget time.Duration `koanf:"default_budget"`
	// DefaultMaxWait is how long a request below orders priority whose MaxWait is 0 may wait
	// in the queue before it is shed. Default 5s.
	DefaultMaxWait time.Duration `koanf:"default_max_wait"`

	Backoff     BackoffConfig     `koanf:"backoff"`
	Retries     RetryConfig       `koanf:"retries"`
	RetryBudget RetryBudgetConfig `koanf:"retry_budget"`
	AIMD        AIMDConfig        `koanf:"aimd"`
	Breakers    BreakersConfig    `koanf:"breakers"`
}

// WindowConfig is one limit window ("REQUEST_WEIGHT" 6000 per 1m, "ORDERS" 50 per 10s).
type WindowConfig struct {
	// Name is what Cost.Window and Usage.Window refer to. Required.
	Name string `koanf:"name"`
	// Limit is the exchange's announced limit per Interval. Required, >= 1.
	Limit int64 `koanf:"limit"`
	// Interval is the window's length. Required, > 0.
	Interval time.Duration `koanf:"interval"`
	// Kind is how the exchange counts:
	//   - "fixed" (KindFixed; "" means it): windows of Interval aligned to the exchange's
	//     clock, as Binance counts; Limit per window.
	//   - "sliding" (KindSliding): at most Limit over the last Interval, whenever now is.
	//   - "decaying" (KindDecaying): a level that each cost raises and that drains
	//     continuously at Limit per Interval, as Kraken counts; Interval is the time a full
	//     level takes to drain to zero (Kraken Starter, 15 decaying at 0.33/s: Limit 15,
	//     Interval 15/0.33 s ≈ 45.45s). A cost may go while the level, rounded up to a whole
	//     unit, plus the cost stays within the safe limit.
	//   - or a kind registered with WithWindowKind.
	Kind string `koanf:"kind"`
	// Burst is the share of the safe limit that may be spent at once; the rest is released
	// evenly over the interval, so a window is never spent in its first second. 0 means the
	// default: 0.2, or 1 for a decaying window; 1 lets the whole window go at once.
	//
	// A decaying window releases at SafetyFraction·Limit per Interval (its drain rate less
	// the safety margin, so the exchange's level falls while the scheduler's stays put),
	// rather than at the safe limit per Interval, which floors to a whole unit. Its default
	// burst is 1 because the level itself already paces: a fresh decaying window takes its
	// safe limit at once and then follows the drain, as the exchange allows, while a smaller
	// burst would hold back requests the exchange's level has room for.
	Burst float64 `koanf:"burst"`
}

// BucketConfig is one concurrency bucket ("orders", "account", "market").
type BucketConfig struct {
	// Name is what Request.Bucket refers to. Required.
	Name string `koanf:"name"`
	// MaxConcurrency caps requests in flight, >= 1. 0 means the default: 2 for a private
	// bucket, 4 for a public one. AIMD moves the live limit between 1 and this cap, starting
	// at half of it.
	MaxConcurrency int `koanf:"max_concurrency"`
	// Public marks a bucket of unsigned endpoints: the auth breaker does not hold it.
	Public bool `koanf:"public"`
}

// HeadroomConfig is the share of the safe limit each priority may use, in (0,1], when the
// priorities above it need the rest. Defaults: background and market 0.70, account 0.85,
// orders and critical 1.0.
//
// The rest is kept only as far as it is needed, window by window (lending.go): a priority
// below 1.0 may use all of a window but CancelFloor while no request of a higher priority
// waited on that window within Lookback, and otherwise all but what the higher priorities
// were granted of it over its last interval (at least CancelFloor, at most 1 - its share).
type HeadroomConfig struct {
	Background float64 `koanf:"background"`
	Market     float64 `koanf:"market"`
	Account    float64 `koanf:"account"`
	Orders     float64 `koanf:"orders"`
	Critical   float64 `koanf:"critical"`
	// Lookback is how long a higher priority's request on a window is remembered: while one
	// waited on it within Lookback, the lower priorities leave it what it was granted over
	// the window's last interval. 0 means the default: twice the window's interval (a
	// 1-minute window remembers 2 minutes). Negative: never lend, each priority keeps to its
	// share.
	Lookback time.Duration `koanf:"lookback"`
	// CancelFloor is the share of the safe limit a lending priority always leaves, in [0,1)
	// (capped by 1 - its share), so that cancels and orders find room in a window the reads
	// have filled. 0 means the default, 0.01; negative means none.
	CancelFloor float64 `koanf:"cancel_floor"`
}

// BackoffConfig shapes the waits between attempts.
type BackoffConfig struct {
	// Base and Cap shape full-jitter backoff: rand(0, min(Cap, Base·2^n)) before retry n+1.
	// Defaults 200ms and 10s.
	Base time.Duration `koanf:"base"`
	Cap  time.Duration `koanf:"cap"`
	// RateLimitPause holds a bucket after a 429 that came without Retry-After. Default 1s.
	RateLimitPause time.Duration `koanf:"rate_limit_pause"`
	// BanPause holds everything after an IP ban (418) that came without Retry-After, doubled
	// for each ban that comes within BanPauseCap of the end of the previous one, up to
	// BanPauseCap. Defaults 2m and 30m: Binance bans for 2 minutes to 3 days, longer for
	// repeat offenders, and a request sent during a ban extends it, so coming back early
	// costs more than waiting.
	BanPause    time.Duration `koanf:"ban_pause"`
	BanPauseCap time.Duration `koanf:"ban_pause_cap"`
	// MaxRetryAfter caps the Retry-After of anything but a ban: a longer one is honoured for
	// this long, then one request tries again. Default 5m (Binance's windows that answer
	// 429s last a minute or five; only the daily order count asks for longer).
	MaxRetryAfter time.Duration `koanf:"max_retry_after"`
	// MaxBan caps how long a ban (418) holds, whatever its Retry-After or "banned until"
	// says. Default 72h, Binance's documented longest IP ban. Must be >= ban_pause_cap.
	MaxBan time.Duration `koanf:"max_ban"`
	// ResumeSpread and ResumeSpreadRatio spread the requests waiting on a pause when it ends:
	// each resumes after rand(0, min(ResumeSpread, ResumeSpreadRatio·pause)).
	// Defaults 1s and 0.1.
	ResumeSpread      time.Duration `koanf:"resume_spread"`
	ResumeSpreadRatio float64       `koanf:"resume_spread_ratio"`
	// CancelProbe spaces the cancels that a hold or an open breaker would otherwise stop (a
	// ban, a 429 on request weight, an outage, a window the exchange's usage header says is
	// full): one cancel per bucket goes through every CancelProbe, so that the kill switch's
	// and the shutdown's cancels always have a path, without hammering an exchange that is
	// refusing. Default 2s.
	CancelProbe time.Duration `koanf:"cancel_probe"`
}

// RetryConfig is the number of retries per failure class. 0 means the default (2); a
// negative value means no retries. Auth and validation failures are never retried.
type RetryConfig struct {
	RateLimit int `koanf:"rate_limit"`
	Transient int `koanf:"transient"`
}

// RetryBudgetConfig caps retries globally: over a sliding Window, retries may number at most
// max(Floor, Ratio·(first attempts)), so an outage can never multiply traffic. The floor lets
// a quiet bot retry at all (a handful of requests a minute makes a Ratio of none); it is not
// added on top of the ratio, which at 60 requests a minute would let retries add 18% where
// the ratio says 10%.
type RetryBudgetConfig struct {
	// Ratio defaults to 0.10.
	Ratio float64 `koanf:"ratio"`
	// Floor is the retries allowed per Window however few the first attempts. Default 5.
	Floor int `koanf:"floor"`
	// Window defaults to 1m.
	Window time.Duration `koanf:"window"`
}

// AIMDConfig shapes each bucket's adaptive concurrency limit.
type AIMDConfig struct {
	// SuccessRun is the run of consecutive successes after which a bucket's limit grows by
	// one. Default 20.
	SuccessRun int `koanf:"success_run"`
}

// BreakersConfig configures the breaker of each failure class.
// Defaults: auth opens on 1 failure for 60s; rate_limit on 3 consecutive 429s for 10s (or
// the whole Retry-After, if longer); transient on 5 consecutive failures, or >= 50% failures
// over >= 10 calls in 30s, for 15s.
type BreakersConfig struct {
	Auth      BreakerConfig `koanf:"auth"`
	RateLimit BreakerConfig `koanf:"rate_limit"`
	Transient BreakerConfig `koanf:"transient"`
}

// BreakerConfig configures one class's breaker. Zero fields take the class's defaults.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker after that many failures in a row.
	ConsecutiveFailures uint32 `koanf:"consecutive_failures"`
	// FailureRatio opens the breaker when at least MinCalls calls in Window failed at this
	// ratio or more. Negative disables it (the default for auth and rate_limit).
	FailureRatio float64       `koanf:"failure_ratio"`
	MinCalls     uint32        `koanf:"min_calls"`
	Window       time.Duration `koanf:"window"`
	// OpenFor is how long the breaker stays open before it lets one probe through.
	OpenFor time.Duration `koanf:"open_for"`
}

// Defaults, applied by withDefaults.
const (
	defaultSafetyFraction = 0.9
	// defaultSafetyFractionConfirmed leaves 1% of a window for what the usage reports cannot
	// see in time: another client's spend between two reports, a request counted in the
	// next window.
	defaultSafetyFractionConfirmed = 0.99
	defaultCancelFloor             = 0.01
	defaultBudget                  = 30 * time.Second
	defaultMaxWait                 = 5 * time.Second
	defaultBackoffBase             = 200 * time.Millisecond
	defaultBackoffCap              = 10 * time.Second
	defaultRateLimitPause          = time.Second
	defaultBanPause                = 2 * time.Minute
	defaultBanPauseCap             = 30 * time.Minute
	defaultMaxRetryAfter           = 5 * time.Minute
	defaultMaxBan                  = 72 * time.Hour
	defaultResumeSpread            = time.Second
	defaultResumeSpreadRatio       = 0.1
	defaultCancelProbe             = 2 * time.Second
	defaultRetries                 = 2
	defaultRetryRatio              = 0.10
	defaultRetryFloor              = 5
	defaultRetryWindow             = time.Minute
	defaultSuccessRun              = 20
	defaultBurst                   = 0.2
	defaultPrivateCap              = 2
	defaultPublicCap               = 4

	// KindFixed counts in windows aligned to the exchange's clock (Binance).
	KindFixed = "fixed"
	// KindSliding counts over the last Interval, whenever now is.
	KindSliding = "sliding"
	// KindDecaying counts a level that drains continuously at Limit per Interval (Kraken).
	KindDecaying = "decaying"
)

// Effective returns c as New uses it: every zero field set to its documented default. It
// does not validate.
func (c Config) Effective() Config { return c.withDefaults() }

// withDefaults returns c with every zero field set to its documented default. It is the
// one place defaults live.
func (c Config) withDefaults() Config {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.SafetyFraction, defaultSafetyFraction)
	def(&c.SafetyFractionConfirmed, max(defaultSafetyFractionConfirmed, c.SafetyFraction))
	def(&c.Headroom.CancelFloor, defaultCancelFloor)
	def(&c.Headroom.Background, 0.70)
	def(&c.Headroom.Market, 0.70)
	def(&c.Headroom.Account, 0.85)
	def(&c.Headroom.Orders, 1)
	def(&c.Headroom.Critical, 1)
	defDur(&c.DefaultBudget, defaultBudget)
	defDur(&c.DefaultMaxWait, defaultMaxWait)
	defDur(&c.Backoff.Base, defaultBackoffBase)
	defDur(&c.Backoff.Cap, defaultBackoffCap)
	defDur(&c.Backoff.RateLimitPause, defaultRateLimitPause)
	defDur(&c.Backoff.BanPause, defaultBanPause)
	defDur(&c.Backoff.BanPauseCap, defaultBanPauseCap)
	defDur(&c.Backoff.MaxRetryAfter, defaultMaxRetryAfter)
	defDur(&c.Backoff.MaxBan, defaultMaxBan)
	defDur(&c.Backoff.ResumeSpread, defaultResumeSpread)
	def(&c.Backoff.ResumeSpreadRatio, defaultResumeSpreadRatio)
	defDur(&c.Backoff.CancelProbe, defaultCancelProbe)
	if c.Retries.RateLimit == 0 {
		c.Retries.RateLimit = defaultRetries
	}
	if c.Retries.Transient == 0 {
		c.Retries.Transient = defaultRetries
	}
	def(&c.RetryBudget.Ratio, defaultRetryRatio)
	if c.RetryBudget.Floor == 0 {
		c.RetryBudget.Floor = defaultRetryFloor
	}
	defDur(&c.RetryBudget.Window, defaultRetryWindow)
	if c.AIMD.SuccessRun == 0 {
		c.AIMD.SuccessRun = defaultSuccessRun
	}
	c.Breakers.Auth = c.Breakers.Auth.withDefaults(BreakerConfig{ConsecutiveFailures: 1, FailureRatio: -1, OpenFor: time.Minute})
	c.Breakers.RateLimit = c.Breakers.RateLimit.withDefaults(BreakerConfig{ConsecutiveFailures: 3, FailureRatio: -1, OpenFor: 10 * time.Second})
	c.Breakers.Transient = c.Breakers.Transient.withDefaults(BreakerConfig{ConsecutiveFailures: 5, FailureRatio: 0.5, MinCalls: 10, Window: 30 * time.Second, OpenFor: 15 * time.Second})

	c.Windows = append([]WindowConfig(nil), c.Windows...)
	for i := range c.Windows {
		c.Windows[i] = c.Windows[i].withDefaults()
	}
	c.Buckets = append([]BucketConfig(nil), c.Buckets...)
	for i := range c.Buckets {
		b := &c.Buckets[i]
		if b.MaxConcurrency == 0 {
			b.MaxConcurrency = defaultPrivateCap
			if b.Public {
				b.MaxConcurrency = defaultPublicCap
			}
		}
	}
	return c
}

func (w WindowConfig) withDefaults() WindowConfig {
	if w.Kind == "" {
		w.Kind = KindFixed
	}
	if w.Burst == 0 {
		w.Burst = defaultBurst
		if w.Kind == KindDecaying {
			w.Burst = 1
		}
	}
	return w
}

func (b BreakerConfig) withDefaults(d BreakerConfig) BreakerConfig {
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = d.ConsecutiveFailures
	}
	if b.FailureRatio == 0 {
		b.FailureRatio = d.FailureRatio
	}
	if b.MinCalls == 0 {
		b.MinCalls = max(d.MinCalls, 10)
	}
	if b.Window == 0 {
		b.Window = max(d.Window, 30*time.Second)
	}
	if b.OpenFor == 0 {
		b.OpenFor = d.OpenFor
	}
	return b
}

// headroom returns the share of the safe limit priority p may use.
func (h HeadroomConfig) of(p Priority) float64 {
	switch p {
	case PriorityBackground:
		return h.Background
	case PriorityMarket:
		return h.Market
	case PriorityAccount:
		return h.Account
	case PriorityOrders:
		return h.Orders
	default:
		return h.Critical
	}
}

// Validate reports the first invalid field of c (after defaults), naming its key:
// "scheduler: buckets[orders].max_concurrency: must be >= 1, got -1". A window's kind must be
// one of the built-in kinds: Validate sees no options, so a kind registered with
// WithWindowKind is checked by New, which knows it.
func (c Config) Validate() error {
	return c.withDefaults().validate(builtinKind)
}

// builtinKind reports whether kind is one New knows without WithWindowKind.
func builtinKind(kind string) bool {
	return kind == KindFixed || kind == KindSliding || kind == KindDecaying
}

func fieldErr(key, format string, args ...any) error {
	return fmt.Errorf("scheduler: %s: %s", key, fmt.Sprintf(format, args...))
}

// validate checks a config whose defaults are applied; known tells the window kinds that
// can be built.
func (c Config) validate(known func(kind string) bool) error {
	seen := map[string]bool{}
	for i, w := range c.Windows {
		if err := w.validate(fmt.Sprintf("windows[%d]", i), known); err != nil {
			return err
		}
		if seen[w.Name] {
			return fieldErr(fmt.Sprintf("windows[%s].name", w.Name), "duplicate window")
		}
		seen[w.Name] = true
	}
	seen = map[string]bool{}
	for i, b := range c.Buckets {
		if b.Name == "" {
			return fieldErr(fmt.Sprintf("buckets[%d].name", i), "must not be empty")
		}
		if seen[b.Name] {
			return fieldErr(fmt.Sprintf("buckets[%s].name", b.Name), "duplicate bucket")
		}
		seen[b.Name] = true
		if b.MaxConcurrency < 1 {
			return fieldErr(fmt.Sprintf("buckets[%s].max_concurrency", b.Name), "must be >= 1, got %d", b.MaxConcurrency)
		}
	}
	if !(c.SafetyFraction > 0 && c.SafetyFraction <= 1) {
		return fieldErr("safety_fraction", "must be in (0,1], got %v", c.SafetyFraction)
	}
	if !(c.SafetyFractionConfirmed >= c.SafetyFraction && c.SafetyFractionConfirmed <= 1) {
		return fieldErr("safety_fraction_confirmed", "must be in [safety_fraction (%v), 1], got %v", c.SafetyFraction, c.SafetyFractionConfirmed)
	}
	if c.Headroom.CancelFloor >= 1 {
		return fieldErr("headroom.cancel_floor", "must be < 1 (negative: none), got %v", c.Headroom.CancelFloor)
	}
	for p := range Priority(NumPriorities) {
		if h := c.Headroom.of(p); !(h > 0 && h <= 1) {
			return fieldErr("headroom."+p.String(), "must be in (0,1], got %v", h)
		}
	}
	for p := PriorityBackground; p < PriorityCritical; p++ {
		if c.Headroom.of(p) > c.Headroom.of(p+1) {
			return fieldErr("headroom."+p.String(), "must not exceed headroom.%s (%v), got %v", (p + 1).String(), c.Headroom.of(p+1), c.Headroom.of(p))
		}
	}
	durations := []struct {
		key string
		d   time.Duration
	}{
		{"default_budget", c.DefaultBudget}, {"default_max_wait", c.DefaultMaxWait},
		{"backoff.base", c.Backoff.Base}, {"backoff.cap", c.Backoff.Cap},
		{"backoff.rate_limit_pause", c.Backoff.RateLimitPause}, {"backoff.resume_spread", c.Backoff.ResumeSpread},
		{"backoff.ban_pause", c.Backoff.BanPause}, {"backoff.ban_pause_cap", c.Backoff.BanPauseCap},
		{"backoff.max_retry_after", c.Backoff.MaxRetryAfter}, {"backoff.max_ban", c.Backoff.MaxBan},
		{"backoff.cancel_probe", c.Backoff.CancelProbe},
		{"retry_budget.window", c.RetryBudget.Window},
		{"breakers.auth.open_for", c.Breakers.Auth.OpenFor}, {"breakers.rate_limit.open_for", c.Breakers.RateLimit.OpenFor},
		{"breakers.transient.open_for", c.Breakers.Transient.OpenFor},
		{"breakers.auth.window", c.Breakers.Auth.Window}, {"breakers.rate_limit.window", c.Breakers.RateLimit.Window},
		{"breakers.transient.window", c.Breakers.Transient.Window},
	}
	for _, d := range durations {
		if d.d <= 0 {
			return fieldErr(d.key, "must be > 0, got %v", d.d)
		}
	}
	if c.Backoff.Cap < c.Backoff.Base {
		return fieldErr("backoff.cap", "must be >= backoff.base (%v), got %v", c.Backoff.Base, c.Backoff.Cap)
	}
	if c.Backoff.BanPauseCap < c.Backoff.BanPause {
		return fieldErr("backoff.ban_pause_cap", "must be >= backoff.ban_pause (%v), got %v", c.Backoff.BanPause, c.Backoff.BanPauseCap)
	}
	if c.Backoff.MaxBan < c.Backoff.BanPauseCap {
		return fieldErr("backoff.max_ban", "must be >= backoff.ban_pause_cap (%v), got %v", c.Backoff.BanPauseCap, c.Backoff.MaxBan)
	}
	if c.Backoff.MaxRetryAfter < c.Backoff.RateLimitPause {
		return fieldErr("backoff.max_retry_after", "must be >= backoff.rate_limit_pause (%v), got %v", c.Backoff.RateLimitPause, c.Backoff.MaxRetryAfter)
	}
	if !(c.Backoff.ResumeSpreadRatio > 0 && c.Backoff.ResumeSpreadRatio <= 1) {
		return fieldErr("backoff.resume_spread_ratio", "must be in (0,1], got %v", c.Backoff.ResumeSpreadRatio)
	}
	if c.RetryBudget.Ratio < 0 {
		return fieldErr("retry_budget.ratio", "must be >= 0, got %v", c.RetryBudget.Ratio)
	}
	if c.RetryBudget.Floor < 0 {
		return fieldErr("retry_budget.floor", "must be >= 0, got %d", c.RetryBudget.Floor)
	}
	if c.AIMD.SuccessRun < 1 {
		return fieldErr("aimd.success_run", "must be >= 1, got %d", c.AIMD.SuccessRun)
	}
	for _, b := range []struct {
		key string
		c   BreakerConfig
	}{{"breakers.auth", c.Breakers.Auth}, {"breakers.rate_limit", c.Breakers.RateLimit}, {"breakers.transient", c.Breakers.Transient}} {
		if b.c.FailureRatio > 1 {
			return fieldErr(b.key+".failure_ratio", "must be <= 1 (negative disables), got %v", b.c.FailureRatio)
		}
	}
	return nil
}

// validate checks one window whose defaults are applied; key is how to name it until its
// name is known; known tells the window kinds that can be built.
func (w WindowConfig) validate(key string, known func(kind string) bool) error {
	if w.Name == "" {
		return fieldErr(key+".name", "must not be empty")
	}
	key = fmt.Sprintf("windows[%s]", w.Name)
	if w.Limit < 1 {
		return fieldErr(key+".limit", "must be >= 1, got %d", w.Limit)
	}
	if w.Interval <= 0 {
		return fieldErr(key+".interval", "must be > 0, got %v", w.Interval)
	}
	if !(w.Burst > 0 && w.Burst <= 1) {
		return fieldErr(key+".burst", "must be in (0,1], got %v", w.Burst)
	}
	if !known(w.Kind) {
		return fieldErr(key+".kind", "unknown kind %q (want %q, %q, %q or one registered with WithWindowKind)", w.Kind, KindFixed, KindSliding, KindDecaying)
	}
	return nil
}
