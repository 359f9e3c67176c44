package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// OrderService is what the main loop needs from the orders manager. *orders.Manager, adapted
// by the runtime, implements it; tests may substitute their own.
type OrderService interface {
	// Reconcile resolves the journal against the exchange; strategies start only after it.
	Reconcile(ctx context.Context) error
	// Place sends a strategy's intent.
	Place(ctx context.Context, strategyName string, in strategy.Intent) (adapters.Order, error)
	// Cancel cancels one order at critical priority.
	Cancel(ctx context.Context, symbol, clientOrderID string) error
	// CancelAll cancels every open order of this bot at critical priority.
	CancelAll(ctx context.Context) error
	// Open lists a strategy's live orders.
	Open(strategyName string) []adapters.Order
	// Subscribe delivers every order update with the name of the strategy that owns it.
	Subscribe(func(strategyName string, u strategy.OrderUpdate)) (unsubscribe func())
	// Refresh polls the exchange for changes of orders in flight (the fallback when no
	// user-data stream runs).
	Refresh(ctx context.Context) error
	// Compact drops resolved journal entries past their retention and returns how many.
	Compact(ctx context.Context) (int, error)
}

// Loop is the framework's main loop: it reconciles, then runs every strategy on its own
// goroutine and feeds them market data, order updates and timer ticks.
type Loop struct {
	cfg     *Config
	log     zerolog.Logger
	clk     clock.Clock
	rng     *jitter.Rand
	metrics *Metrics
	ex      adapters.Exchange
	// streamsOffered: the adapter's Definition says its streams work (else REST polling only).
	streamsOffered bool
	orders         OrderService
	sw             *killswitch.Switch
	fleet          *fleet.Fleet // nil outside fleet mode
	defs           []strategy.Definition
	shutdown       fx.Shutdowner
	feed           *marketFeed
	candles        *candleFeed // candles.go
	wsOnce         sync.Once
	wsLim          stream.AttemptLimiter // wsLimiter
	info           *infoCache
	portfolio      *portfolio
	streams        *streamState      // streams.go
	journal        idempotency.Store // nil in tests that run without one
	fills          *fills            // the ledger (ledger.go); nil in tests that run without one
	sched          *scheduler.Scheduler
	console        bool     // logs go to a human: print the summary line
	reducer        *reducer // reduce-only placements (actions.go)

	mu      sync.Mutex
	runners map[string]*runner
	ready   bool // reconciliation done, strategies started
	// early holds order updates from reconciliation (fills and cancels while the bot was
	// down, adopted orders) until each strategy's runner exists to take them.
	early    map[string][]strategy.Event
	startErr error
	runCtx   context.Context // the loop's context, for work started by a strategy's failure
	pulls    map[string]*pullState
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

type loopParams struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Shutdowner fx.Shutdowner
	Config     *Config
	Logging    Logging
	Metrics    *Metrics
	Exchange   adapters.Exchange
	Orders     OrderService
	Switch     *killswitch.Switch
	Info       *infoCache
	Portfolio  *portfolio
	Strategies []strategy.Definition `group:"strategies"`
	Clock      clock.Clock           `optional:"true"`
	Fleet      *fleet.Fleet          `optional:"true"`
	Journal    idempotency.Store     `optional:"true"`
	Ledger     *fills                `optional:"true"`
	Scheduler  *scheduler.Scheduler  `optional:"true"`
	Incidents  *incidentWatch        `optional:"true"` // paging (alerts.go) runs with the loop
}

// wireMarket builds the market feed and the stream state that decides, per symbol, whether
// the REST poller runs and whether its answers count as fresh.
func (l *Loop) wireMarket(pollInterval time.Duration) {
	l.feed = newMarketFeed(l.ex, l.clk, l.rng, l.log, pollInterval, l.deliver)
	staleAfter := l.cfg.Market.StaleAfter
	if staleAfter == 0 {
		staleAfter = defaultStaleAfter
	}
	l.feed.staleAfter = time.Duration(staleAfter * float64(pollInterval))
	l.streams = newStreamState()
	l.feed.streamed = l.streams.marketHealthy
	l.feed.streamOwned = l.streams.marketOwned
}

