package backtest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/ledger"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// feed is what the strategies see of the world: their Env (market data, orders, portfolio),
// and the events waiting for them, in the order the runtime's mailbox gives them.
type feed struct {
	w     *world
	queue []queued

	quoteSubs map[string]map[string]bool // symbol → strategies
	series    map[adapters.CandleSeries]*series

	infoVal   adapters.ExchangeInfo
	infoAt    time.Time
	feeCache  map[string]adapters.TradingFees
	balances  map[string]adapters.Balance
	balanced  bool      // balances read at least once
	nextRead  time.Time // the next balance refresh due
	nextSweep time.Time // the next order refresh sweep due

	ledger            *ledger.Ledger  // the strategies' positions, marked at the last close
	fees              decimal.Decimal // paid, in the quote asset
	rejected, refused int
}

type queued struct {
	name string
	ev   strategy.Event
}

type series struct {
	closed []strategy.Candle
	subs   map[string]bool
}

func newFeed(w *world) *feed {
	marks := func(symbol string) (decimal.Decimal, bool) {
		px, ok := w.srv.Price(symbol)
		if !ok {
			return decimal.Decimal{}, false
		}
		d, err := decimal.NewFromString(px)
		return d, err == nil
	}
	return &feed{w: w, quoteSubs: map[string]map[string]bool{}, series: map[adapters.CandleSeries]*series{},
		feeCache: map[string]adapters.TradingFees{}, balances: map[string]adapters.Balance{},
		ledger: ledger.New(ledger.WithMarks(marks))}
}

func (f *feed) deliver(name string, ev strategy.Event) { f.queue = append(f.queue, queued{name, ev}) }

func (f *feed) next() (string, strategy.Event, bool) {
	if len(f.queue) == 0 {
		return "", nil, false
	}
	q := f.queue[0]
	f.queue = f.queue[1:]
	return q.name, q.ev, true
}

func (f *feed) env(name string) strategy.Env {
	return strategy.Env{
		Name:      name,
		Log:       f.w.log.With().Str("strategy", name).Logger(),
		Config:    runtime.StrategySection(f.w.cfg, name),
		Orders:    btOrders{f: f, name: name},
		Market:    btMarket{f: f, name: name},
		Portfolio: btPortfolio{f: f, name: name},
	}
}

// info is the exchange info, read again after market.info_ttl as the runtime's cache does.
func (f *feed) info(ctx context.Context) (adapters.ExchangeInfo, error) {
	now := f.w.clk.Now()
	if !f.infoAt.IsZero() && now.Sub(f.infoAt) < f.w.cfg.Market.InfoTTL {
		return f.infoVal, nil
	}
	info, err := f.w.ex.ExchangeInfo(ctx)
	if err != nil {
		return info, err
	}
	f.infoVal, f.infoAt = info, now
	return info, nil
}

func (f *feed) refreshBalances(ctx context.Context) error {
	bs, err := f.w.ex.Balances(ctx)
	if err != nil {
		return err
	}
	clear(f.balances)
	for _, b := range bs {
		f.balances[b.Asset] = b
	}
	f.balanced = true
	return nil
}

func (f *feed) balanceKnown(asset string) (adapters.Balance, bool) {
	if !f.balanced {
		return adapters.Balance{}, false
	}
	b, ok := f.balances[asset]
	if !ok {
		b = adapters.Balance{Asset: asset}
	}
	return b, true
}

// background accounts for the runtime's periodic reads that fall due by until: the balance
// refresh every portfolio.refresh_interval (GET /api/v3/account, weight 20) and the order
// sweep (every tenth round of the order refresh, the only one while the user data stream is
// up). Each balance refresh is charged to the budget at its own instant, as the live bot would
// send it, but read in-process (a backtest spent most of its time in them); the order sweep
// runs for real, through the orders manager.
func (f *feed) background(ctx context.Context, until time.Time) {
	every := f.w.cfg.Portfolio.RefreshInterval
	if every <= 0 {
		return
	}
	sweep := every / 2 * 10
	if f.nextRead.IsZero() {
		f.nextRead, f.nextSweep = f.w.clk.Now().Add(every), f.w.clk.Now().Add(sweep)
	}
	read := false
	for !f.nextRead.After(until) {
		f.w.meter.charge(f.nextRead, accountRead)
		f.nextRead = f.nextRead.Add(every)
		read = true
	}
	for !f.nextSweep.After(until) {
		f.w.clk.Set(f.nextSweep)
		if err := f.w.mgr.Refresh(ctx); err != nil {
			f.w.log.Debug().Err(err).Msg("backtest: order refresh failed")
		}
		f.nextSweep = f.nextSweep.Add(sweep)
	}
	if read {
		f.w.clk.Set(until)
		f.readBalances()
	}
}

