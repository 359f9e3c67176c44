package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/strategy"
)

// infoCache keeps the slow-moving reference data for market.info_ttl (see ttlCache): exchange
// info (symbols, filters) and the account's fees per symbol.
type infoCache struct {
	c    *ttlCache[adapters.ExchangeInfo]
	fees *ttlCache[adapters.TradingFees]
}

// errNoFees is returned by Fees for an exchange adapter that cannot read the account's fees.
var errNoFees = errors.New("runtime: this exchange adapter cannot tell the account's fees")

func newInfoCache(ex adapters.Exchange, ttl time.Duration, clk clock.Clock) *infoCache {
	return &infoCache{
		c: newTTLCache(ttl, clk, func(ctx context.Context, _ string) (adapters.ExchangeInfo, error) {
			return ex.ExchangeInfo(ctx)
		}),
		fees: newTTLCache(ttl, clk, func(ctx context.Context, symbol string) (adapters.TradingFees, error) {
			ar, ok := ex.(adapters.AccountReader)
			if !ok {
				return adapters.TradingFees{}, errNoFees
			}
			return ar.TradingFees(ctx, symbol)
		}),
	}
}

// Get returns the exchange info.
func (c *infoCache) Get(ctx context.Context) (adapters.ExchangeInfo, error) { return c.c.Get(ctx, "") }

// Fees returns the account's fees on symbol.
func (c *infoCache) Fees(ctx context.Context, symbol string) (adapters.TradingFees, error) {
	return c.fees.Get(ctx, symbol)
}

// Symbol returns one symbol's rules.
func (c *infoCache) Symbol(ctx context.Context, symbol string) (adapters.SymbolInfo, error) {
	info, err := c.Get(ctx)
	if err != nil {
		return adapters.SymbolInfo{}, err
	}
	s, ok := info.Symbol(symbol)
	if !ok {
		return adapters.SymbolInfo{}, errors.New("runtime: unknown symbol " + symbol)
	}
	return s, nil
}

// marketFeed polls best bid/ask of subscribed symbols at market priority and fans quotes out to
// the strategies that subscribed. A failed poll marks the symbol stale (strategies get a
// DataStatus) until a fresh quote arrives.
//
// Only sane data is data: a quote is published only if 0 < bid < ask with positive sizes
// (strategy.Quote.Problem), from the poller and the market stream alike; otherwise the symbol
// is stale, with the reason. A polled quote older than staleAfter is stale too, whether the
// answer came late (a poll that trickles) or has not come at all (a watchdog, watch, judges
// while the poll hangs). Each change of a symbol's staleness is one log event and one
// DataStatus, never one per poll.
type marketFeed struct {
	ex       adapters.Exchange
	clk      clock.Clock
	rng      *jitter.Rand
	log      zerolog.Logger
	interval time.Duration
	// staleAfter is market.stale_after × market.poll_interval; 0 disables the age check.
	staleAfter time.Duration
	deliver    func(strategyName string, ev strategy.Event)
	// streamed, when set, reports symbols a healthy stream serves: the poller skips them.
	streamed func(symbol string) bool
	// streamOwned, when set, reports symbols whose freshness a market stream decides: a
	// successful poll (the fallback while the stream is down or resyncing) refreshes their
	// quote but does not declare the data fresh.
	streamOwned func(symbol string) bool

	mu   sync.Mutex
	subs map[string]map[string]bool // symbol → strategy names
	// fans is subs as fanOut reads it, per event: each symbol's strategy names, sorted. A
	// subscription replaces the symbol's slice, never changes it, so fanOut walks it unlocked.
	fans   map[string][]string
	quotes map[string]strategy.Quote
	stale  map[string]bool
	// polled holds the symbols whose freshness the poller decides, with when their last
	// sane quote was asked for: the watchdog's clock.
	polled map[string]time.Time
	// judged holds the symbols the feed itself made stale (a refused quote, an old one): the
	// next sane quote from a source that decides freshness lifts it.
	judged map[string]bool
	books  map[string]*adapters.OrderBook // kept by the market stream, when it runs
	added  chan struct{}                  // has a value after a symbol was subscribed for the first time
}

func newMarketFeed(ex adapters.Exchange, clk clock.Clock, rng *jitter.Rand, log zerolog.Logger, interval time.Duration,
	deliver func(string, strategy.Event)) *marketFeed {
	return &marketFeed{ex: ex, clk: clk, rng: rng, log: log, interval: interval, deliver: deliver,
		subs: map[string]map[string]bool{}, fans: map[string][]string{}, quotes: map[string]strategy.Quote{}, stale: map[string]bool{},
		polled: map[string]time.Time{}, judged: map[string]bool{},
		books: map[string]*adapters.OrderBook{}, added: make(chan struct{}, 1)}
}

