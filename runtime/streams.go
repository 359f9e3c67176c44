package runtime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// streamState is what the main loop knows of its streams: which symbols' market streams are
// healthy (their books synced) and whether the user data stream is up. While a symbol's
// stream is healthy the REST poller skips it; while the user data stream is up the order
// refresh poll pauses. REST polling is the fallback, not the default.
type streamState struct {
	mu      sync.Mutex
	owned   map[string]bool // symbols a running market stream follows
	healthy map[string]bool
	userUp  bool
}

func newStreamState() *streamState {
	return &streamState{owned: map[string]bool{}, healthy: map[string]bool{}}
}

// marketOwned reports whether a running market stream follows symbol: its freshness is then
// the stream's (book synced or not), whatever the REST fallback answers meanwhile.
func (s *streamState) marketOwned(symbol string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owned[symbol]
}

func (s *streamState) own(symbols []string, owned bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sym := range symbols {
		s.owned[sym] = owned
		if !owned {
			delete(s.healthy, sym)
		}
	}
}

// marketHealthy reports whether symbol's market stream is up and its book synced.
func (s *streamState) marketHealthy(symbol string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthy[symbol]
}

func (s *streamState) userStreamUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userUp
}

func (s *streamState) setUserUp(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userUp = up
}

func (s *streamState) setHealthy(symbol string, healthy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthy[symbol] = healthy
}

// runStreams runs the market stream of every subscribed symbol and the user data stream, when
// market.streams is on and the exchange adapter offers streams (adapters.Definition.Streams). Stream
// events reach strategies through the main loop's mailboxes: quotes from the local book's
// top, DataStatus{Stale: true} while a stream is down or its book resyncs.
func (l *Loop) runStreams(ctx context.Context) {
	if !l.cfg.Market.Streams || !l.streamsOffered {
		return
	}
	client := l.ex
	lim := l.wsLimiter()
	seed := l.rng.Uint64()
	// Each connect, drop, reconnect attempt and resync snapshot is one log event (a
	// reconnect storm reads back from the log: README "Reading the logs").
	log := l.log.With().Str("exchange", l.cfg.Exchange.Name).Logger()
	opts := adapters.StreamOptions{Limiter: lim, Clock: l.clk, Seed: seed, Log: log}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func(opts adapters.StreamOptions) { defer wg.Done(); l.runMarketStream(ctx, client, opts) }(opts)
	opts.Seed++ // the user stream's own jitter

	svc, ok := l.orders.(orderService)
	if !ok {
		return
	}
	var resyncs sync.WaitGroup
	defer resyncs.Wait()
	resync := make(chan struct{}, 1)
	us, err := client.UserStream(adapters.UserHandler{
		OnOrder: func(o adapters.Order) { svc.m.Apply(ctx, o) },
		OnStatus: func(up bool, err error) {
			l.streams.setUserUp(up)
			if !up && err != nil && ctx.Err() == nil {
				l.log.Warn().Err(err).Msg("user data stream down; polling orders until it is back")
			}
		},
		// A reconnect may have missed events: query the orders in flight once, off the
		// stream's goroutine; resyncs asked for while one runs collapse into it.
		OnResync: func() {
			select {
			case resync <- struct{}{}:
			default:
			}
		},
	}, opts)
	if err != nil {
		l.log.Info().Err(err).Msg("user data stream not started; polling orders")
		return
	}
	resyncs.Add(1)
	go func() {
		defer resyncs.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-resync:
				if err := svc.m.ResyncInFlight(ctx); err != nil && ctx.Err() == nil {
					l.log.Warn().Err(err).Msg("resync of orders in flight after a user data gap failed")
				}
			}
		}
	}()
	if err := us.Run(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		l.log.Error().Err(err).Msg("user data stream stopped; polling orders")
		l.streams.setUserUp(false)
		// The WebSocket API refusing the key is an auth failure like a REST 401: halt. A key
		// type the logon does not support (-4056) is a configuration matter, not a bad key.
		if errors.Is(err, adapters.ErrStreamAuth) && !errors.Is(err, adapters.ErrStreamKeyUnsupported) {
			why := "auth failure on the user data stream: " + scheduler.Redact(err.Error())
			if terr := l.sw.TripAuto(context.WithoutCancel(ctx), why); terr != nil {
				l.log.Error().Err(terr).Msg("could not record the kill switch after a stream auth failure; this process is halted anyway")
			}
		}
	}
}

// wsLimiter is the one connection limiter of every stream of the bot (market, user data,
// candles): the exchange counts attempts per IP, whichever stream makes them.
func (l *Loop) wsLimiter() stream.AttemptLimiter {
	l.wsOnce.Do(func() { l.wsLim = l.connectionLimiter() })
	return l.wsLim
}

