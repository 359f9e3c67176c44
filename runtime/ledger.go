package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/ledger"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

// LedgerModule provides the fills ledger (package ledger): positions and PnL per strategy
// and symbol, fed by the orders manager's updates, reconciled with the exchange's trades,
// kept in the journal.
var LedgerModule = fx.Module("ledger", fx.Provide(provideLedger))

// ledgerCursorPrefix names the journal cursor that holds an instance's ledger snapshot: the
// journal is already the state that survives restarts (a bbolt file, or Redis in fleet mode).
const ledgerCursorPrefix = "ledger/"

// tradeFetchDelay is how long after a fill report its trades are fetched: long enough for the
// exchange to list them, short enough that fees show within a couple of seconds.
const tradeFetchDelay = time.Second

// fills is the runtime's side of the ledger: it books the orders manager's events, fetches
// the trades of fills reported without them (the user data stream reports executed
// quantities, not fees), persists the ledger in the journal, and serves it to strategies,
// /status, /metrics and the console summary.
type fills struct {
	l       *ledger.Ledger
	ex      adapters.Exchange
	journal idempotency.Store
	info    *infoCache
	clk     clock.Clock
	rng     *jitter.Rand
	log     zerolog.Logger
	cursor  string

	mu    sync.Mutex
	marks func(symbol string) (decimal.Decimal, bool) // set by the loop once its feed exists
	// lastSaved is the snapshot last written, so an unchanged ledger is not rewritten.
	lastSaved string

	loaded  bool
	waiting []orders.Event // events observed before load

	dirty chan struct{} // has a value when the ledger changed since the last save
	fetch chan struct{} // has a value when some fills wait for their trades
}

type ledgerParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *Config
	Logging   Logging
	Metrics   *Metrics
	Exchange  adapters.Exchange
	Manager   *orders.Manager
	Journal   idempotency.Store
	Info      *infoCache
	Clock     clock.Clock `optional:"true"`
}