func (f *marketFeed) subscribe(strategyName string, symbols ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range symbols {
		if f.subs[s] == nil {
			f.subs[s] = map[string]bool{}
			select {
			case f.added <- struct{}{}:
			default:
			}
		}
		if !f.subs[s][strategyName] {
			f.subs[s][strategyName] = true
			f.fans[s] = slices.Sorted(maps.Keys(f.subs[s]))
		}
	}
}

func (f *marketFeed) quote(symbol string) (strategy.Quote, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.quotes[symbol]
	return q, ok && !f.stale[symbol]
}

// mid is a symbol's mid price while its quote is fresh: the ledger's mark.
func (f *marketFeed) mid(symbol string) (decimal.Decimal, bool) {
	q, ok := f.quote(symbol)
	if !ok || !q.Mid().IsPositive() {
		return decimal.Zero, false
	}
	return q.Mid(), true
}

// book returns up to depth levels a side of symbol's streamed book while it is in sync.
func (f *marketFeed) book(symbol string, depth int) (adapters.Book, bool) {
	f.mu.Lock()
	b, stale := f.books[symbol], f.stale[symbol]
	f.mu.Unlock()
	if b == nil || stale || !b.Synced() {
		return adapters.Book{}, false
	}
	return b.Levels(depth), true
}

// bookProblem says why symbol's streamed book has no top to trade on ("" when it has one,
// or when no stream keeps a book for it).
func (f *marketFeed) bookProblem(symbol string) string {
	f.mu.Lock()
	b := f.books[symbol]
	f.mu.Unlock()
	if b == nil {
		return ""
	}
	bid, ask, ok := b.Top()
	if ok {
		return ""
	}
	return strategy.Quote{BidPrice: bid.Price, BidQty: bid.Quantity, AskPrice: ask.Price, AskQty: ask.Quantity}.Problem()
}

func (f *marketFeed) symbols() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.subs))
	for s := range f.subs {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// run polls until ctx ends. The first poll waits a jittered fraction of the interval so a
// fleet restarted together does not poll in lockstep.
func (f *marketFeed) run(ctx context.Context) {
	if f.staleAfter > 0 {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { f.watch(ctx) })
	}
	if !clock.Sleep(ctx, f.clk, f.rng.Duration(f.interval)) {
		return
	}
	for {
		for _, sym := range f.symbols() {
			if f.streamed != nil && f.streamed(sym) {
				continue
			}
			f.poll(ctx, sym)
		}
		if !clock.Sleep(ctx, f.clk, jitter.Spread(f.rng, f.interval, 0.1)) {
			return
		}
	}
}

// watch marks a polled symbol stale once its last quote was asked for more than staleAfter
// ago, while the poll that should replace it hangs or trickles: strategies stop quoting on
// old data within 1.25 × staleAfter, not when the poll finally gives up.
func (f *marketFeed) watch(ctx context.Context) {
	every := max(f.staleAfter/4, time.Millisecond)
	for clock.Sleep(ctx, f.clk, every) {
		now := f.clk.Now()
		var expired []string
		f.mu.Lock()
		for sym, asked := range f.polled {
			if now.Sub(asked) <= f.staleAfter {
				continue
			}
			delete(f.polled, sym)
			f.judged[sym] = true
			if f.transitionLocked(sym, true) {
				expired = append(expired, sym)
			}
		}
		f.mu.Unlock()
		sort.Strings(expired)
		for _, sym := range expired {
			f.announce(sym, true, fmt.Sprintf("no quote for over %s (market.stale_after × market.poll_interval): the poll is late", f.staleAfter))
		}
	}
}

func (f *marketFeed) poll(ctx context.Context, symbol string) {
	asked := f.clk.Now()
	bt, err := f.ex.BookTicker(ctx, symbol)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		f.setStale(symbol, true, err.Error())
		return
	}
	now := f.clk.Now()
	if took := now.Sub(asked); f.staleAfter > 0 && took > f.staleAfter {
		// A trickled answer carries prices as old as the request: not data.
		f.judge(symbol, fmt.Sprintf("quote took %s to arrive, over %s (market.stale_after × market.poll_interval)",
			took.Round(time.Millisecond), f.staleAfter))
		return
	}
	// A symbol a market stream follows is fresh when its book is, not when a poll answers.
	f.publishPolled(strategy.Quote{Symbol: symbol, BidPrice: bt.BidPrice, BidQty: bt.BidQty,
		AskPrice: bt.AskPrice, AskQty: bt.AskQty, Time: now}, asked,
		f.streamOwned == nil || !f.streamOwned(symbol))
}

