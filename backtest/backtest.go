// Package backtest replays recorded candles through a bot's strategies on simulated time:
// the same strategy code, the same orders manager (with an in-memory journal), the Binance
// adapter and the scheduler, against the simulator (adapters/sim) replaying the file as its
// matching engine, on clock.Fake. Nothing sleeps: the clock jumps from one candle's close to
// the next, so a backtest runs as fast as the CPU allows, and the same file, config and seed
// give the same report.
//
// A bot binary exposes it from its main, as it does certify:
//
//	func main() {
//		mod := strategy.Module("mybot", New)
//		if backtest.Requested(os.Args) {
//			os.Exit(backtest.Command(os.Args[2:], os.Stdout, os.Stderr, mod))
//		}
//		runtime.Main(mod)
//	}
//
// and `mybot backtest --config bt.yaml [--from 2024-05-04T06:00:00Z] [--to ...] [--seed 1]
// [--json]` prints the report. `keel backtest` does the same with the moving-average
// crossover of examples/macross linked in.
//
// # What runs, and what differs from a live bot
//
// The file's candles are played by the simulator (sim.Replay: four trades per candle: open,
// low, high, close, the high first for a falling candle), so a resting limit order fills when
// a candle's range reaches its price, at its price; a market order fills at the last trade.
// With a trades file (Options.Trades, backtest.trades; ReadTradeCSV) the simulator plays the
// recorded trades instead, each at its own time, so a resting order fills only when a real
// trade reached it; the candle file then only paces the closes (without one, one-minute
// candles are built from the trades).
// Candles before --from are played before the strategies start: they are the history
// Market.Candles returns. Then, for each candle from --from to --to, the clock moves to its
// close, and the strategies get, in this order, the order updates of the fills it caused, a
// Candle event for every series they asked for that closed, a Quote for every symbol they
// subscribed to (the simulator's book top), and one Tick.
//
// Requests go through the Binance adapter and the scheduler to the simulator in-process (no
// socket), and are counted against Binance's documented limits (REQUEST_WEIGHT 6000 per
// minute, RAW_REQUESTS 300000 per 5 minutes, ORDERS 50 per 10 s and 160000 per day, fixed
// windows) with the costs the adapter reserves for them: the report says the most each window
// held and whether the strategy would have reached Keel's safety fraction or Binance's limit
// live. What a live bot reads without a request is free here too: candle closes (the kline
// stream), order updates (the user data stream), quotes (the depth stream). The first
// Market.Candles of a series, exchange info, fees, and the balance refresh every
// portfolio.refresh_interval (checked at each candle close) are requests, as they are live.
// The simulator itself never refuses for limits in a backtest, so the strategy's numbers are
// measured, not cut short.
//
// The report: PnL (the account's value in the quote asset at the last close against its value
// at the first), fees (in the quote asset, a base-asset commission valued at its fill price),
// fills, orders sent, the deepest drawdown of that value at candle closes, and the request
// budget.
package backtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/ledger"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// Options are a backtest's inputs besides the strategies.
type Options struct {
	// Config is the bot's YAML config: its strategies sections, orders, portfolio and
	// backtest sections are used (exchange.* is not: the backtest is the simulator). Empty:
	// the built-in defaults.
	Config string
	// Environ is the environment for KEEL_ overrides (nil: none).
	Environ []string
	// File overrides backtest.file.
	File string
	// Trades overrides backtest.trades: a trades file whose trades drive the fills.
	Trades string
	// From and To bound the candles traded on, by open time, [From, To); zero: the file's
	// first candle, and past its last.
	From, To time.Time
	// Seed seeds the scheduler's jitter and the simulator. Default 1.
	Seed int64
	// Log receives the bot's log lines (nil: none).
	Log io.Writer
}

