package sim

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
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
	// Default 1. With URL, it must be the running simulator's (adapters whose limits the
	// exchange does not announce scale their own by it).
	TimeScale float64 `koanf:"time_scale"`
	// URL, when set, connects to a simulator already running there (`keel sim`, or one a
	// test or `keel certify` shares between several bots) instead of starting one: its REST
	// root ("http://127.0.0.1:8600"), with the simulator's default credentials. Seed is then
	// the running simulator's business.
	URL string `koanf:"url"`
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
	if c.URL != "" {
		if _, err := wsRoot(c.URL); err != nil {
			return fmt.Errorf("url: %w", err)
		}
	}
	return nil
}

// wsRoot is the WebSocket root of a simulator serving REST at rest: the same host, ws for
// http and wss for https.
func wsRoot(rest string) (string, error) {
	u, err := url.Parse(rest)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("want a simulator's REST root like http://127.0.0.1:8600, got %q", rest)
	}
	scheme := "ws"
	if u.Scheme == "https" {
		scheme = "wss"
	}
	return scheme + "://" + u.Host, nil
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

// Server is the simulator the adapter talks to; nil when it connected to one at
// ExchangeConfig.URL (that simulator belongs to whoever started it).
func (e *Embedded) Server() *Server { return e.srv }

// Unwrap is the dialect's adapter, for what the runtime looks for beyond the Exchange
// interface (its server-time read for clock checks and breaker probes).
func (e *Embedded) Unwrap() adapters.Exchange { return e.Exchange }

// LastingClientIDs is the dialect's adapter's (adapters.LastingClientIDs): Embedded forwards
// every create to it, so it keeps client order ids exactly as the dialect does.
func (e *Embedded) LastingClientIDs() bool {
	l, ok := e.Exchange.(adapters.LastingClientIDs)
	return ok && l.LastingClientIDs()
}

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
	var srv *Server
	end := adapters.SimEndpoint{RESTURL: strings.TrimSuffix(c.URL, "/"), APIKey: DefaultAPIKey, APISecret: DefaultAPISecret, TimeScale: c.TimeScale}
	closeSrv := func() {}
	if c.URL == "" {
		srv, err = New(Config{Dialect: c.Dialect, Seed: c.Seed, TimeScale: c.TimeScale,
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
		closeSrv = func() { srv.Close() }
		end.RESTURL = srv.URL()
	}
	if end.WSURL, err = wsRoot(end.RESTURL); err != nil {
		closeSrv()
		return nil, fmt.Errorf("sim: url: %w", err)
	}
	inner.(adapters.SimTarget).ForSimulator(end)
	if err := inner.Validate(); err != nil {
		closeSrv()
		return nil, fmt.Errorf("sim: the %s adapter's config for the simulator: %w", c.Dialect, err)
	}
	ex, err := def.New(inner, env)
	if err != nil {
		closeSrv()
		return nil, errors.Join(fmt.Errorf("sim: building the %s adapter", c.Dialect), err)
	}
	if env.Logf != nil && srv != nil {
		env.Logf("embedded simulated exchange started at %s (dialect %s)", srv.URL(), c.Dialect)
	} else if env.Logf != nil {
		env.Logf("connected to the simulated exchange at %s (dialect %s)", end.RESTURL, c.Dialect)
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