// publishPolled publishes a polled quote asked for at asked; fresh also declares the
// symbol's data fresh (before the quote, so strategies see the status first) and hands its
// freshness to the watchdog.
func (f *marketFeed) publishPolled(q strategy.Quote, asked time.Time, fresh bool) {
	if p := q.Problem(); p != "" {
		f.judge(q.Symbol, "refused quote: "+p)
		return
	}
	f.mu.Lock()
	f.quotes[q.Symbol] = q
	changed := false
	if fresh {
		f.polled[q.Symbol] = asked
		delete(f.judged, q.Symbol)
		changed = f.transitionLocked(q.Symbol, false)
	}
	f.mu.Unlock()
	if changed {
		f.announce(q.Symbol, false, "")
	}
	f.fanOut(q.Symbol, q)
}

// publish publishes a streamed quote (its freshness is the stream's, streamStatus). A quote
// that is not sane makes the symbol stale; the next sane one from a healthy stream lifts that.
func (f *marketFeed) publish(q strategy.Quote) {
	if p := q.Problem(); p != "" {
		f.judge(q.Symbol, "refused quote: "+p)
		return
	}
	f.mu.Lock()
	f.quotes[q.Symbol] = q
	lift := f.judged[q.Symbol]
	if lift {
		delete(f.judged, q.Symbol)
	}
	f.mu.Unlock()
	if lift && f.streamed != nil && f.streamed(q.Symbol) {
		f.setStale(q.Symbol, false, "")
	}
	f.fanOut(q.Symbol, q)
}

// judge makes symbol stale for a reason the feed found in the data itself. The first such
// reason is announced even when the symbol was already stale for another (a stream that was
// down and resynced onto a crossed book): the operator and the strategies learn why it stays
// stale; repeats of the judgement are not announced.
func (f *marketFeed) judge(symbol, reason string) {
	f.mu.Lock()
	delete(f.polled, symbol)
	first := !f.judged[symbol]
	f.judged[symbol] = true
	changed := f.transitionLocked(symbol, true)
	f.mu.Unlock()
	if changed || first {
		f.announce(symbol, true, reason)
	}
}

// setBook registers the local book a market stream keeps for symbol.
func (f *marketFeed) setBook(symbol string, b *adapters.OrderBook) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.books[symbol] = b
}

// setStale records what a source that decides freshness (a failed poll, a market stream's
// status) says of symbol. The watchdog stops judging it until the poller declares it fresh.
func (f *marketFeed) setStale(symbol string, stale bool, reason string) {
	f.mu.Lock()
	delete(f.polled, symbol)
	if !stale {
		delete(f.judged, symbol)
	}
	changed := f.transitionLocked(symbol, stale)
	f.mu.Unlock()
	if changed {
		f.announce(symbol, stale, reason)
	}
}

// transitionLocked records symbol's staleness and reports whether strategies must be told:
// when it changed, but not for the first fresh quote (nothing was stale before).
// requires that f.mu is held.
func (f *marketFeed) transitionLocked(symbol string, stale bool) bool {
	was, known := f.stale[symbol]
	f.stale[symbol] = stale
	if was == stale && known {
		return false
	}
	return stale || known
}

// announce tells the symbol's strategies and the log that its data became stale or fresh.
func (f *marketFeed) announce(symbol string, stale bool, reason string) {
	if stale {
		f.log.Warn().Str("symbol", symbol).Str("reason", reason).Msg("market data stale: strategies are told to stop quoting it")
	} else {
		f.log.Info().Str("symbol", symbol).Msg("market data fresh again")
	}
	f.fanOut(symbol, strategy.DataStatus{Symbol: symbol, Stale: stale, Reason: reason})
}

func (f *marketFeed) fanOut(symbol string, ev strategy.Event) {
	f.mu.Lock()
	names := f.fans[symbol]
	f.mu.Unlock()
	for _, n := range names {
		f.deliver(n, ev)
	}
}

// marketView is one strategy's strategy.Market.
type marketView struct {
	name    string
	feed    *marketFeed
	info    *infoCache
	candles *candleFeed
}

func (m marketView) Subscribe(symbols ...string)                { m.feed.subscribe(m.name, symbols...) }
func (m marketView) Quote(symbol string) (strategy.Quote, bool) { return m.feed.quote(symbol) }
func (m marketView) Book(symbol string, depth int) (adapters.Book, bool) {
	return m.feed.book(symbol, depth)
}
func (m marketView) Symbol(ctx context.Context, symbol string) (adapters.SymbolInfo, error) {
	return m.info.Symbol(ctx, symbol)
}
func (m marketView) Fees(ctx context.Context, symbol string) (adapters.TradingFees, error) {
	return m.info.Fees(ctx, symbol)
}
func (m marketView) Candles(ctx context.Context, symbol string, interval adapters.Interval, n int) ([]strategy.Candle, error) {
	return m.candles.candles(ctx, m.name, symbol, interval, n)
}
