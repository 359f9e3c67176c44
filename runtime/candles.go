package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/strategy"
)

// maxCandles is the most closed candles a series keeps and Candles returns: one klines call
// (weight 2 whatever its limit) reads that many.
const maxCandles = 1000

// candleGrace is how long after a candle's close its closing event may take to arrive on the
// stream before the feed reads it over REST instead (Binance pushes klines every 1-2 s).
const candleGrace = 5 * time.Second

// candleFeed serves env.Market.Candles and the strategy.Candle events. A series (symbol,
// interval) is read over REST once, the first time a strategy asks for it (concurrent callers
// share that one call), then kept current from the exchange's kline stream: each closed
// candle is appended and delivered to the strategies that asked for the series. A close the
// stream did not deliver within candleGrace (stream down, or an exchange without one) is read
// over REST, so the series never silently falls behind.
type candleFeed struct {
	ex      adapters.Exchange
	clk     clock.Clock
	rng     *jitter.Rand
	log     zerolog.Logger
	deliver func(strategyName string, ev strategy.Event)
	streams bool // market.streams on and the adapter has streams

	group singleflight.Group
	mu    sync.Mutex
	sers  map[adapters.CandleSeries]*candleSeries
	// added (for the REST reader) and restream (for the stream) have a value after a series
	// was added.
	added, restream chan struct{}
	limiter         adapters.AttemptLimiter // shared with the market streams; nil: the stream's own
}

type candleSeries struct {
	closed []strategy.Candle // oldest first
	loaded bool              // read over REST at least once
	// short: the last REST read returned fewer closed candles than asked (a young market):
	// the series holds all there is, with the closes since, so asking for more than it has
	// reads nothing again.
	short bool
	subs  map[string]bool // strategies told of each close
	// readAt: when the last REST read was asked for.
	readAt time.Time
	// gap: the stream brought a close that does not follow the series' last one (closes
	// missed while it was down and back before the REST read was due); the series is read
	// over REST at once, which brings the missed closes and that one, in order.
	gap bool
}

func newCandleFeed(ex adapters.Exchange, clk clock.Clock, rng *jitter.Rand, log zerolog.Logger, streams bool,
	deliver func(string, strategy.Event)) *candleFeed {
	return &candleFeed{ex: ex, clk: clk, rng: rng, log: log, streams: streams, deliver: deliver,
		sers: map[adapters.CandleSeries]*candleSeries{}, added: make(chan struct{}, 1), restream: make(chan struct{}, 1)}
}