// provideLedger subscribes the ledger to the orders manager before reconciliation runs, so
// fills that happened while the bot was down are booked too. Its state is read from the
// journal by load, once the journal answers (in fleet mode Redis may not at construction);
// events wait for it.
func provideLedger(p ledgerParams) (*fills, error) {
	clk := p.Clock
	if clk == nil {
		clk = realClock
	}
	f := &fills{ex: p.Exchange, journal: p.Journal, info: p.Info, clk: clk, rng: jitter.NewRandom(),
		log:    p.Logging.Logger.With().Str("component", "ledger").Logger(),
		cursor: ledgerCursorPrefix + p.Config.Bot.InstanceID,
		dirty:  make(chan struct{}, 1), fetch: make(chan struct{}, 1)}
	f.l = ledger.New(ledger.WithMarks(f.mark), ledger.WithOnChange(func() { signal(f.dirty) }))
	p.Metrics.Registry.MustRegister(ledgerCollector{f})
	unsubscribe := p.Manager.Subscribe(f.observe)
	p.Lifecycle.Append(fx.StopHook(func(ctx context.Context) error {
		unsubscribe()
		f.mu.Lock()
		loaded := f.loaded
		f.mu.Unlock()
		if !loaded {
			return nil // never read: writing would replace the journal's ledger with an empty one
		}
		return f.save(ctx)
	}))
	return f, nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (f *fills) mark(symbol string) (decimal.Decimal, bool) {
	f.mu.Lock()
	m := f.marks
	f.mu.Unlock()
	if m == nil {
		return decimal.Zero, false
	}
	return m(symbol)
}

func (f *fills) setMarks(m func(string) (decimal.Decimal, bool)) {
	f.mu.Lock()
	f.marks = m
	f.mu.Unlock()
}

// assets returns a symbol's base and quote assets from the cached exchange info, without
// asking the exchange (this runs inside the orders manager's event delivery).
func (f *fills) assets(symbol string) (string, string) {
	info, ok := f.info.c.peek("")
	if !ok {
		return "", ""
	}
	s, _ := info.Symbol(symbol)
	return s.BaseAsset, s.QuoteAsset
}

// observe books one orders-manager event: the order's owner, the trades attached to it (in
// full or as fees), then what its cumulative execution adds beyond them.
func (f *fills) observe(ev orders.Event) {
	f.mu.Lock()
	if !f.loaded {
		f.waiting = append(f.waiting, ev)
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	f.book(ev)
}

// load restores the ledger from the journal, then books the events that arrived meanwhile.
// A snapshot that does not parse stops start-up: the positions it holds are the operator's
// record, never silently replaced.
func (f *fills) load(ctx context.Context) error {
	snap, err := f.journal.Cursor(ctx, f.cursor)
	if err != nil {
		return fmt.Errorf("runtime: ledger: reading it from the journal: %w", err)
	}
	if snap != "" {
		if err := f.l.Restore([]byte(snap)); err != nil {
			return fmt.Errorf("runtime: ledger in the journal (cursor %q): %w", f.cursor, err)
		}
	}
	for {
		f.mu.Lock()
		if snap != "" && f.lastSaved == "" {
			f.lastSaved = snap
		}
		evs := f.waiting
		f.waiting = nil
		if len(evs) == 0 {
			f.loaded = true
			f.mu.Unlock()
			return nil
		}
		f.mu.Unlock()
		for _, ev := range evs {
			f.book(ev)
		}
	}
}

// book books one event (see observe).
func (f *fills) book(ev orders.Event) {
	o := ev.Order
	if ev.Strategy == "" || o.ExchangeOrderID == "" {
		return // adopted without a strategy, or not placed: nothing of a strategy's to book
	}
	base, quote := f.assets(o.Symbol)
	up := ledger.Update{Strategy: ev.Strategy, Symbol: o.Symbol, Base: base, Quote: quote, OrderID: o.ExchangeOrderID,
		Buy: o.Side == adapters.Buy, Executed: o.ExecutedQty, ExecutedQuote: o.CumulativeQuote,
		Final: o.Status.Final(), Time: f.clk.Now()}
	f.l.Track(up)
	for _, t := range ev.Fills {
		f.l.ApplyTrade(tradeOf(ev.Strategy, base, quote, t))
	}
	if o.Status == adapters.StatusUnknown {
		return
	}
	if booked := f.l.ApplyUpdate(up); booked.IsPositive() {
		signal(f.fetch)
	}
}

func tradeOf(strategyName, base, quote string, t adapters.Fill) ledger.Trade {
	return ledger.Trade{Strategy: strategyName, Symbol: t.Symbol, Base: base, Quote: quote, OrderID: t.ExchangeOrderID,
		TradeID: t.TradeID, Buy: t.IsBuyer, Price: t.Price, Quantity: t.Quantity, Fee: t.Commission,
		FeeAsset: t.CommissionAsset, Time: t.Time}
}

// catchUp fetches, per symbol the journal or the ledger knows, the trades after the ledger's
// cursor and books those of this bot's orders: fills while the bot was down, and the whole
// recent history when the ledger is missing (a first run, or a journal without it), which is
// how a lost ledger is rebuilt from the exchange's trade history. Orders are attributed to
// their strategy by the journal; trades of orders it does not know (another bot, a human)
// are left out.
func (f *fills) catchUp(ctx context.Context) {
	// Strategies wait for it: bounded, and what it misses the next fill's fetch catches up.
	ctx, cancel := context.WithTimeout(ctx, catchUpTimeout)
	defer cancel()
	owners := map[string]string{} // exchange order id → strategy
	symbols := map[string]bool{}
	entries, err := f.journal.List(ctx)
	if err != nil {
		f.log.Warn().Err(err).Msg("ledger: cannot list the journal; trades are attributed by the ledger alone")
	}
	for _, e := range entries {
		symbols[e.Intent.Symbol] = true
		if e.ExchangeOrderID != "" && e.Intent.Strategy != "" {
			owners[e.ExchangeOrderID] = e.Intent.Strategy
		}
	}
	for _, s := range f.l.Symbols() {
		symbols[s] = true
	}
	names := make([]string, 0, len(symbols))
	for s := range symbols {
		if s != "" {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	for _, s := range names {
		_, had := f.l.Cursor(s)
		n, err := f.fetchTrades(ctx, s, owners)
		switch {
		case err != nil && ctx.Err() == nil:
			f.log.Warn().Err(err).Str("symbol", s).Msg("ledger: fetching trades failed; retrying with the next fill")
		case !had && n > 0:
			f.log.Warn().Str("symbol", s).Int("trades", n).
				Msg("ledger: none kept for this symbol: rebuilt from the exchange's recent trades of the journal's orders (older trades are not in it)")
		}
	}
}

// catchUpTimeout bounds the start-up fetch of trades.
const catchUpTimeout = 10 * time.Second

// maxTradeFetchPages bounds one fetch; the cursor keeps the rest for the next one.
const maxTradeFetchPages = 10

// fetchTrades books symbol's trades after the ledger's cursor and returns how many it booked.
// owners adds order attributions beyond the ledger's own.
func (f *fills) fetchTrades(ctx context.Context, symbol string, owners map[string]string) (int, error) {
	after, _ := f.l.Cursor(symbol)
	base, quote := f.assets(symbol)
	booked := 0
	last := after
	for page := 0; page < maxTradeFetchPages; page++ {
		from := int64(0) // no cursor: the most recent trades
		if last > 0 {
			from = last + 1
		}
		ts, err := f.ex.Trades(ctx, symbol, from, adapters.WithPriority(scheduler.PriorityAccount))
		if err != nil {
			return booked, fmt.Errorf("trades of %s from %d: %w", symbol, from, err)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].TradeID < ts[j].TradeID })
		for _, t := range ts {
			if t.TradeID <= after && after > 0 {
				continue
			}
			owner, ok := f.l.Owner(t.ExchangeOrderID)
			if !ok {
				owner, ok = owners[t.ExchangeOrderID]
			}
			if ok && f.l.ApplyTrade(tradeOf(owner, base, quote, t)) {
				booked++
			}
			last = max(last, t.TradeID)
		}
		if from == 0 || len(ts) < tradePageSize {
			break
		}
	}
	if last > after {
		f.l.SetCursor(symbol, last)
	}
	return booked, nil
}

// settle fetches the trades of every fill still waiting for them, so positions hold the
// fees paid in the base asset (flatten sells what the account holds, not what it bought).
func (f *fills) settle(ctx context.Context) {
	for _, s := range f.l.Pending() {
		if _, err := f.fetchTrades(ctx, s, nil); err != nil && ctx.Err() == nil {
			f.log.Warn().Err(err).Str("symbol", s).Msg("ledger: fetching trades before flattening failed; using the position as reported")
		}
	}
}

func dedupe(ss []string) []string {
	slices.Sort(ss)
	return slices.Compact(ss)
}

// saveSpacing is the least time between two writes of the ledger into the journal.
const saveSpacing = 200 * time.Millisecond

// tradePageSize is a full page of the trades endpoint without a limit (Binance: 500).
const tradePageSize = 500

// run saves the ledger when it changed (coalesced: at most one journal write in flight) and
// fetches trades for fills reported without them, until ctx ends.
func (f *fills) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-f.dirty:
				if err := f.save(ctx); err != nil && ctx.Err() == nil {
					f.log.Error().Err(err).Msg("ledger: saving to the journal failed; positions are kept in memory and saved at the next change")
				}
				// A burst of fills is one write, not one per fill: the journal's writes are the
				// orders' too. What a crash loses meanwhile, the trades after the cursor restore.
				if !clock.Sleep(ctx, f.clk, saveSpacing) {
					return
				}
			}
		}
	}()
	defer wg.Wait()
	sweep := 30 * time.Second
	for {
		sweeping := false
		timer, stop := f.clk.NewTimer(jitter.Spread(f.rng, sweep, 0.2))
		select {
		case <-ctx.Done():
			stop()
			return
		case <-f.fetch:
		case <-timer:
			sweeping = true
		}
		stop()
		// Let the exchange list the trades, and gather the fills of a burst into one fetch.
		if !clock.Sleep(ctx, f.clk, tradeFetchDelay) {
			return
		}
		symbols := f.l.Pending()
		if sweeping {
			// Trades that came attached to order reports (REST polling) leave their ids to
			// remember until a fetch moves the cursor past them.
			symbols = append(symbols, f.l.Unfetched()...)
		}
		for _, s := range dedupe(symbols) {
			if _, err := f.fetchTrades(ctx, s, nil); err != nil && ctx.Err() == nil && !errors.Is(err, scheduler.ErrShed) {
				f.log.Debug().Err(err).Str("symbol", s).Msg("ledger: fetching trades failed; retrying")
			}
		}
		f.l.Prune(f.clk.Now())
	}
}

