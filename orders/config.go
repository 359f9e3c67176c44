package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
)

// Price rounding modes (Config.PriceRounding).
const (
	// RoundNearest moves a price to the nearest tick; a price exactly halfway goes to the
	// passive side (a buy down, a sell up). A price moves by at most half a tick, and a price
	// off the grid by float noise (65010.010000000002) lands back on the tick it was meant to
	// be. (A price within 1e-20 of a tick off the grid is refused, not rounded: see Prepare.)
	RoundNearest = "nearest"
	// RoundPassive moves a buy down and a sell up to the next tick: never a more aggressive
	// price than the strategy asked for, at the cost of up to one whole tick (noise included).
	RoundPassive = "passive"
)

// Defaults of Config, applied by setDefaults to zero fields.
const (
	DefaultPriceRounding  = RoundNearest
	DefaultResolveQueries = 3
	DefaultMaxResends     = 1
	DefaultSettleTime     = 10 * time.Second
	DefaultSendTimeout    = 30 * time.Second
	DefaultRecvWindow     = 5 * time.Second
	DefaultClockSkew      = time.Second
	DefaultResolveTimeout = 30 * time.Second
	DefaultInfoTTL        = 5 * time.Minute
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultTakeoverAfter  = 5 * time.Minute
)

// Config is the orders section of Keel's configuration. Zero values mean the defaults above.
type Config struct {
	// PriceRounding is RoundNearest (default) or RoundPassive. Quantities always round down to
	// the step: an order is never larger than asked.
	PriceRounding string `koanf:"price_rounding"`
	// ResolveQueries is how many times Place queries an order by its client id after an
	// unknown outcome before it leaves the order unknown for Refresh and Reconcile. Default 3.
	ResolveQueries int `koanf:"resolve_queries"`
	// MaxResends is how many times Place resends an intent, with the same key, after the
	// exchange proved the previous try absent. 0 means the default (1); -1 never resends.
	MaxResends int `koanf:"max_resends"`
	// SettleTime is how long after the last try of a placement could have been signed (when
	// Place got its answer, or, after a crash, the entry's journalled SendBy) an "absent"
	// answer is taken as final by Refresh and Reconcile. A request signed earlier than that
	// can no longer be accepted by the exchange, so it cannot land later. Default 10s
	// (Binance's recvWindow is 5s). It may not be shorter than RecvWindow + ClockSkew.
	SettleTime time.Duration `koanf:"settle_time"`
	// SendTimeout bounds a placement from the moment its journal entry is marked sent to the
	// signing of its last try: queueing in the scheduler (behind the order window, a 429
	// pause) and every attempt and retry. Place cuts the request off at this deadline (or at
	// the caller's context deadline, if sooner) and journals the deadline as the entry's
	// SendBy: after a crash, Reconcile takes "not found" as proof of absence only SettleTime
	// after it, since a request that waited in the queue may have been signed that late. A
	// restart may so wait up to SendTimeout + SettleTime for an entry a crash left sent.
	// Default 30s, the scheduler's default budget (a shorter scheduler budget ends the
	// request sooner, which SendBy then merely overstates).
	SendTimeout time.Duration `koanf:"send_timeout"`
	// RecvWindow is how long after its timestamp the exchange still accepts a signed request:
	// the adapter's recvWindow (Binance: 5s unless configured). After an unknown outcome, Place
	// takes "not found" as proof that the order is absent (and resends it with the same key)
	// only once RecvWindow + ClockSkew have passed since the last try could have been signed;
	// a query that comes earlier is repeated then. Default 5s.
	RecvWindow time.Duration `koanf:"recv_window"`
	// ClockSkew is how far this host's clock may be off the exchange's, on top of RecvWindow.
	// Default 1s.
	ClockSkew time.Duration `koanf:"clock_skew"`
	// ResolveTimeout bounds the journal writes and queries that follow a request that left,
	// which run even when the caller's context has ended (their outcome must be recorded).
	// Default 30s.
	ResolveTimeout time.Duration `koanf:"resolve_timeout"`
	// InfoTTL is how long the manager's own exchange-info cache is fresh (when Params.Info is
	// nil). Default 5m.
	InfoTTL time.Duration `koanf:"info_ttl"`
	// Retention is how long resolved journal entries are kept before Reconcile compacts them.
	// Default 168h.
	Retention time.Duration `koanf:"retention"`
	// TakeoverAfter applies to a journal shared by a fleet (idempotency.Shared): Reconcile
	// takes over another instance's unsettled entries only when that instance is not alive
	// and none of them was touched for this long. Default 5m; at least SettleTime.
	TakeoverAfter time.Duration `koanf:"takeover_after"`
	// ValidationGuard bounds identical validation refusals (guard.go).
	ValidationGuard GuardConfig `koanf:"validation_guard"`
}