// Report is what a backtest found. Every field but Elapsed is a function of the inputs.
type Report struct {
	Symbol   string            `json:"symbol"`
	Interval adapters.Interval `json:"interval"`
	From     time.Time         `json:"from"` // first candle traded on (open time)
	To       time.Time         `json:"to"`   // last candle traded on (close time)
	Candles  int               `json:"candles"`
	// FillSource says what drove the simulator's matching: "candles" (four trades per
	// candle: open, low, high, close) or "trades" (the trades file, TradesReplayed of them).
	FillSource     string `json:"fill_source"`
	TradesReplayed int    `json:"trades_replayed,omitempty"`
	Quote          string `json:"quote_asset"`
	// StartValue and EndValue are the account in the quote asset at the first and last
	// close; PnL their difference.
	StartValue decimal.Decimal `json:"start_value"`
	EndValue   decimal.Decimal `json:"end_value"`
	PnL        decimal.Decimal `json:"pnl"`
	PnLPercent decimal.Decimal `json:"pnl_percent"`
	Fees       decimal.Decimal `json:"fees"`
	Fills      int             `json:"fills"`
	OrdersSent int             `json:"orders_sent"`
	// OrdersRejected counts placements the exchange refused; OrdersRefused those the orders
	// manager refused before sending (filters, funds).
	OrdersRejected int `json:"orders_rejected"`
	OrdersRefused  int `json:"orders_refused"`
	// OpenOrders still resting after the last candle.
	OpenOrders int `json:"open_orders"`
	// MaxDrawdown is the deepest fall of the account's value from a previous peak, at candle
	// closes, in the quote asset and in percent of that peak.
	MaxDrawdown        decimal.Decimal   `json:"max_drawdown"`
	MaxDrawdownPercent decimal.Decimal   `json:"max_drawdown_percent"`
	Balances           map[string]string `json:"end_balances"`
	// StrategyErrors counts OnEvent errors (logged; the strategy goes on, as live).
	StrategyErrors int `json:"strategy_errors"`
	// Budget is the request budget per Binance limit window.
	Budget []WindowUse `json:"budget"`
	// WouldHitLimit: some window went past Binance's limit (live: 429s, then bans).
	WouldHitLimit bool `json:"would_hit_limit"`
	// Requests counts requests by endpoint ("GET /api/v3/klines").
	Requests map[string]int `json:"requests"`
	// Elapsed is the wall time the replay took (not deterministic).
	Elapsed time.Duration `json:"elapsed_ns"`
}

// WindowUse is one limit window's use over the backtest.
type WindowUse struct {
	Window   string        `json:"window"`
	Interval time.Duration `json:"interval_ns"`
	Limit    int64         `json:"limit"`
	// Safe is the limit times scheduler.safety_fraction: Keel's scheduler holds requests
	// past it.
	Safe int64 `json:"safe"`
	// Peak is the most one window held, starting at PeakAt.
	Peak   int64     `json:"peak"`
	PeakAt time.Time `json:"peak_at"`
	// OverSafe and OverLimit count windows past Safe and past Limit.
	OverSafe  int `json:"windows_over_safe"`
	OverLimit int `json:"windows_over_limit"`
}

// backtestKey and backtestSecret are the simulated account's credentials.
const (
	backtestKey    = "keel-backtest-key"
	backtestSecret = "keel-backtest-secret"
)