// save writes the ledger's snapshot into the journal if it changed.
func (f *fills) save(ctx context.Context) error {
	snap, err := f.l.Snapshot()
	if err != nil {
		return err
	}
	f.mu.Lock()
	same := string(snap) == f.lastSaved
	f.mu.Unlock()
	if same {
		return nil
	}
	if err := f.journal.SetCursor(context.WithoutCancel(ctx), f.cursor, string(snap)); err != nil {
		return err
	}
	f.mu.Lock()
	f.lastSaved = string(snap)
	f.mu.Unlock()
	return nil
}

// strategyPortfolio is one strategy's strategy.Portfolio: the account's balances, and its own
// positions from the ledger.
type strategyPortfolio struct {
	*portfolio
	fills *fills
	name  string
}

func (p strategyPortfolio) Position(symbol string) ledger.Position {
	if p.fills == nil {
		return ledger.Position{Strategy: p.name, Symbol: symbol}
	}
	pos, _ := p.fills.l.Position(p.name, symbol)
	return pos
}

func (p strategyPortfolio) PnL() ledger.PnL {
	if p.fills == nil {
		return ledger.PnL{}
	}
	return p.fills.l.PnL(p.name)
}

// ledgerCollector serves the ledger on /metrics, read at scrape time so the series always
// agree with /status and survive restarts with the ledger.
type ledgerCollector struct{ f *fills }