func provideLoop(p loopParams) (*Loop, error) {
	clk := p.Clock
	if clk == nil {
		clk = realClock
	}
	l := &Loop{
		cfg: p.Config, log: p.Logging.Logger, clk: clk, metrics: p.Metrics, ex: p.Exchange,
		orders: p.Orders, sw: p.Switch, fleet: p.Fleet, defs: sortDefinitions(p.Strategies), shutdown: p.Shutdowner,
		rng:     jitter.NewRandom(),
		runners: map[string]*runner{},
		pulls:   map[string]*pullState{},
		journal: p.Journal,
		fills:   p.Ledger,
		sched:   p.Scheduler,
		console: p.Logging.Console,
	}
	l.info = p.Info
	if def, err := adapters.Lookup(p.Config.Exchange.Name); err == nil {
		l.streamsOffered = def.Streams
	}
	l.wireMarket(p.Config.Market.PollInterval)
	l.candles = newCandleFeed(l.ex, l.clk, l.rng, l.log, l.cfg.Market.Streams && l.streamsOffered, l.deliver)
	l.portfolio = p.Portfolio
	p.Metrics.Registry.MustRegister(streamCollector{l})
	l.reducer = &reducer{fills: p.Ledger, orders: p.Orders}
	p.Lifecycle.Append(fx.Hook{OnStart: l.start, OnStop: l.stop})
	return l, nil
}

// start launches the loop's goroutine and returns at once (fx hooks never block): the
// goroutine reconciles, then starts the strategies. If reconciliation fails, the app shuts
// down with exit code 1 instead of trading on a journal it could not resolve.
func (l *Loop) start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.runCtx = ctx
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		if err := l.boot(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.mu.Lock()
			l.startErr = err
			l.mu.Unlock()
			l.log.Error().Err(err).Msg("start-up failed; shutting down")
			_ = l.shutdown.Shutdown(fx.ExitCode(1))
		}
	}()
	return nil
}

func (l *Loop) boot(ctx context.Context) error {
	if _, err := l.info.Get(ctx); err != nil {
		return fmt.Errorf("runtime: exchange info: %w", err)
	}
	// Subscribed before reconciling, so what happened while the bot was down reaches the
	// strategies as order updates, ahead of anything live.
	unsubscribe := l.orders.Subscribe(func(name string, u strategy.OrderUpdate) { l.deliver(name, u) })
	defer unsubscribe()
	if err := l.reconcile(ctx); err != nil {
		return fmt.Errorf("runtime: reconciliation: %w", err)
	}
	if l.fills != nil {
		// After reconciliation: the journal answers by then, in fleet mode too.
		if err := l.fills.load(ctx); err != nil {
			return err
		}
	}
	if err := l.portfolio.refresh(ctx); err != nil {
		return fmt.Errorf("runtime: first balance refresh: %w", err)
	}
	if l.fills != nil {
		l.fills.setMarks(l.feed.mid)
		// Fills while the bot was down, or the whole ledger when it is missing; a failure
		// here is retried with the next fill, never a reason not to start.
		l.fills.catchUp(ctx)
	}
	l.log.Info().Int("strategies", len(l.defs)).Msg("reconciled; starting strategies")

	l.mu.Lock()
	for _, d := range l.defs {
		env := l.envFor(d.Name)
		s, err := d.New(env)
		if err != nil {
			l.mu.Unlock()
			return fmt.Errorf("runtime: strategy %s: %w", d.Name, err)
		}
		l.metrics.StrategyPanics.WithLabelValues(d.Name) // the series exists at zero
		r := &runner{name: d.Name, strat: s, box: newMailbox(), log: env.Log, now: l.clk.Now,
			onPanic: func(n string) { l.metrics.StrategyPanics.WithLabelValues(n).Inc() },
			onFail:  l.strategyFailed}
		for _, ev := range l.early[d.Name] {
			r.box.Put(ev)
		}
		delete(l.early, d.Name)
		l.runners[d.Name] = r
		r.start(ctx)
	}
	for name, evs := range l.early {
		if name == "" {
			continue // adopted without a journal entry: no strategy owns it (orders logged it)
		}
		l.log.Warn().Str("strategy", name).Int("updates", len(evs)).
			Msg("order updates for a strategy that is not configured; its orders stay open on the exchange")
	}
	l.early = nil
	l.ready = true
	l.mu.Unlock()

	if l.cfg.KillSwitch.CancelOnTrip {
		unsubscribeTrip := l.sw.OnChange(func(ev killswitch.Event) {
			if ev.Status.Halted {
				l.background(ctx, l.cancelOnTrip)
			}
		})
		defer unsubscribeTrip()
		if halted, _ := l.sw.Halted(); halted {
			l.background(ctx, l.cancelOnTrip)
		}
	}
	l.background(ctx, l.runStreams)
	l.background(ctx, l.feed.run)
	if l.cfg.Market.Streams && l.streamsOffered {
		l.candles.limiter = l.wsLimiter()
	}
	l.background(ctx, l.candles.run)
	l.background(ctx, l.portfolio.run)
	l.background(ctx, l.ticker)
	l.background(ctx, l.refreshOrders)
	l.background(ctx, l.compactJournal)
	if l.fills != nil {
		l.background(ctx, l.fills.run)
	}
	if l.console && l.sched != nil {
		l.background(ctx, func(ctx context.Context) { l.summaryLoop(ctx, l.sched.Snapshot) })
	}
	l.background(ctx, l.checkClock)
	<-ctx.Done()
	return nil
}