// connectionLimiter caps WebSocket connection attempts: the exchange counts them per IP, so
// in fleet mode the cap is the fleet's (one window in Redis), with a local share of it
// (cap ÷ fleet.size) while Redis does not answer.
func (l *Loop) connectionLimiter() stream.AttemptLimiter {
	// The exchange's own count where the adapter says it (Coinbase: per second), else
	// adapters/stream's default (Binance's, per 5 minutes).
	limit, window := stream.DefaultMaxAttempts, stream.DefaultAttemptWindow
	if cl := connectionLimit(l.ex); cl != nil {
		if m, w := cl.StreamConnectionLimit(); m > 0 && w > 0 {
			limit, window = m, w
		}
	}
	if l.fleet == nil {
		return stream.NewLimiter(stream.LimiterConfig{Max: limit, Window: window}, l.clk)
	}
	a := &fleetAttempts{fl: l.fleet, clk: l.clk, max: int64(limit), window: window}
	// Rounded down, so the fleet's total stays within the limit; a fleet larger than the
	// limit gets no local share and waits for Redis.
	if share := limit / max(1, l.fleet.Options().Size); share > 0 {
		a.local = stream.NewLimiter(stream.LimiterConfig{Max: share, Window: window}, l.clk)
	}
	return a
}

// connectionLimit returns ex's adapters.ConnectionLimit (unwrapAs); nil when there is none.
func connectionLimit(ex adapters.Exchange) adapters.ConnectionLimit {
	cl, _ := unwrapAs[adapters.ConnectionLimit](ex)
	return cl
}

// fleetAttempts is a stream.AttemptLimiter shared by the fleet through Redis.
type fleetAttempts struct {
	fl     *fleet.Fleet
	clk    clock.Clock
	max    int64
	window time.Duration
	local  *stream.Limiter // this instance's share while Redis is down; nil: none
}

func (a *fleetAttempts) Wait(ctx context.Context) error {
	for {
		down, _ := a.fl.Down()
		var wait time.Duration
		var err error
		if !down {
			wait, err = a.fl.TakeAttempt(ctx, "ws_connections", a.max, a.window)
		}
		if down || err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if a.local != nil {
				return a.local.Wait(ctx)
			}
			wait = time.Second // no local share: ask Redis again
		}
		if wait == 0 {
			return nil
		}
		if !clock.Sleep(ctx, a.clk, wait) {
			return ctx.Err()
		}
	}
}

// runMarketStream follows every subscribed symbol over one combined market stream. A symbol
// subscribed later restarts it with the new set: one reconnect and one snapshot per symbol,
// rare (strategies subscribe when they start), and never a REST poll forever.
func (l *Loop) runMarketStream(ctx context.Context, client adapters.Streamer, opts adapters.StreamOptions) {
	for {
		select { // what was added so far is in the set read next
		case <-l.feed.added:
		default:
		}
		symbols := l.feed.symbols()
		var stop context.CancelFunc = func() {}
		done := make(chan struct{})
		if len(symbols) == 0 {
			close(done)
		} else if ms, err := client.MarketStream(symbols, adapters.MarketHandler{
			OnBook:   l.streamQuote,
			OnTrade:  func(t adapters.Trade) { l.feed.fanOut(t.Symbol, strategy.Trade(t)) },
			OnStatus: l.streamStatus,
		}, opts); err != nil {
			if errors.Is(err, adapters.ErrNoStreams) {
				l.log.Info().Msg("the exchange adapter has no market stream; polling REST")
				return
			}
			l.log.Error().Err(err).Strs("symbols", symbols).Msg("market stream not started; polling REST")
			close(done)
		} else {
			for _, sym := range symbols {
				l.feed.setBook(sym, ms.Book(sym))
			}
			l.streams.own(symbols, true)
			var mctx context.Context
			mctx, stop = context.WithCancel(ctx)
			go func() {
				defer close(done)
				defer l.streams.own(symbols, false)
				_ = ms.Run(mctx)
			}()
		}
		select {
		case <-ctx.Done():
			stop()
			<-done
			return
		case <-l.feed.added:
			stop()
			<-done
			opts.Seed++
			l.log.Info().Strs("symbols", l.feed.symbols()).Msg("new subscription: market stream restarts with the new symbols")
		}
	}
}

// streamQuote publishes a symbol's book top as a Quote, stamped with the exchange's event time.
// An empty side or a crossed top is not published: the feed marks the symbol stale instead.
func (l *Loop) streamQuote(symbol string, book *adapters.OrderBook, u adapters.DepthUpdate) {
	bid, ask, _ := book.Top()
	l.feed.publish(strategy.Quote{Symbol: symbol, BidPrice: bid.Price, BidQty: bid.Quantity,
		AskPrice: ask.Price, AskQty: ask.Quantity, Time: u.Time})
}

// streamStatus marks a symbol stale while its stream is down or resyncing (the poller takes
// over), and fresh once its book is synced (the poller stops), unless the synced book's top
// is not sane.
func (l *Loop) streamStatus(symbol string, fresh bool, reason string) {
	l.streams.setHealthy(symbol, fresh)
	if fresh {
		if p := l.feed.bookProblem(symbol); p != "" {
			l.feed.judge(symbol, "refused quote: "+p)
			return
		}
	}
	l.feed.setStale(symbol, !fresh, reason)
}
