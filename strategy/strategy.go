package strategy

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/shopspring/decimal"
	"go.uber.org/fx"
)

// Strategy is what you write. The runtime calls OnEvent from one goroutine per strategy, one
// event at a time, so a strategy needs no locks of its own; a slow strategy delays only itself.
// An error returned from OnEvent is logged and the strategy goes on; a panic stops this
// strategy only.
type Strategy interface {
	OnEvent(ctx context.Context, ev Event) error
}

// Starter is implemented by strategies that need to act once before the first event (after
// reconciliation, so the portfolio and open orders are already true).
type Starter interface {
	Start(ctx context.Context) error
}

// Stopper is implemented by strategies that need to act on shutdown (before open orders are
// cancelled, if shutdown.cancel_open_orders is set).
type Stopper interface {
	Stop(ctx context.Context) error
}

// Event is one of Tick, Quote, Trade, Candle, OrderUpdate or DataStatus.
type Event interface{ isEvent() }

// Tick is the strategy's timer, every market.tick (default 1s).
type Tick struct {
	Time time.Time
}

// Quote is the best bid and ask of a symbol the strategy watches.
type Quote struct {
	Symbol   string
	BidPrice decimal.Decimal
	BidQty   decimal.Decimal
	AskPrice decimal.Decimal
	AskQty   decimal.Decimal
	Time     time.Time
}

// Mid is (bid+ask)/2, and zero for a quote that is not Valid: a strategy that checks
// Mid().IsPositive() before dividing by it can never divide by zero or price off a crossed
// book.
func (q Quote) Mid() decimal.Decimal {
	if !q.Valid() {
		return decimal.Decimal{}
	}
	return q.BidPrice.Add(q.AskPrice).Div(decimal.NewFromInt(2))
}

// Valid reports whether q can be traded on: 0 < bid < ask, both sizes positive. The runtime
// delivers no other quote (it marks the symbol stale instead); Valid is for strategies that
// build or keep quotes themselves.
func (q Quote) Valid() bool { return q.Problem() == "" }

// Problem says why q cannot be traded on (an empty side, a crossed or locked book, a
// non-positive size), or "" when it can.
func (q Quote) Problem() string {
	switch {
	case !q.BidPrice.IsPositive():
		return "no bid (bid price " + q.BidPrice.String() + ")"
	case !q.AskPrice.IsPositive():
		return "no ask (ask price " + q.AskPrice.String() + ")"
	case !q.BidQty.IsPositive():
		return "no bid size (bid quantity " + q.BidQty.String() + ")"
	case !q.AskQty.IsPositive():
		return "no ask size (ask quantity " + q.AskQty.String() + ")"
	case !q.BidPrice.LessThan(q.AskPrice):
		return "crossed book (bid " + q.BidPrice.String() + " >= ask " + q.AskPrice.String() + ")"
	}
	return ""
}

// Trade is one public trade of a symbol the strategy watches (market.streams on: trades come
// from the exchange's trade stream; REST polling has none). A strategy that falls far behind
// loses the oldest pending trades, never order updates: trades are a sample of the market,
// order updates are facts about what the strategy owns.
type Trade adapters.Trade

// Candle is a candle of a series the strategy asked for with Market.Candles, delivered once
// when it closes (Closed is always true), in order. It comes from the exchange's kline
// stream, or over REST when the stream missed it.
type Candle adapters.Candle

// DataStatus says whether a symbol's market data is fresh. While Stale is true, quotes may be
// old: a strategy that quotes prices should stop until data is fresh again.
type DataStatus struct {
	Symbol string
	Stale  bool
	Reason string
}

func (Tick) isEvent()        {}
func (Quote) isEvent()       {}
func (Trade) isEvent()       {}
func (Candle) isEvent()      {}
func (OrderUpdate) isEvent() {}
func (DataStatus) isEvent()  {}

// Definition is what Module contributes to the runtime: a named constructor. The runtime
// builds each strategy's Env after reconciliation and calls New.
type Definition struct {
	Name string
	New  func(env Env) (Strategy, error)
	// CheckConfig decodes and validates the strategy's section without building it, so a bad
	// section fails start-up before anything connects.
	CheckConfig func(section ConfigSection) error
}

// ConfigError is a strategy's Validate refusing its section. Err is Validate's error, which
// starts with the key inside the section ("spread_bps: must be > 0"); the runtime reports it
// as a config error on strategies.<name>.<key>, one line like its own.
type ConfigError struct {
	Strategy string
	Err      error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("strategy %s: config: strategies.%s.%v", e.Strategy, e.Strategy, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// GroupTag is the fx value group the runtime collects strategies from.
const GroupTag = `group:"strategies"`

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Module turns a constructor into an fx module named name. The constructor receives the
// strategy's environment and its own config section (strategies.<name> in the YAML file)
// decoded into C; unknown keys or wrong types in that section fail start-up with the key's name.
//
//	fx.New(runtime.Module, strategy.Module("marketmaker", marketmaker.New))
func Module[C any](name string, newStrategy func(env Env, cfg C) (Strategy, error)) fx.Option {
	if !namePattern.MatchString(name) {
		return fx.Error(fmt.Errorf("strategy: name %q: want lower-case letters, digits, - or _, up to 32 characters", name))
	}
	decode := func(section ConfigSection) (C, error) {
		var cfg C
		if section != nil {
			if err := section.Decode(&cfg); err != nil {
				return cfg, err
			}
		}
		if v, ok := any(&cfg).(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return cfg, &ConfigError{Strategy: name, Err: err}
			}
		}
		return cfg, nil
	}
	def := Definition{
		Name: name,
		New: func(env Env) (Strategy, error) {
			cfg, err := decode(env.Config)
			if err != nil {
				return nil, err
			}
			return newStrategy(env, cfg)
		},
		CheckConfig: func(section ConfigSection) error {
			_, err := decode(section)
			return err
		},
	}
	return fx.Module("strategy."+name,
		fx.Supply(fx.Annotate(def, fx.ResultTags(GroupTag))),
	)
}

// OrderUpdate is a change of one of the strategy's orders: a placement acknowledged, a
// fill, a cancel, a rejection, or an outcome that is still unknown.
type OrderUpdate struct {
	Order adapters.Order
	// Previous is the status before this update (empty for the first).
	Previous adapters.OrderStatus
	// Filled is the quantity filled by this update alone.
	Filled decimal.Decimal
	// Err is set when the update reports a failure (a rejection's reason).
	Err error
}
