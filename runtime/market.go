package runtime

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/scheduler"
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
type marketFeed struct {
	ex       adapters.Exchange
	clk      clock.Clock
	rng      *jitter.Rand
	log      zerolog.Logger
	interval time.Duration
	deliver  func(strategyName string, ev strategy.Event)
	// streamed, when set, reports symbols a healthy stream serves: the poller skips them.
	streamed func(symbol string) bool
	// streamOwned, when set, reports symbols whose freshness a market stream decides: a
	// successful poll (the fallback while the stream is down or resyncing) refreshes their
	// quote but does not declare the data fresh.
	streamOwned func(symbol string) bool

	mu     sync.Mutex
	subs   map[string]map[string]bool // symbol → strategy names
	quotes map[string]strategy.Quote
	stale  map[string]bool
	books  map[string]*adapters.OrderBook // kept by the market stream, when it runs
	added  chan struct{}                  // has a value after a symbol was subscribed for the first time
}

func newMarketFeed(ex adapters.Exchange, clk clock.Clock, rng *jitter.Rand, log zerolog.Logger, interval time.Duration,
	deliver func(string, strategy.Event)) *marketFeed {
	return &marketFeed{ex: ex, clk: clk, rng: rng, log: log, interval: interval, deliver: deliver,
		subs: map[string]map[string]bool{}, quotes: map[string]strategy.Quote{}, stale: map[string]bool{},
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
		f.subs[s][strategyName] = true
	}
}

func (f *marketFeed) quote(symbol string) (strategy.Quote, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.quotes[symbol]
	return q, ok && !f.stale[symbol]
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

func (f *marketFeed) poll(ctx context.Context, symbol string) {
	bt, err := f.ex.BookTicker(ctx, symbol)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		f.setStale(symbol, true, err.Error())
		if !errors.Is(err, scheduler.ErrShed) {
			f.log.Debug().Err(err).Str("symbol", symbol).Msg("quote poll failed; data stale")
		}
		return
	}
	// A symbol a market stream follows is fresh when its book is, not when a poll answers.
	f.publish(strategy.Quote{Symbol: symbol, BidPrice: bt.BidPrice, BidQty: bt.BidQty,
		AskPrice: bt.AskPrice, AskQty: bt.AskQty, Time: f.clk.Now()},
		f.streamOwned == nil || !f.streamOwned(symbol))
}

// publish keeps q as its symbol's latest quote and sends it to the subscribers; fresh also
// declares the symbol's data fresh (before the quote, so strategies see the status first).
func (f *marketFeed) publish(q strategy.Quote, fresh bool) {
	f.mu.Lock()
	f.quotes[q.Symbol] = q
	f.mu.Unlock()
	if fresh {
		f.setStale(q.Symbol, false, "")
	}
	f.fanOut(q.Symbol, q)
}

// setBook registers the local book a market stream keeps for symbol.
func (f *marketFeed) setBook(symbol string, b *adapters.OrderBook) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.books[symbol] = b
}

func (f *marketFeed) setStale(symbol string, stale bool, reason string) {
	f.mu.Lock()
	was, known := f.stale[symbol]
	f.stale[symbol] = stale
	f.mu.Unlock()
	if was == stale && known {
		return
	}
	if !stale && !known {
		return // first quote: nothing was stale before
	}
	f.fanOut(symbol, strategy.DataStatus{Symbol: symbol, Stale: stale, Reason: reason})
}

func (f *marketFeed) fanOut(symbol string, ev strategy.Event) {
	f.mu.Lock()
	names := make([]string, 0, len(f.subs[symbol]))
	for n := range f.subs[symbol] {
		names = append(names, n)
	}
	f.mu.Unlock()
	sort.Strings(names)
	for _, n := range names {
		f.deliver(n, ev)
	}
}

// marketView is one strategy's strategy.Market.
type marketView struct {
	name string
	feed *marketFeed
	info *infoCache
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