// reconcile resolves the journal before any strategy runs. In fleet mode the journal lives in
// Redis: while Redis cannot be reached (an instance started during an outage) reconciliation
// waits for it instead of failing start-up; the instance is failed safe meanwhile (orders
// held, reads on its local share, /status says why), and the fleet logged the outage.
func (l *Loop) reconcile(ctx context.Context) error {
	waiting := false
	for {
		err := l.orders.Reconcile(ctx)
		if err == nil || l.fleet == nil || ctx.Err() != nil {
			return err
		}
		if down, _ := l.fleet.Down(); !down {
			return err
		}
		if !waiting {
			waiting = true
			l.log.Warn().Err(err).Msg("fleet: the journal is in Redis, which cannot be reached: reconciliation waits for it; strategies start once it is done")
		}
		if !clock.Sleep(ctx, l.clk, jitter.Spread(l.rng, time.Second, 0.2)) {
			return ctx.Err()
		}
	}
}

func (l *Loop) background(ctx context.Context, f func(context.Context)) {
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		f(ctx)
	}()
}

// cancelOnTrip flattens: every open order of this bot is cancelled at critical priority,
// which a tripped kill switch lets through.
func (l *Loop) cancelOnTrip(ctx context.Context) {
	if err := l.orders.CancelAll(ctx); err != nil {
		l.log.Error().Err(err).Msg("kill switch tripped: cancelling open orders failed")
		return
	}
	l.log.Warn().Msg("kill switch tripped: all open orders cancelled (killswitch.cancel_on_trip)")
}

// ticker sends every strategy a Tick each market.tick.
func (l *Loop) ticker(ctx context.Context) {
	for clock.Sleep(ctx, l.clk, l.cfg.Market.Tick) {
		now := l.clk.Now()
		l.mu.Lock()
		for _, r := range l.runners {
			r.box.Put(strategy.Tick{Time: now})
		}
		l.mu.Unlock()
	}
}

// refreshOrders polls orders in flight at account priority on a jittered interval.
func (l *Loop) refreshOrders(ctx context.Context) {
	interval := l.cfg.Portfolio.RefreshInterval / 2
	if !clock.Sleep(ctx, l.clk, l.rng.Duration(interval)) {
		return
	}
	for n := 0; ; n++ {
		// The user data stream reports order changes; polling is its fallback, plus a slow
		// sweep (every tenth round) for what no event will tell: placements that never landed.
		if !l.streams.userStreamUp() || n%10 == 0 {
			if err := l.orders.Refresh(ctx); err != nil && ctx.Err() == nil {
				l.log.Debug().Err(err).Msg("order refresh failed")
			}
		}
		if !clock.Sleep(ctx, l.clk, jitter.Spread(l.rng, interval, 0.2)) {
			return
		}
	}
}

// checkClock measures the exchange's clock every market.clock_check (jittered), so a host
// clock that drifts or steps is logged (clock_offset, on a move over 100 ms) within that time,
// not only when a signature fails or the half-hourly resync comes. One server-time read at
// background priority each time (weight 1 on Binance).
func (l *Loop) checkClock(ctx context.Context) {
	syncer := timeSyncer(l.ex)
	if syncer == nil {
		return
	}
	for clock.Sleep(ctx, l.clk, jitter.Spread(l.rng, l.cfg.Market.ClockCheck, 0.2)) {
		if err := syncer.SyncTime(ctx); err != nil && ctx.Err() == nil {
			l.log.Debug().Err(err).Msg("clock check failed; trying again at the next")
		}
	}
}

// compactJournal drops resolved journal entries past orders.retention while the bot runs
// (reconciliation does it at start-up), so a bot that runs for months keeps a small journal
// and a fast start. It runs every retention/2, at least every hour and at most every second,
// jittered so that a fleet's instances do not compact together.
func (l *Loop) compactJournal(ctx context.Context) {
	// setDefaults fills orders.retention; max keeps a tiny one from spinning.
	every := max(min(time.Hour, l.cfg.Orders.Retention/2), time.Second)
	for clock.Sleep(ctx, l.clk, jitter.Spread(l.rng, every, 0.2)) {
		n, err := l.orders.Compact(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			l.log.Warn().Err(err).Msg("journal compaction failed; retrying at the next interval")
		case n > 0:
			l.log.Debug().Int("entries", n).Msg("journal compacted")
		}
	}
}

