package runtime

import (
	"context"
	"fmt"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/strategy"
)

type ordersParams struct {
	fx.In
	Config   *Config
	Logging  Logging
	Metrics  *Metrics
	Exchange adapters.Exchange
	Journal  idempotency.Store
	Info     *infoCache
	Clock    clock.Clock `optional:"true"`
}

// provideOrders builds the orders manager on the journal, with keys that carry the bot's
// prefix and instance id, and adapts it to the main loop's OrderService.
func provideOrders(p ordersParams) (*orders.Manager, OrderService, *portfolio, error) {
	keys, err := idempotency.NewKeyGenerator(p.Config.Bot.KeyPrefix, p.Config.Bot.InstanceID)
	if err != nil {
		return nil, nil, nil, &ConfigError{Key: "bot.key_prefix", Reason: err.Error()}
	}
	cfg := p.Config.Orders
	clk := p.Clock
	if clk == nil {
		clk = realClock
	}
	// The portfolio is the loop's; the manager reads it to refuse orders the account cannot
	// cover before sending them.
	pf := &portfolio{ex: p.Exchange, clk: clk, rng: jitter.NewRandom(), log: p.Logging.Logger, interval: p.Config.Portfolio.RefreshInterval}
	m, err := orders.New(orders.Params{
		Balance:  pf.balanceKnown,
		Exchange: p.Exchange,
		Store:    p.Journal,
		Keys:     keys,
		Info:     p.Info.Get,
		Log:      p.Logging.Logger.With().Str("component", "orders").Logger(),
		Clock:    clk,
		Metrics:  p.Metrics.ordersMetrics(),
		// bbolt's file lock: a restart's journal was left by a process that is gone.
		ExclusiveJournal: isFileJournal(p.Journal),
		Config:           cfg,
	})
	if err != nil {
		return nil, nil, nil, sectionError("orders", err)
	}
	return m, orderService{m: m, log: p.Logging}, pf, nil
}

func isFileJournal(s idempotency.Store) bool {
	_, ok := s.(*idempotency.FileStore)
	return ok
}

// orderService adapts *orders.Manager to OrderService.
type orderService struct {
	m   *orders.Manager
	log Logging
}

func (s orderService) Reconcile(ctx context.Context) error {
	r, err := s.m.Reconcile(ctx)
	if err != nil {
		return err
	}
	s.log.Logger.Info().Str("summary", fmt.Sprintf("%+v", r)).Msg("journal reconciled with the exchange")
	return nil
}

// Place sends in as the named strategy's: whatever the strategy put in Strategy is replaced,
// so no strategy places an order another one owns.
func (s orderService) Place(ctx context.Context, name string, in strategy.Intent) (adapters.Order, error) {
	in.Strategy = name
	return s.m.Place(ctx, in)
}

func (s orderService) Cancel(ctx context.Context, symbol, clientOrderID string) error {
	_, err := s.m.Cancel(ctx, symbol, clientOrderID)
	return err
}

func (s orderService) CancelAll(ctx context.Context) error { return s.m.CancelAll(ctx) }

func (s orderService) Open(name string) []adapters.Order { return s.m.Open(name) }

func (s orderService) Refresh(ctx context.Context) error { return s.m.Refresh(ctx) }

func (s orderService) Compact(ctx context.Context) (int, error) { return s.m.Compact(ctx) }

func (s orderService) Subscribe(fn func(string, strategy.OrderUpdate)) func() {
	return s.m.Subscribe(func(ev orders.Event) {
		fn(ev.Strategy, strategy.OrderUpdate{Order: ev.Order, Previous: ev.Previous, Filled: ev.Filled, Err: ev.Err})
	})
}

func provideInfoCache(c *Config, ex adapters.Exchange, p struct {
	fx.In
	Clock clock.Clock `optional:"true"`
}) *infoCache {
	clk := p.Clock
	if clk == nil {
		clk = realClock
	}
	return newInfoCache(ex, c.Market.InfoTTL, clk)
}
