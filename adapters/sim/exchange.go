package sim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// The simulated exchange is itself an exchange a bot can name: `exchange.name: sim` starts a
// Server in-process on loopback, speaking ExchangeConfig.Dialect, and builds that dialect's
// adapter pointed at it. The dialect's adapter must be linked into the binary (import its
// package, or adapters/exchanges for all of them); the simulator is linked only into
// binaries that import this package.
func init() {
	adapters.Register(adapters.Definition{
		Name:      "sim",
		NewConfig: func() adapters.Config { return &ExchangeConfig{Dialect: DialectBinance, Seed: 1, TimeScale: 1} },
		New:       newExchange,
		Streams:   true, // whatever the dialect's adapter offers; without streams it says ErrNoStreams
	})
}

// ExchangeConfig is the `exchange:` section for `name: sim`.
type ExchangeConfig struct {
	// Dialect is the exchange API the simulator serves and the adapter that talks to it:
	// binance (default), or another of Dialects() whose adapter is linked.
	Dialect string `koanf:"dialect"`
	// Seed drives the price walks, generated ids and fault draws. Default 1.
	Seed int64 `koanf:"seed"`
	// TimeScale runs limit windows, Retry-After, bans and prices this many times faster.
	// Default 1.
	TimeScale float64 `koanf:"time_scale"`
}

// dialectConfig is the dialect adapter's own default config.
func (c *ExchangeConfig) dialectConfig() (adapters.Definition, adapters.Config, error) {
	d, err := adapters.Lookup(c.Dialect)
	if err != nil {
		return d, nil, err
	}
	return d, d.NewConfig(), nil
}

// Validate checks the dialect (served here and linked as an adapter) and the time scale.
func (c *ExchangeConfig) Validate() error {
	if err := ValidateDialect(c.Dialect); err != nil {
		return fmt.Errorf("dialect: %w", err)
	}
	_, inner, err := c.dialectConfig()
	if err != nil {
		return fmt.Errorf("dialect: %w", err)
	}
	if _, ok := inner.(adapters.SimTarget); !ok {
		return fmt.Errorf("dialect: the %s adapter cannot be pointed at the simulator", c.Dialect)
	}
	if err := ValidateTimeScale("time_scale", c.TimeScale); err != nil {
		return err
	}
	return nil
}

// SchedulerWindows are the dialect adapter's.
func (c *ExchangeConfig) SchedulerWindows() []scheduler.WindowConfig {
	if _, inner, err := c.dialectConfig(); err == nil {
		return inner.SchedulerWindows()
	}
	return nil
}

// SchedulerBuckets are the dialect adapter's.
func (c *ExchangeConfig) SchedulerBuckets() []scheduler.BucketConfig {
	if _, inner, err := c.dialectConfig(); err == nil {
		return inner.SchedulerBuckets()
	}
	return nil
}

// AcceptanceWindow is the dialect adapter's.
func (c *ExchangeConfig) AcceptanceWindow() time.Duration {
	if _, inner, err := c.dialectConfig(); err == nil {
		return inner.AcceptanceWindow()
	}
	return 0
}

// Embedded is the adapter of an in-process simulator: the dialect's adapter, and the Server
// behind it for tests and tools (its admin methods: Orders, SetPrice, SetFaults, ...).
type Embedded struct {
	adapters.Exchange
	srv *Server
}

// Server is the simulator the adapter talks to.
func (e *Embedded) Server() *Server { return e.srv }

// embeddedAccount is Embedded over an adapter that also reads fees and account standing.
type embeddedAccount struct {
	*Embedded
	adapters.AccountReader
}

func newExchange(cfg adapters.Config, env adapters.Env) (adapters.Exchange, error) {
	c, ok := cfg.(*ExchangeConfig)
	if !ok {
		return nil, fmt.Errorf("sim: config of type %T", cfg)
	}
	def, inner, err := c.dialectConfig()
	if err != nil {
		return nil, err
	}
	srv, err := New(Config{Dialect: c.Dialect, Seed: c.Seed, TimeScale: c.TimeScale,
		APIKey: DefaultAPIKey, APISecret: DefaultAPISecret})
	if err != nil {
		return nil, err
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("sim: embedded simulator: %w", err)
	}
	if env.OnStop != nil {
		env.OnStop(srv.Close)
	}
	inner.(adapters.SimTarget).ForSimulator(adapters.SimEndpoint{RESTURL: srv.URL(), WSURL: "ws://" + srv.Addr().String(),
		APIKey: DefaultAPIKey, APISecret: DefaultAPISecret, TimeScale: c.TimeScale})
	if err := inner.Validate(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("sim: the %s adapter's config for the simulator: %w", c.Dialect, err)
	}
	ex, err := def.New(inner, env)
	if err != nil {
		srv.Close()
		return nil, errors.Join(fmt.Errorf("sim: building the %s adapter", c.Dialect), err)
	}
	if env.Logf != nil {
		env.Logf("embedded simulated exchange started at %s (dialect %s)", srv.URL(), c.Dialect)
	}
	e := &Embedded{Exchange: ex, srv: srv}
	if ar, ok := ex.(adapters.AccountReader); ok {
		return embeddedAccount{e, ar}, nil
	}
	return e, nil
}

// Candles reads candles through the dialect's adapter (adapters.CandleReader), or answers
// adapters.ErrNoCandles when that adapter reads none.
func (e *Embedded) Candles(ctx context.Context, symbol string, interval adapters.Interval, q adapters.CandleQuery, opts ...adapters.CallOption) ([]adapters.Candle, error) {
	if cr, ok := e.Exchange.(adapters.CandleReader); ok {
		return cr.Candles(ctx, symbol, interval, q, opts...)
	}
	return nil, adapters.ErrNoCandles
}

// CandleStream streams candles through the dialect's adapter (adapters.CandleStreamer), or
// answers adapters.ErrNoCandles.
func (e *Embedded) CandleStream(series []adapters.CandleSeries, h adapters.CandleHandler, o adapters.StreamOptions) (adapters.CandleStream, error) {
	if cs, ok := e.Exchange.(adapters.CandleStreamer); ok {
		return cs.CandleStream(series, h, o)
	}
	return nil, adapters.ErrNoCandles
}