// deliver puts ev in a strategy's mailbox; it never blocks. Before the strategies start
// (during reconciliation, whose order updates must not be lost) events wait in l.early.
func (l *Loop) deliver(name string, ev strategy.Event) {
	l.mu.Lock()
	if !l.ready {
		if l.early == nil {
			l.early = map[string][]strategy.Event{}
		}
		l.early[name] = append(l.early[name], ev)
		l.mu.Unlock()
		return
	}
	r := l.runners[name]
	l.mu.Unlock()
	if r != nil {
		r.box.Put(ev)
	}
}

func (l *Loop) envFor(name string) strategy.Env {
	return strategy.Env{
		Name:      name,
		Log:       l.log.With().Str("strategy", name).Logger(),
		Config:    strategySection{cfg: l.cfg, name: name},
		Orders:    strategyOrders{svc: l.orders, name: name, sw: l.sw, dead: l.strategyDead, reducer: l.reducer},
		Market:    marketView{name: name, feed: l.feed, info: l.info, candles: l.candles},
		Portfolio: strategyPortfolio{portfolio: l.portfolio, fills: l.fills, name: name},
	}
}

// stop ends strategies, then (if configured) cancels open orders, then flushes the journal.
func (l *Loop) stop(ctx context.Context) error {
	if l.cancel == nil {
		return nil
	}
	l.mu.Lock()
	runners := make([]*runner, 0, len(l.runners))
	for _, d := range l.defs {
		if r := l.runners[d.Name]; r != nil {
			runners = append(runners, r)
		}
	}
	ready := l.ready
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Shutdown.Timeout)
	defer cancel()
	for _, r := range runners {
		r.stop(ctx)
	}
	l.cancel()
	l.done.Wait()
	var errs []error
	if !ready {
		// Stopped before reconciliation finished (a signal during start-up, or start-up
		// failed): nothing was cancelled, so exit 0 only if the journal proves no order live.
		if err := l.provenFlat(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if ready && l.cfg.Shutdown.CancelOpenOrders {
		if err := l.orders.CancelAll(ctx); err != nil {
			// Not every order could be cancelled, or the open orders could not be listed (after
			// an auth trip the listing is refused): whether any may be live is the journal's
			// to say, so a halted bot with nothing open still exits 0.
			if err := l.flatAfterFailedCancel(ctx, err); err != nil {
				errs = append(errs, err)
			}
		} else {
			l.log.Info().Msg("open orders cancelled on shutdown")
		}
	}
	// The journal needs no flush here: every write was fsynced when it returned, and the
	// journal's own stop hook (which runs after this one) closes the file.
	return errors.Join(errs...)
}

// Ready reports whether reconciliation is done and strategies run.
func (l *Loop) Ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready
}

// strategyOrders is one strategy's strategy.Orders.
type strategyOrders struct {
	svc  OrderService
	name string
	sw   *killswitch.Switch
	dead func(name string) bool
	// reducer lets out, in reduce-only mode, the orders that reduce the strategy's position.
	reducer *reducer
}

// Place refuses at once while the kill switch is tripped: a halted bot whose strategy keeps
// trying should not journal an intent per try. The scheduler's gate stays the guarantee; this
// is the cheap early answer.
func (o strategyOrders) Place(ctx context.Context, in strategy.Intent) (adapters.Order, error) {
	if o.dead != nil && o.dead(o.name) {
		// Its orders are being pulled; a goroutine it left behind must not place more.
		return adapters.Order{}, fmt.Errorf("%w: %s", ErrStrategyDead, o.name)
	}
	if o.sw != nil {
		if err := o.sw.Check(); err != nil {
			if o.sw.ReduceOnly() && o.reducer != nil {
				return o.reducer.place(ctx, o.name, in, err)
			}
			return adapters.Order{}, err
		}
	}
	return o.svc.Place(ctx, o.name, in)
}

func (o strategyOrders) Cancel(ctx context.Context, symbol, clientOrderID string) error {
	return o.svc.Cancel(ctx, symbol, clientOrderID)
}

func (o strategyOrders) Open() []adapters.Order { return o.svc.Open(o.name) }

// strategySection decodes strategies.<name> strictly.
type strategySection struct {
	cfg  *Config
	name string
}

func (s strategySection) Decode(into any) error {
	if s.cfg.raw == nil {
		return nil
	}
	return decodeStrict(s.cfg.raw, "strategies."+s.name, into)
}