// readBalances reads the account's balances in-process.
func (f *feed) readBalances() {
	for _, a := range f.w.assets {
		free, locked, err := f.w.srv.Balance(backtestKey, a)
		if err != nil {
			continue
		}
		f.balances[a] = adapters.Balance{Asset: a, Free: decimal.RequireFromString(free), Locked: decimal.RequireFromString(locked)}
	}
	f.balanced = true
}

// closeStep queues what a candle's close brings the strategies: a Candle for every series
// that closed one (read in-process, as the kline stream brings it), a Quote for every
// subscribed symbol (the book top, as the depth stream keeps it), then a Tick.
func (f *feed) closeStep(ctx context.Context) error {
	keys := make([]adapters.CandleSeries, 0, len(f.series))
	for k := range f.series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Symbol != keys[j].Symbol {
			return keys[i].Symbol < keys[j].Symbol
		}
		return keys[i].Interval < keys[j].Interval
	})
	for _, k := range keys {
		s := f.series[k]
		q := adapters.CandleQuery{Limit: 1000}
		if n := len(s.closed); n > 0 {
			q.Start = k.Interval.Next(s.closed[n-1].OpenTime, 0)
		}
		ks, ok := f.w.srv.Candles(k.Symbol, k.Interval, q)
		if !ok {
			continue
		}
		var news []strategy.Candle
		for _, c := range ks {
			if c.Closed {
				news = append(news, strategy.Candle(c))
			}
		}
		if q.Start.IsZero() && len(news) > 0 {
			news = news[len(news)-1:] // a series asked for before any close: only the last is news
		}
		s.closed = append(s.closed, news...)
		if len(s.closed) > 2000 {
			s.closed = append([]strategy.Candle(nil), s.closed[len(s.closed)-1000:]...)
		}
		names := sortedNames(s.subs)
		for _, c := range news {
			for _, n := range names {
				f.deliver(n, c)
			}
		}
	}
	symbols := make([]string, 0, len(f.quoteSubs))
	for s := range f.quoteSubs {
		symbols = append(symbols, s)
	}
	sort.Strings(symbols)
	now := f.w.clk.Now()
	for _, sym := range symbols {
		b, ok := f.w.srv.Book(sym, 1)
		if !ok || len(b.Bids) == 0 || len(b.Asks) == 0 {
			continue
		}
		q := strategy.Quote{Symbol: sym, BidPrice: b.Bids[0].Price, BidQty: b.Bids[0].Quantity,
			AskPrice: b.Asks[0].Price, AskQty: b.Asks[0].Quantity, Time: now}
		for _, n := range sortedNames(f.quoteSubs[sym]) {
			f.deliver(n, q)
		}
	}
	for _, d := range f.w.defs {
		f.deliver(d.Name, strategy.Tick{Time: now})
	}
	return nil
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// btMarket is one strategy's strategy.Market in a backtest.
type btMarket struct {
	f    *feed
	name string
}

func (m btMarket) Subscribe(symbols ...string) {
	for _, s := range symbols {
		if m.f.quoteSubs[s] == nil {
			m.f.quoteSubs[s] = map[string]bool{}
		}
		m.f.quoteSubs[s][m.name] = true
	}
}

func (m btMarket) Quote(symbol string) (strategy.Quote, bool) {
	b, ok := m.f.w.srv.Book(symbol, 1)
	if !ok || len(b.Bids) == 0 || len(b.Asks) == 0 || !m.f.quoteSubs[symbol][m.name] {
		return strategy.Quote{}, false
	}
	return strategy.Quote{Symbol: symbol, BidPrice: b.Bids[0].Price, BidQty: b.Bids[0].Quantity,
		AskPrice: b.Asks[0].Price, AskQty: b.Asks[0].Quantity, Time: m.f.w.clk.Now()}, true
}