// candles returns the last n closed candles of symbol at interval and subscribes the strategy
// name to the series' Candle events.
func (f *candleFeed) candles(ctx context.Context, name, symbol string, interval adapters.Interval, n int) ([]strategy.Candle, error) {
	if _, err := adapters.ParseInterval(string(interval)); err != nil {
		return nil, fmt.Errorf("runtime: candles: %w", err)
	}
	if n < 1 || n > maxCandles {
		return nil, fmt.Errorf("runtime: candles: n %d: want 1..%d", n, maxCandles)
	}
	if _, ok := f.ex.(adapters.CandleReader); !ok {
		return nil, fmt.Errorf("runtime: candles: %w", adapters.ErrNoCandles)
	}
	key := adapters.CandleSeries{Symbol: symbol, Interval: interval}
	f.mu.Lock()
	s := f.sers[key]
	if s == nil {
		s = &candleSeries{subs: map[string]bool{}}
		f.sers[key] = s
		for _, ch := range []chan struct{}{f.added, f.restream} {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	if name != "" {
		s.subs[name] = true
	}
	fresh := s.loaded && !s.gap && !f.overdueLocked(key, s, f.clk.Now()) && (len(s.closed) >= n || s.short)
	var out []strategy.Candle
	if fresh {
		out = lastN(s.closed, n)
	}
	f.mu.Unlock()
	if fresh {
		return out, nil
	}
	if err := f.load(ctx, key); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return lastN(f.sers[key].closed, n), nil
}

func lastN(cs []strategy.Candle, n int) []strategy.Candle {
	return append([]strategy.Candle(nil), cs[max(0, len(cs)-n):]...)
}

// overdueLocked reports whether a candle after the series' last closed one should have
// closed more than candleGrace ago.
// requires that f.mu is held.
func (f *candleFeed) overdueLocked(key adapters.CandleSeries, s *candleSeries, now time.Time) bool {
	next, ok := nextClose(key, s)
	return !ok || now.Sub(next) > candleGrace
}

// nextClose is when the series' next candle closes: the one after its last closed candle, or
// for an empty series the one open when it was read; false for a series never read.
// requires that f.mu is held.
func nextClose(key adapters.CandleSeries, s *candleSeries) (time.Time, bool) {
	iv := key.Interval
	switch {
	case len(s.closed) > 0:
		return iv.Next(iv.Next(s.closed[len(s.closed)-1].OpenTime, 0), 0), true
	case !s.readAt.IsZero():
		return iv.Next(iv.OpenTime(s.readAt, 0), 0), true
	}
	return time.Time{}, false
}

// load reads a series over REST (maxCandles of them: klines weigh the same whatever the
// limit); concurrent loads of one series share one call, which outlives a caller that gives up.
func (f *candleFeed) load(ctx context.Context, key adapters.CandleSeries) error {
	ch := f.group.DoChan(key.Symbol+"|"+string(key.Interval), func() (any, error) {
		cr := f.ex.(adapters.CandleReader)
		asked := f.clk.Now()
		ks, err := cr.Candles(context.WithoutCancel(ctx), key.Symbol, key.Interval, adapters.CandleQuery{Limit: maxCandles})
		if err != nil {
			return nil, err
		}
		f.merge(key, ks, asked)
		return nil, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return fmt.Errorf("runtime: candles of %s %s: %w", key.Symbol, key.Interval, r.Err)
		}
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// merge adds candles to a series: closed ones newer than its last are appended and, once
// the series was loaded before, delivered as Candle events; open ones are ignored.
// readAt is when the REST read was asked for, zero for a candle from the stream.
func (f *candleFeed) merge(key adapters.CandleSeries, ks []adapters.Candle, readAt time.Time) {
	f.mu.Lock()
	s := f.sers[key]
	if s == nil {
		f.mu.Unlock()
		return
	}
	var news []strategy.Candle
	var older []strategy.Candle
	closedN := 0
	gapped := false
	for _, k := range ks {
		if !k.Closed || k.Symbol != key.Symbol || k.Interval != key.Interval {
			continue
		}
		closedN++
		c := strategy.Candle(k)
		if n := len(s.closed); readAt.IsZero() && n > 0 && c.OpenTime.After(key.Interval.Next(s.closed[n-1].OpenTime, 0)) {
			// From the stream, past a hole: appending it would leave the hole for good
			// (the next close due would follow it). Read the series over REST instead.
			gapped = true
			continue
		}
		switch {
		case len(s.closed) == 0 || c.OpenTime.After(s.closed[len(s.closed)-1].OpenTime):
			if len(news) == 0 || c.OpenTime.After(news[len(news)-1].OpenTime) {
				news = append(news, c)
			}
		case c.OpenTime.Before(s.closed[0].OpenTime):
			older = append(older, c)
		}
	}
	sort.Slice(older, func(i, j int) bool { return older[i].OpenTime.Before(older[j].OpenTime) })
	announce := s.loaded
	s.closed = append(append(older, s.closed...), news...)
	if len(s.closed) > maxCandles {
		s.closed = append([]strategy.Candle(nil), s.closed[len(s.closed)-maxCandles:]...)
	}
	if !readAt.IsZero() {
		s.loaded, s.readAt = true, readAt
		s.short = closedN < maxCandles
		s.gap = false
	}
	if gapped {
		s.gap = true
		select { // wake the REST reader
		case f.added <- struct{}{}:
		default:
		}
	}
	var subs []string
	if announce {
		for n := range s.subs {
			subs = append(subs, n)
		}
		sort.Strings(subs)
	}
	f.mu.Unlock()
	for _, c := range news {
		for _, n := range subs {
			f.deliver(n, c)
		}
	}
}

// series lists the series asked for so far, sorted.
func (f *candleFeed) series() []adapters.CandleSeries {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]adapters.CandleSeries, 0, len(f.sers))
	for k := range f.sers {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Symbol != out[j].Symbol {
			return out[i].Symbol < out[j].Symbol
		}
		return out[i].Interval < out[j].Interval
	})
	return out
}

// run keeps the series current until ctx ends: the kline stream when there is one, and a
// REST read of any series whose next close is overdue.
func (f *candleFeed) run(ctx context.Context) {
	if _, ok := f.ex.(adapters.CandleReader); !ok {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if cs, ok := f.ex.(adapters.CandleStreamer); ok && f.streams {
		wg.Go(func() { f.runStream(ctx, cs) })
	}
	for {
		now := f.clk.Now()
		wait := time.Minute
		for _, key := range f.series() {
			f.mu.Lock()
			s := f.sers[key]
			due := s.loaded && (s.gap || f.overdueLocked(key, s, now))
			next, known := nextClose(key, s)
			next = next.Add(candleGrace)
			f.mu.Unlock()
			if due {
				if err := f.load(ctx, key); err != nil && ctx.Err() == nil {
					f.log.Warn().Err(err).Str("symbol", key.Symbol).Str("interval", string(key.Interval)).
						Msg("candles: reading a missed close failed; retrying")
				}
				wait = min(wait, time.Second)
				continue
			}
			if known {
				wait = min(wait, max(next.Sub(now), 10*time.Millisecond))
			}
		}
		c, stop := f.clk.NewTimer(jitter.Spread(f.rng, wait, 0.1))
		select {
		case <-ctx.Done():
			stop()
			return
		case <-f.added: // a new series: look again
			stop()
		case <-c:
		}
	}
}

// runStream follows every series over one candle stream, restarted with the new set when a
// series is added (rare: strategies ask for their candles when they start).
func (f *candleFeed) runStream(ctx context.Context, cs adapters.CandleStreamer) {
	seed := f.rng.Uint64()
	for {
		select { // what was added so far is in the set read next
		case <-f.restream:
		default:
		}
		keys := f.series()
		done := make(chan struct{})
		stop := context.CancelFunc(func() {})
		if len(keys) == 0 {
			close(done)
		} else if st, err := cs.CandleStream(keys, adapters.CandleHandler{
			OnCandle: func(c adapters.Candle) {
				if c.Closed {
					f.merge(adapters.CandleSeries{Symbol: c.Symbol, Interval: c.Interval}, []adapters.Candle{c}, time.Time{})
				}
			},
		}, adapters.StreamOptions{Limiter: f.limiter, Clock: f.clk, Seed: seed}); err != nil {
			if !errors.Is(err, adapters.ErrNoCandles) {
				f.log.Warn().Err(err).Msg("candle stream not started; reading closes over REST")
			}
			return
		} else {
			var sctx context.Context
			sctx, stop = context.WithCancel(ctx)
			go func() { defer close(done); _ = st.Run(sctx) }()
		}
		select {
		case <-ctx.Done():
			stop()
			<-done
			return
		case <-f.restream:
			stop()
			<-done
			seed++
		}
	}
}