func (c *Config) setDefaults() {
	if c.PriceRounding == "" {
		c.PriceRounding = DefaultPriceRounding
	}
	if c.ResolveQueries == 0 {
		c.ResolveQueries = DefaultResolveQueries
	}
	if c.MaxResends == 0 {
		c.MaxResends = DefaultMaxResends
	}
	if c.SettleTime == 0 {
		c.SettleTime = DefaultSettleTime
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.RecvWindow == 0 {
		c.RecvWindow = DefaultRecvWindow
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.ResolveTimeout == 0 {
		c.ResolveTimeout = DefaultResolveTimeout
	}
	if c.InfoTTL == 0 {
		c.InfoTTL = DefaultInfoTTL
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.TakeoverAfter == 0 {
		c.TakeoverAfter = DefaultTakeoverAfter
	}
	c.ValidationGuard.setDefaults()
}

// acceptWindow is how long after a request was signed the exchange may still accept it, as
// far as this host's clock can tell.
func (c Config) acceptWindow() time.Duration { return c.RecvWindow + c.ClockSkew }

// ErrConfig is wrapped by every Validate error.
var ErrConfig = errors.New("orders: invalid config")

func configErr(key, format string, args ...any) error {
	return fmt.Errorf("%w: orders.%s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
}

// Validate checks the config after defaults are applied; an error names the bad key.
func (c Config) Validate() error {
	c.setDefaults()
	switch {
	case c.PriceRounding != RoundNearest && c.PriceRounding != RoundPassive:
		return configErr("price_rounding", "expected %q or %q, got %q", RoundNearest, RoundPassive, c.PriceRounding)
	case c.ResolveQueries < 1:
		return configErr("resolve_queries", "expected at least 1, got %d", c.ResolveQueries)
	case c.MaxResends < -1:
		return configErr("max_resends", "expected -1 (never), 0 (default) or a positive count, got %d", c.MaxResends)
	case c.SettleTime < 0:
		return configErr("settle_time", "expected a positive duration, got %s", c.SettleTime)
	case c.SendTimeout < 0:
		return configErr("send_timeout", "expected a positive duration, got %s", c.SendTimeout)
	case c.RecvWindow < 0:
		return configErr("recv_window", "expected a positive duration, got %s", c.RecvWindow)
	case c.ClockSkew < 0:
		return configErr("clock_skew", "expected a positive duration, got %s", c.ClockSkew)
	case c.SettleTime < c.acceptWindow():
		return configErr("settle_time", "expected at least recv_window + clock_skew (%s), got %s", c.acceptWindow(), c.SettleTime)
	case c.ResolveTimeout < 0:
		return configErr("resolve_timeout", "expected a positive duration, got %s", c.ResolveTimeout)
	case c.InfoTTL < 0:
		return configErr("info_ttl", "expected a positive duration, got %s", c.InfoTTL)
	case c.Retention < 0:
		return configErr("retention", "expected a positive duration, got %s", c.Retention)
	case c.TakeoverAfter < c.SettleTime:
		return configErr("takeover_after", "expected at least settle_time (%s), got %s", c.SettleTime, c.TakeoverAfter)
	}
	return c.ValidationGuard.validate()
}

// Keys makes and recognises idempotency keys; *idempotency.KeyGenerator implements it.
type Keys interface {
	// Next returns a fresh key, used as the exchange's client order id.
	Next() string
	// Owns reports whether a client order id carries this bot's prefix.
	Owns(key string) bool
}

// InstanceKeys is implemented by Keys that name the instance in every key
// (*idempotency.KeyGenerator). With a journal shared by a fleet (idempotency.Shared), the
// manager then settles and adopts only this instance's orders, and those of instances that
// are gone.
type InstanceKeys interface {
	Keys
	// Instance returns the instance tag of this instance's keys.
	Instance() string
}

var _ Keys = (*idempotency.KeyGenerator)(nil)

// Metrics are the manager's counters, fed to Prometheus by the runtime. Every field is
// optional; a nil func is skipped. Each is called once per occurrence with the order's symbol
// and must not block.
type Metrics struct {
	// Placed counts placements the exchange acknowledged (after any resolution).
	Placed func(symbol string)
	// Rejected counts placements the exchange refused, or that provably never arrived.
	Rejected func(symbol string)
	// UnknownOutcome counts placements left unknown for Refresh and Reconcile.
	UnknownOutcome func(symbol string)
	// Resent counts resends with the same key after the exchange proved a try absent.
	Resent func(symbol string)
	// Adopted counts orders found on the exchange at reconciliation and taken over.
	Adopted func(symbol string)
}

func (m Metrics) inc(f func(string), symbol string) {
	if f != nil {
		f(symbol)
	}
}

// InfoFunc returns the exchange's trading rules; the runtime passes its shared cache.
type InfoFunc func(ctx context.Context) (adapters.ExchangeInfo, error)

// Params are New's dependencies. Exchange, Store and Keys are required.
type Params struct {
	Exchange adapters.Exchange
	Store    idempotency.Store
	Keys     Keys
	// Info supplies symbol rules; nil means the manager caches Exchange.ExchangeInfo itself
	// for Config.InfoTTL.
	Info InfoFunc
	// Log receives the manager's events (unknown outcomes, adoptions); zero value: silent.
	Log zerolog.Logger
	// Clock defaults to the wall clock.
	Clock   clock.Clock
	Metrics Metrics
	Config  Config
	// ExclusiveJournal says that no other process writes Store while this manager runs and
	// that none which wrote it before can still be sending: a file journal's lock (bbolt's
	// flock) is only had once the process that held it is gone. Reconcile may then take the
	// manager's start as the latest instant an earlier process signed a try, instead of that
	// placement's journalled deadline (Entry.SendBy), so a restart after a crash waits
	// SettleTime, not up to SendTimeout + SettleTime. Never set it for a journal that several
	// processes share; a fleet's shared journal ignores it.
	ExclusiveJournal bool
	// Balance returns what the runtime knows of an asset's balance (false: nothing yet), so
	// that Place refuses an order the account cannot cover without sending it. nil: no check.
	Balance func(asset string) (adapters.Balance, bool)
}