// Run backtests the strategies of modules (strategy.Module values) with o.
func Run(ctx context.Context, o Options, modules ...fx.Option) (Report, error) {
	began := time.Now()
	// The exchange section is not used (the backtest trades on the simulator), so a bot's
	// production config without its secrets loads: read as paper trading, which needs no key.
	environ := append(append([]string{}, o.Environ...), "KEEL_EXCHANGE_MODE=paper")
	cfg, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: o.Config, Environ: environ})
	if err != nil {
		return Report{}, err
	}
	defs, err := definitions(modules)
	if err != nil {
		return Report{}, err
	}
	if len(defs) == 0 {
		return Report{}, errors.New("backtest: no strategy to run: pass strategy.Module values")
	}
	bt := cfg.Backtest
	if o.File != "" {
		bt.File = o.File
	}
	if o.Trades != "" {
		bt.Trades = o.Trades
	}
	if bt.File == "" && bt.Trades == "" {
		return Report{}, errors.New("backtest: no candle file: set backtest.file or --file (or a trades file: backtest.trades or --trades)")
	}
	if bt.Symbol == "" {
		bt.Symbol = "BTCUSDT"
	}
	sym, ok := simSymbol(bt.Symbol)
	if !ok {
		return Report{}, fmt.Errorf("backtest: backtest.symbol: %q is not a symbol the simulator lists (BTCUSDT, ETHUSDT, DOGEUSDT)", bt.Symbol)
	}
	if bt.Balances == nil {
		bt.Balances = map[string]string{sym.Quote: "10000"}
	}
	if bt.Commission == "" {
		bt.Commission = "0.001"
	}
	if c, err := decimal.NewFromString(bt.Commission); err != nil || c.IsNegative() || c.GreaterThanOrEqual(decimal.NewFromInt(1)) {
		return Report{}, fmt.Errorf("backtest: backtest.commission: want a rate in [0, 1), got %q", bt.Commission)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	var trades []sim.ReplayTrade
	if bt.Trades != "" {
		f, err := os.Open(bt.Trades)
		if err != nil {
			return Report{}, fmt.Errorf("backtest: %w", err)
		}
		trades, err = ReadTradeCSV(f, 100_000_000)
		f.Close()
		if err != nil {
			return Report{}, fmt.Errorf("backtest: %s: %w", bt.Trades, err)
		}
	}
	var all []adapters.Candle
	iv := adapters.Interval("1m")
	if bt.File != "" {
		f, err := os.Open(bt.File)
		if err != nil {
			return Report{}, fmt.Errorf("backtest: %w", err)
		}
		all, iv, err = adapters.ReadKlineCSV(f, bt.Symbol, 10_000_000)
		f.Close()
		if err != nil {
			return Report{}, fmt.Errorf("backtest: %s: %w", bt.File, err)
		}
	} else {
		all = candlesFromTrades(trades, bt.Symbol, iv)
	}
	if n := len(trades); n > 0 && (trades[n-1].Time.Before(all[0].OpenTime) || trades[0].Time.After(all[len(all)-1].CloseTime)) {
		return Report{}, fmt.Errorf("backtest: the trades of %s (%s to %s) are outside the candles of %s (%s to %s)", bt.Trades,
			trades[0].Time.Format(time.RFC3339), trades[n-1].Time.Format(time.RFC3339), bt.File,
			all[0].OpenTime.Format(time.RFC3339), all[len(all)-1].CloseTime.Format(time.RFC3339))
	}
	first, last := 0, len(all)
	if !o.From.IsZero() {
		first = sort.Search(len(all), func(i int) bool { return !all[i].OpenTime.Before(o.From) })
	}
	if !o.To.IsZero() {
		last = sort.Search(len(all), func(i int) bool { return !all[i].OpenTime.Before(o.To) })
	}
	if first >= last {
		return Report{}, fmt.Errorf("backtest: no candle of %s opens in [%s, %s) (the file spans %s to %s)", bt.File,
			fmtTime(o.From), fmtTime(o.To), all[0].OpenTime.Format(time.RFC3339), all[len(all)-1].CloseTime.Format(time.RFC3339))
	}

	log := zerolog.Nop()
	if o.Log != nil {
		log = zerolog.New(o.Log).With().Timestamp().Logger()
	}
	w := &world{cfg: cfg, defs: defs, log: log, symbol: bt.Symbol, base: sym.Base, quote: sym.Quote,
		clk: clock.NewFake(all[first].OpenTime)}
	w.trades = trades
	if err := w.build(o, bt, sym, all); err != nil {
		return Report{}, err
	}
	defer w.close()
	rep, err := w.run(ctx, all[first:last], iv)
	rep.Elapsed = time.Since(began)
	return rep, err
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func simSymbol(name string) (sim.Symbol, bool) {
	for _, s := range sim.DefaultSymbols() {
		if s.Name == name {
			return s, true
		}
	}
	return sim.Symbol{}, false
}

// definitions collects the strategy.Definitions that modules contribute.
func definitions(modules []fx.Option) ([]strategy.Definition, error) {
	var defs []strategy.Definition
	app := fx.New(append(append([]fx.Option{}, modules...), fx.NopLogger,
		fx.Invoke(fx.Annotate(func(ds []strategy.Definition) { defs = ds }, fx.ParamTags(strategy.GroupTag))))...)
	if err := app.Err(); err != nil {
		return nil, fmt.Errorf("backtest: strategies: %w", err)
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs, nil
}

// handlerTransport answers HTTP requests with an in-process handler: the adapter talks to the
// simulator without a socket.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	r.RemoteAddr = "127.0.0.1:1"
	t.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r
	return res, nil
}

// world is one backtest's parts.
type world struct {
	cfg    *runtime.Config
	defs   []strategy.Definition
	log    zerolog.Logger
	clk    *clock.Fake
	symbol string
	base   string
	quote  string
	assets []string // base, quote and any other funded asset, sorted

	srv   *sim.Server
	sched *scheduler.Scheduler
	meter *meter
	ex    *binance.Client
	mgr   *orders.Manager

	pending []sim.OrderEvent  // order changes heard from the simulator, not yet applied
	trades  []sim.ReplayTrade // recorded trades driving the matching; nil: the candles do
	feed    *feed
}

func (w *world) build(o Options, bt runtime.BacktestConfig, sym sim.Symbol, all []adapters.Candle) error {
	// Limits far above any strategy's use, within what the adapter accepts from exchangeInfo.
	huge := int64(100_000_000_000)
	srv, err := sim.New(sim.Config{Seed: o.Seed, Clock: w.clk, APIKey: backtestKey, APISecret: backtestSecret,
		Balances: bt.Balances, CommissionRate: bt.Commission, Symbols: []sim.Symbol{sym},
		Replay: []sim.Replay{{Symbol: sym.Name, Candles: all, Trades: w.trades, Start: all[0].OpenTime}},
		// The backtest measures the budget itself; the exchange refuses nothing for limits.
		Limits: sim.Limits{RequestWeight: huge, RawRequests: huge, Orders10s: huge, OrdersDay: huge}})
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	w.srv = srv
	seen := map[string]bool{w.base: true, w.quote: true}
	w.assets = []string{w.base, w.quote}
	for a := range bt.Balances {
		if !seen[a] {
			seen[a] = true
			w.assets = append(w.assets, a)
		}
	}
	sort.Strings(w.assets)
	srv.SetOrderListener(func(e sim.OrderEvent) { w.pending = append(w.pending, e) })

	windows := binance.SchedulerWindows()
	for i := range windows {
		windows[i].Limit = huge // counted by the meter against Binance's limits instead
	}
	// No retries: a retry's backoff waits on the simulated clock, which moves only between
	// candles. In-process, nothing fails for a retry to mend; if something does, the strategy
	// gets the error at once.
	sch, err := scheduler.New(scheduler.Config{Exchange: "binance", InstanceID: "bt", Windows: windows,
		Buckets: binance.SchedulerBuckets(), Retries: scheduler.RetryConfig{RateLimit: -1, Transient: -1}}, scheduler.WithClock(w.clk), scheduler.WithRand(jitter.New(uint64(o.Seed))),
		scheduler.WithLogger(w.log))
	if err != nil {
		return fmt.Errorf("backtest: scheduler: %w", err)
	}
	w.sched = sch
	w.meter = newMeter(sch, w.clk, w.cfg.Scheduler.Effective().SafetyFraction)
	ex, err := binance.New(binance.Config{BaseURL: "http://sim.backtest", APIKey: backtestKey, APISecret: backtestSecret},
		w.meter, binance.WithHTTPClient(&http.Client{Transport: handlerTransport{srv}}), binance.WithClock(w.clk))
	if err != nil {
		return fmt.Errorf("backtest: adapter: %w", err)
	}
	w.ex = ex
	keys, err := idempotency.NewKeyGenerator(w.cfg.Bot.KeyPrefix, w.cfg.Bot.InstanceID)
	if err != nil {
		return fmt.Errorf("backtest: bot.key_prefix: %w", err)
	}
	w.feed = newFeed(w)
	mgr, err := orders.New(orders.Params{Exchange: ex, Store: idempotency.NewMemoryStore(), Keys: keys,
		Info: w.feed.info, Log: w.log, Clock: w.clk, Config: w.cfg.Orders, Balance: w.feed.balanceKnown})
	if err != nil {
		return fmt.Errorf("backtest: orders: %w", err)
	}
	w.mgr = mgr
	return nil
}

func (w *world) close() {
	w.sched.Close()
	w.srv.Close()
}

// run plays the candles traded on.
func (w *world) run(ctx context.Context, cs []adapters.Candle, iv adapters.Interval) (Report, error) {
	rep := Report{Symbol: w.symbol, Interval: iv, From: cs[0].OpenTime, To: cs[len(cs)-1].CloseTime, Candles: len(cs),
		Quote: w.quote, Requests: map[string]int{}, FillSource: "candles"}
	if w.trades != nil {
		rep.FillSource, rep.TradesReplayed = "trades", len(w.trades)
	}
	unsubscribe := w.mgr.Subscribe(func(ev orders.Event) {
		// Positions as env.Portfolio shows them live (package ledger), from order updates;
		// the fees are the report's (the simulator's trades are not read back here).
		w.feed.ledger.ApplyUpdate(ledger.Update{Strategy: ev.Strategy, Symbol: ev.Order.Symbol, Base: w.base, Quote: w.quote,
			OrderID: ev.Order.ExchangeOrderID, Buy: ev.Order.Side == adapters.Buy, Executed: ev.Order.ExecutedQty,
			ExecutedQuote: ev.Order.CumulativeQuote, Final: ev.Order.Status.Final(), Time: ev.Order.UpdatedAt})
		w.feed.deliver(ev.Strategy, strategy.OrderUpdate{Order: ev.Order, Previous: ev.Previous, Filled: ev.Filled, Err: ev.Err})
		if ev.Filled.IsPositive() {
			rep.Fills++
		}
	})
	defer unsubscribe()
	// The history before the first candle traded on is played; the bot boots as it would.
	w.srv.Sync()
	w.pending = nil
	if _, err := w.feed.info(ctx); err != nil {
		return rep, fmt.Errorf("backtest: exchange info: %w", err)
	}
	if err := w.feed.refreshBalances(ctx); err != nil {
		return rep, fmt.Errorf("backtest: balances: %w", err)
	}
	startValue, err := w.value(w.mark(cs[0].Open))
	if err != nil {
		return rep, err
	}
	strats := map[string]strategy.Strategy{}
	for _, d := range w.defs {
		s, err := d.New(w.feed.env(d.Name))
		if err != nil {
			return rep, fmt.Errorf("backtest: strategy %s: %w", d.Name, err)
		}
		strats[d.Name] = s
		if st, ok := s.(strategy.Starter); ok {
			if err := st.Start(ctx); err != nil {
				return rep, fmt.Errorf("backtest: strategy %s: Start: %w", d.Name, err)
			}
		}
	}
	if err := w.dispatch(ctx, strats, &rep); err != nil {
		return rep, err
	}
	peak, maxDD, maxDDPct := startValue, decimal.Zero, decimal.Zero
	endValue := startValue
	for _, c := range cs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		w.feed.background(ctx, c.CloseTime)
		w.clk.Set(c.CloseTime.Add(time.Millisecond))
		w.srv.Sync()
		w.applyOrderEvents(ctx)
		if err := w.feed.closeStep(ctx); err != nil {
			return rep, err
		}
		if err := w.dispatch(ctx, strats, &rep); err != nil {
			return rep, err
		}
		v, err := w.value(w.mark(c.Close))
		if err != nil {
			return rep, err
		}
		endValue = v
		if v.GreaterThan(peak) {
			peak = v
		}
		if dd := peak.Sub(v); dd.GreaterThan(maxDD) {
			maxDD = dd
			if peak.IsPositive() {
				maxDDPct = dd.Div(peak).Mul(decimal.NewFromInt(100)).Round(4)
			}
		}
	}
	for _, d := range w.defs {
		if st, ok := strats[d.Name].(strategy.Stopper); ok {
			if err := st.Stop(ctx); err != nil {
				w.log.Warn().Err(err).Str("strategy", d.Name).Msg("backtest: Stop failed")
			}
		}
	}
	rep.StartValue, rep.EndValue = startValue.Round(8), endValue.Round(8)
	rep.PnL = endValue.Sub(startValue).Round(8)
	if startValue.IsPositive() {
		rep.PnLPercent = rep.PnL.Div(startValue).Mul(decimal.NewFromInt(100)).Round(4)
	}
	rep.MaxDrawdown, rep.MaxDrawdownPercent = maxDD.Round(8), maxDDPct
	rep.Fees = w.feed.fees.Round(8)
	rep.OrdersSent = w.meter.count["POST /api/v3/order"]
	rep.OrdersRejected, rep.OrdersRefused = w.feed.rejected, w.feed.refused
	for _, d := range w.defs {
		rep.OpenOrders += len(w.mgr.Open(d.Name))
	}
	rep.Balances = map[string]string{}
	for _, a := range []string{w.base, w.quote} {
		free, locked, _ := w.srv.Balance(backtestKey, a)
		fd, ld := decimal.RequireFromString(free), decimal.RequireFromString(locked)
		rep.Balances[a] = fd.Add(ld).String()
	}
	rep.Budget, rep.WouldHitLimit = w.meter.report()
	for k, v := range w.meter.count {
		rep.Requests[k] = v
	}
	return rep, nil
}

