package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/strategy"
)

// Config is the strategy's section, strategies.marketmaker in the YAML config.
type Config struct {
	// Symbol to quote.
	Symbol string `koanf:"symbol"`
	// Quantity of each quote, in the base asset.
	Quantity decimal.Decimal `koanf:"quantity"`
	// SpreadBps is the distance between our bid and ask, in basis points of the mid.
	SpreadBps int64 `koanf:"spread_bps"`
	// RequoteBps: a quote is replaced only when the mid has moved this far from where it was
	// placed. Requoting on every tick would spend the order budget for nothing.
	RequoteBps int64 `koanf:"requote_bps"`
	// MinRequote is the least time between two requotes of one side.
	MinRequote time.Duration `koanf:"min_requote"`
}

// Validate is called by strategy.Module before New; the error names the key.
func (c *Config) Validate() error {
	switch {
	case c.Symbol == "":
		return errors.New("symbol: required")
	case !c.Quantity.IsPositive():
		return fmt.Errorf("quantity: must be > 0, got %s", c.Quantity)
	case c.SpreadBps <= 0:
		return fmt.Errorf("spread_bps: must be > 0, got %d", c.SpreadBps)
	case c.RequoteBps <= 0:
		return fmt.Errorf("requote_bps: must be > 0, got %d", c.RequoteBps)
	}
	return nil
}

// quote is one resting order of ours and the mid it was priced from.
type quote struct {
	clientID string
	mid      decimal.Decimal
	placed   time.Time
}

// MarketMaker keeps one bid and one ask around the mid. It is called from one goroutine
// (the runtime's promise), so it needs no locks.
type MarketMaker struct {
	env    strategy.Env
	cfg    Config
	quotes map[adapters.Side]*quote
	stale  bool
	halted bool // the last placement met a tripped kill switch
}

// New is the constructor strategy.Module wires in.
func New(env strategy.Env, cfg Config) (strategy.Strategy, error) {
	env.Market.Subscribe(cfg.Symbol)
	return &MarketMaker{env: env, cfg: cfg, quotes: map[adapters.Side]*quote{}}, nil
}

var tenThousand = decimal.NewFromInt(10000)

// OnEvent reacts to the runtime's events.
func (m *MarketMaker) OnEvent(ctx context.Context, ev strategy.Event) error {
	switch e := ev.(type) {
	case strategy.Quote:
		if m.stale || e.Symbol != m.cfg.Symbol {
			return nil
		}
		// The runtime delivers only sane quotes (0 < bid < ask, sizes > 0) and says
		// DataStatus{Stale: true} otherwise, but a strategy that divides by the mid checks it
		// anyway: an empty side or a crossed book priced this way sells at half the market.
		if !e.Mid().IsPositive() {
			return nil
		}
		return m.requote(ctx, e)
	case strategy.DataStatus:
		// Quoting on stale prices is how market makers get picked off: pull both sides and
		// wait for fresh data.
		m.stale = e.Stale
		if e.Stale {
			m.env.Log.Warn().Str("reason", e.Reason).Msg("market data stale; pulling quotes")
			return m.cancelAll(ctx)
		}
	case strategy.OrderUpdate:
		// A quote that filled, was cancelled or was rejected is no longer resting.
		for side, q := range m.quotes {
			if q.clientID == e.Order.ClientOrderID && e.Order.Status.Final() {
				delete(m.quotes, side)
				if e.Order.Status == adapters.StatusFilled {
					m.env.Log.Info().Str("side", string(side)).Str("price", e.Order.Price.String()).Msg("quote filled")
				}
			}
		}
	}
	return nil
}

// requote places a missing side, and replaces a side whose mid moved more than RequoteBps.
func (m *MarketMaker) requote(ctx context.Context, q strategy.Quote) error {
	mid := q.Mid() // positive: OnEvent checked
	half := mid.Mul(decimal.NewFromInt(m.cfg.SpreadBps)).Div(tenThousand).Div(decimal.NewFromInt(2))
	prices := map[adapters.Side]decimal.Decimal{adapters.Buy: mid.Sub(half), adapters.Sell: mid.Add(half)}
	var errs []error
	for _, side := range []adapters.Side{adapters.Buy, adapters.Sell} {
		cur := m.quotes[side]
		if cur != nil {
			moved := cur.mid.Sub(mid).Abs().Mul(tenThousand).Div(mid)
			if moved.LessThan(decimal.NewFromInt(m.cfg.RequoteBps)) || q.Time.Sub(cur.placed) < m.cfg.MinRequote {
				continue
			}
			err := m.env.Orders.Cancel(ctx, m.cfg.Symbol, cur.clientID)
			if errors.Is(err, strategy.ErrNotOpen) {
				// It filled before the cancel arrived: its fill update clears the side, and
				// the next quote places a fresh one.
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("cancel %s: %w", side, err))
				continue
			}
			delete(m.quotes, side)
		}
		o, err := m.env.Orders.Place(ctx, strategy.Intent{
			Symbol: m.cfg.Symbol, Side: side, Type: adapters.Limit, TimeInForce: adapters.GTC,
			Quantity: m.cfg.Quantity, Price: prices[side],
		})
		if errors.Is(err, strategy.ErrHalted) {
			// An operator or the runtime halted trading: not this strategy's error. Say so
			// once, and keep trying on later quotes so quoting resumes with the switch.
			if !m.halted {
				m.env.Log.Warn().Err(err).Msg("kill switch tripped; not quoting until it is resumed")
			}
			m.halted = true
			return errors.Join(errs...)
		}
		if errors.Is(err, strategy.ErrUnknownOutcome) {
			// It may be resting. Keep it as this side's quote, so that the next requote
			// cancels it by its id instead of stacking a second quote beside it; its order
			// update (live, filled, or rejected as never placed) settles it.
			m.env.Log.Warn().Err(err).Str("side", string(side)).Msg("placement outcome unknown; counting the quote as live")
			m.quotes[side] = &quote{clientID: o.ClientOrderID, mid: mid, placed: q.Time}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("place %s: %w", side, err))
			continue
		}
		if m.halted {
			m.env.Log.Info().Msg("trading resumed; quoting again")
			m.halted = false
		}
		m.quotes[side] = &quote{clientID: o.ClientOrderID, mid: mid, placed: q.Time}
	}
	return errors.Join(errs...)
}

func (m *MarketMaker) cancelAll(ctx context.Context) error {
	var errs []error
	for side, q := range m.quotes {
		if err := m.env.Orders.Cancel(ctx, m.cfg.Symbol, q.clientID); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(m.quotes, side)
	}
	return errors.Join(errs...)
}

// Stop pulls our quotes on shutdown (the runtime also cancels every open order when
// shutdown.cancel_open_orders is set).
func (m *MarketMaker) Stop(ctx context.Context) error { return m.cancelAll(ctx) }