func (m btMarket) Book(symbol string, depth int) (adapters.Book, bool) {
	if !m.f.quoteSubs[symbol][m.name] {
		return adapters.Book{}, false
	}
	return m.f.w.srv.Book(symbol, depth)
}

func (m btMarket) Symbol(ctx context.Context, symbol string) (adapters.SymbolInfo, error) {
	info, err := m.f.info(ctx)
	if err != nil {
		return adapters.SymbolInfo{}, err
	}
	s, ok := info.Symbol(symbol)
	if !ok {
		return adapters.SymbolInfo{}, errors.New("backtest: unknown symbol " + symbol)
	}
	return s, nil
}

func (m btMarket) Fees(ctx context.Context, symbol string) (adapters.TradingFees, error) {
	if fees, ok := m.f.feeCache[symbol]; ok {
		return fees, nil
	}
	fees, err := m.f.w.ex.TradingFees(ctx, symbol)
	if err == nil {
		m.f.feeCache[symbol] = fees
	}
	return fees, err
}

// Candles reads a series over REST the first time (one klines call, as the runtime does),
// then from the closes the backtest adds at each step.
func (m btMarket) Candles(ctx context.Context, symbol string, interval adapters.Interval, n int) ([]strategy.Candle, error) {
	if _, err := adapters.ParseInterval(string(interval)); err != nil {
		return nil, fmt.Errorf("backtest: candles: %w", err)
	}
	if n < 1 || n > 1000 {
		return nil, fmt.Errorf("backtest: candles: n %d: want 1..1000", n)
	}
	key := adapters.CandleSeries{Symbol: symbol, Interval: interval}
	s := m.f.series[key]
	if s == nil {
		ks, err := m.f.w.ex.Candles(ctx, symbol, interval, adapters.CandleQuery{Limit: 1000})
		if err != nil {
			return nil, fmt.Errorf("backtest: candles of %s %s: %w", symbol, interval, err)
		}
		s = &series{subs: map[string]bool{}}
		for _, k := range ks {
			if k.Closed {
				s.closed = append(s.closed, strategy.Candle(k))
			}
		}
		m.f.series[key] = s
	}
	s.subs[m.name] = true
	return append([]strategy.Candle(nil), s.closed[max(0, len(s.closed)-n):]...), nil
}

// btOrders is one strategy's strategy.Orders in a backtest: the orders manager's.
type btOrders struct {
	f    *feed
	name string
}

func (o btOrders) Place(ctx context.Context, in strategy.Intent) (adapters.Order, error) {
	in.Strategy = o.name
	ord, err := o.f.w.mgr.Place(ctx, in)
	switch {
	case err == nil, errors.Is(err, strategy.ErrUnknownOutcome):
	case errors.Is(err, strategy.ErrInvalidIntent), errors.Is(err, strategy.ErrRepeatedRejection):
		o.f.refused++
	default:
		o.f.rejected++
	}
	return ord, err
}

func (o btOrders) Cancel(ctx context.Context, symbol, clientOrderID string) error {
	_, err := o.f.w.mgr.Cancel(ctx, symbol, clientOrderID)
	return err
}

func (o btOrders) Open() []adapters.Order { return o.f.w.mgr.Open(o.name) }

// btPortfolio is the account as last refreshed.
type btPortfolio struct {
	f    *feed
	name string // the strategy's
}

func (p btPortfolio) Balance(asset string) adapters.Balance {
	b, _ := p.f.balanceKnown(asset)
	b.Asset = asset
	return b
}

func (p btPortfolio) Balances() []adapters.Balance {
	var out []adapters.Balance
	for _, b := range p.f.balances {
		if b.Free.IsPositive() || b.Locked.IsPositive() {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out
}

func (p btPortfolio) Account() (adapters.Account, bool) { return adapters.Account{}, false }

// Position is the strategy's position on symbol, from its fills (fees not included: the
// report carries them).
func (p btPortfolio) Position(symbol string) strategy.Position {
	pos, _ := p.f.ledger.Position(p.name, symbol)
	return pos
}

// PnL sums the strategy's positions.
func (p btPortfolio) PnL() strategy.PnL { return p.f.ledger.PnL(p.name) }