var (
	descFills = prometheus.NewDesc("keel_fills_total",
		"Fills booked per strategy and symbol (a trade, or a fill report whose trades came later).", []string{"strategy", "symbol"}, nil)
	descPosition = prometheus.NewDesc("keel_position",
		"Position per strategy and symbol in the base asset (negative: short).", []string{"strategy", "symbol", "base"}, nil)
	descRealized = prometheus.NewDesc("keel_pnl_realized",
		"Realized PnL per strategy and symbol in the quote asset, before fees.", []string{"strategy", "symbol", "quote"}, nil)
	descUnrealized = prometheus.NewDesc("keel_pnl_unrealized",
		"Unrealized PnL per strategy and symbol in the quote asset, at the mid.", []string{"strategy", "symbol", "quote"}, nil)
	descFees = prometheus.NewDesc("keel_fees_total",
		"Fees paid per strategy, symbol and asset, in that asset.", []string{"strategy", "symbol", "asset"}, nil)
	descFeesQuote = prometheus.NewDesc("keel_fees_quote_total",
		"Fees paid per strategy and symbol, converted to the quote asset.", []string{"strategy", "symbol", "quote"}, nil)
)

func (c ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFills, descPosition, descRealized, descUnrealized, descFees, descFeesQuote} {
		ch <- d
	}
}

func (c ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.f.l.Positions("") {
		f := func(v decimal.Decimal) float64 { x, _ := v.Float64(); return x }
		ch <- prometheus.MustNewConstMetric(descFills, prometheus.CounterValue, float64(p.Fills), p.Strategy, p.Symbol)
		ch <- prometheus.MustNewConstMetric(descPosition, prometheus.GaugeValue, f(p.Quantity), p.Strategy, p.Symbol, p.Base)
		ch <- prometheus.MustNewConstMetric(descRealized, prometheus.GaugeValue, f(p.Realized), p.Strategy, p.Symbol, p.Quote)
		ch <- prometheus.MustNewConstMetric(descUnrealized, prometheus.GaugeValue, f(p.Unrealized), p.Strategy, p.Symbol, p.Quote)
		ch <- prometheus.MustNewConstMetric(descFeesQuote, prometheus.CounterValue, f(p.FeesQuote), p.Strategy, p.Symbol, p.Quote)
		for asset, v := range p.Fees {
			ch <- prometheus.MustNewConstMetric(descFees, prometheus.CounterValue, f(v), p.Strategy, p.Symbol, asset)
		}
	}
}