// mark is the price the account is valued at: the candle's price (open or close) when the
// candles drive the matching, the last replayed trade's when trades do (the candle file and
// the trades file need not agree to the tick).
func (w *world) mark(candlePrice decimal.Decimal) decimal.Decimal {
	if w.trades == nil {
		return candlePrice
	}
	px, ok := w.srv.Price(w.symbol)
	if !ok {
		return candlePrice
	}
	d, err := decimal.NewFromString(px)
	if err != nil {
		return candlePrice
	}
	return d
}

// value is the account's worth in the quote asset at price px.
func (w *world) value(px decimal.Decimal) (decimal.Decimal, error) {
	total := decimal.Zero
	for _, a := range []string{w.base, w.quote} {
		free, locked, err := w.srv.Balance(backtestKey, a)
		if err != nil {
			return total, fmt.Errorf("backtest: balance: %w", err)
		}
		amt := decimal.RequireFromString(free).Add(decimal.RequireFromString(locked))
		if a == w.base {
			amt = amt.Mul(px)
		}
		total = total.Add(amt)
	}
	return total, nil
}

// applyOrderEvents feeds the order changes the simulator reported to the orders manager, as
// the user data stream would; the manager tells the strategies.
func (w *world) applyOrderEvents(ctx context.Context) {
	for len(w.pending) > 0 {
		evs := w.pending
		w.pending = nil
		for _, e := range evs {
			if e.ExecType == "TRADE" {
				fee := e.Commission
				if e.CommissionAsset == w.base {
					fee = fee.Mul(e.LastPrice)
				}
				w.feed.fees = w.feed.fees.Add(fee)
			}
			w.mgr.Apply(ctx, orderOf(e))
		}
	}
}

