// Package crossover is a moving-average crossover strategy on candles: it buys when the fast
// simple moving average of closes crosses above the slow one, and sells what it bought when
// the fast one crosses back below. One position at a time, market orders.
//
// It shows the candle API: Market.Candles in Start reads the history (one REST call) and
// subscribes the strategy to a Candle event at each close; on each close it asks again,
// which costs nothing (the runtime keeps the series current from the kline stream).
// Indicators are the strategy's own business: two averages need no library.
package crossover

import (
	"context"
	"errors"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/strategy"
)

// Config is strategies.macross in the YAML config.
type Config struct {
	Symbol   string            `koanf:"symbol"`
	Interval adapters.Interval `koanf:"interval"` // candle interval, default 1m
	Fast     int               `koanf:"fast"`     // candles in the fast average, default 5
	Slow     int               `koanf:"slow"`     // candles in the slow average, default 20
	Quantity decimal.Decimal   `koanf:"quantity"` // base asset bought on a cross up, sold on a cross down
}

// Validate fills the defaults and refuses what cannot work.
func (c *Config) Validate() error {
	if c.Symbol == "" {
		return errors.New("symbol: required")
	}
	if c.Interval == "" {
		c.Interval = "1m"
	}
	if _, err := adapters.ParseInterval(string(c.Interval)); err != nil {
		return fmt.Errorf("interval: %w", err)
	}
	if c.Fast == 0 {
		c.Fast = 5
	}
	if c.Slow == 0 {
		c.Slow = 20
	}
	if c.Fast < 1 || c.Slow <= c.Fast || c.Slow >= 1000 {
		return fmt.Errorf("fast, slow: want 1 <= fast < slow < 1000, got %d and %d", c.Fast, c.Slow)
	}
	if !c.Quantity.IsPositive() {
		return fmt.Errorf("quantity: must be > 0, got %s", c.Quantity)
	}
	return nil
}

// Crossover is the strategy.
type Crossover struct {
	env strategy.Env
	cfg Config
	// long: the last filled order was a buy. busy: an order is on its way.
	long, busy bool
	base       string // the symbol's base asset
}

// New builds the strategy.
func New(env strategy.Env, cfg Config) (strategy.Strategy, error) {
	return &Crossover{env: env, cfg: cfg}, nil
}

// Start reads the history and subscribes to the closes.
func (c *Crossover) Start(ctx context.Context) error {
	info, err := c.env.Market.Symbol(ctx, c.cfg.Symbol)
	if err != nil {
		return err
	}
	c.base = info.BaseAsset
	_, err = c.env.Market.Candles(ctx, c.cfg.Symbol, c.cfg.Interval, c.cfg.Slow+1)
	return err
}

// OnEvent trades on closes and follows its orders.
func (c *Crossover) OnEvent(ctx context.Context, ev strategy.Event) error {
	switch e := ev.(type) {
	case strategy.OrderUpdate:
		if e.Order.Status.Final() {
			c.busy = false
			if e.Order.Status == adapters.StatusFilled {
				c.long = e.Order.Side == adapters.Buy
			}
		}
	case strategy.Candle:
		if e.Symbol != c.cfg.Symbol || e.Interval != c.cfg.Interval || c.busy {
			return nil
		}
		cs, err := c.env.Market.Candles(ctx, c.cfg.Symbol, c.cfg.Interval, c.cfg.Slow+1)
		if err != nil || len(cs) < c.cfg.Slow+1 {
			return err // not enough history yet
		}
		switch Signal(cs, c.cfg.Fast, c.cfg.Slow) {
		case adapters.Buy:
			if !c.long {
				return c.send(ctx, adapters.Buy)
			}
		case adapters.Sell:
			if c.long {
				return c.send(ctx, adapters.Sell)
			}
		}
	}
	return nil
}

func (c *Crossover) send(ctx context.Context, side adapters.Side) error {
	qty := c.cfg.Quantity
	if side == adapters.Sell {
		// The buy's commission was taken in the base asset: sell what is there, at most qty.
		qty = decimal.Min(qty, c.env.Portfolio.Balance(c.base).Free)
	}
	o, err := c.env.Orders.Place(ctx, strategy.Intent{Symbol: c.cfg.Symbol, Side: side, Type: adapters.Market, Quantity: qty})
	if err != nil && !errors.Is(err, strategy.ErrUnknownOutcome) {
		return err
	}
	c.busy = true
	if err == nil && o.Status.Final() {
		// Market orders usually fill in the answer; its update may come later or not at all.
		c.busy = false
		if o.Status == adapters.StatusFilled {
			c.long = side == adapters.Buy
		}
	}
	return nil
}

// Signal says whether the last candle of cs made the fast average of closes cross the slow
// one: Buy for a cross above, Sell for a cross below, "" for neither. cs needs slow+1 candles.
func Signal(cs []strategy.Candle, fast, slow int) adapters.Side {
	n := len(cs)
	if n < slow+1 {
		return ""
	}
	fastNow, slowNow := sma(cs[n-fast:]), sma(cs[n-slow:])
	fastPrev, slowPrev := sma(cs[n-1-fast:n-1]), sma(cs[n-1-slow:n-1])
	switch {
	case fastPrev.LessThanOrEqual(slowPrev) && fastNow.GreaterThan(slowNow):
		return adapters.Buy
	case fastPrev.GreaterThanOrEqual(slowPrev) && fastNow.LessThan(slowNow):
		return adapters.Sell
	}
	return ""
}

// sma is the mean close of cs.
func sma(cs []strategy.Candle) decimal.Decimal {
	sum := decimal.Zero
	for _, c := range cs {
		sum = sum.Add(c.Close)
	}
	return sum.Div(decimal.NewFromInt(int64(len(cs))))
}