func orderOf(e sim.OrderEvent) adapters.Order {
	return adapters.Order{Symbol: e.Symbol, ClientOrderID: e.ClientOrderID, ExchangeOrderID: fmt.Sprint(e.OrderID),
		Side: adapters.Side(e.Side), Type: adapters.OrderType(e.Type), TimeInForce: adapters.TimeInForce(e.TimeInForce),
		Price: e.Price, Quantity: e.OrigQty, ExecutedQty: e.ExecutedQty, CumulativeQuote: e.Cum,
		Status: adapters.OrderStatus(e.Status), UpdatedAt: e.Time}
}

// dispatch delivers every pending event to its strategy, in order, until none is left: a
// strategy's orders may fill at once and bring more.
func (w *world) dispatch(ctx context.Context, strats map[string]strategy.Strategy, rep *Report) error {
	for {
		w.applyOrderEvents(ctx)
		name, ev, ok := w.feed.next()
		if !ok {
			return nil
		}
		s := strats[name]
		if s == nil {
			continue
		}
		if err := safeOnEvent(ctx, s, ev); err != nil {
			var p *panicError
			if errors.As(err, &p) {
				return fmt.Errorf("backtest: strategy %s panicked on %T: %v", name, ev, p.v)
			}
			rep.StrategyErrors++
			w.log.Warn().Err(err).Str("strategy", name).Msg("strategy error")
		}
	}
}

type panicError struct{ v any }

func (p *panicError) Error() string { return fmt.Sprint("panic: ", p.v) }

func safeOnEvent(ctx context.Context, s strategy.Strategy, ev strategy.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{r}
		}
	}()
	return s.OnEvent(ctx, ev)
}

// nameOf is "METHOD /path" of a scheduler request.
func nameOf(r *scheduler.Request) string {
	return r.Method + " " + strings.TrimSpace(r.Endpoint)
}
