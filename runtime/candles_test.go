package runtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/strategy"
)

// candleExchange is fakeExchange with 1m candles from listed to now: candle i closes at
// listed+i+1 minutes with close price 100+i.
type candleExchange struct {
	*fakeExchange
	clk    clock.Clock
	listed time.Time
	calls  atomic.Int64
	gate   chan struct{} // when set, Candles waits for it
}

func (c *candleExchange) Candles(ctx context.Context, symbol string, iv adapters.Interval, q adapters.CandleQuery, _ ...adapters.CallOption) ([]adapters.Candle, error) {
	c.calls.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	now := c.clk.Now()
	var out []adapters.Candle
	for open := c.listed; !open.After(now); open = open.Add(time.Minute) {
		i := int64(open.Sub(c.listed) / time.Minute)
		px := decimal.NewFromInt(100 + i)
		out = append(out, adapters.Candle{Symbol: symbol, Interval: iv, OpenTime: open, CloseTime: open.Add(time.Minute - time.Millisecond),
			Open: px, High: px, Low: px, Close: px, Closed: !open.Add(time.Minute).After(now)})
	}
	return out[max(0, len(out)-q.Limit):], nil
}

func TestCandlesShareOneReadAndServeFromCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clock.Real{}
		ex := &candleExchange{fakeExchange: &fakeExchange{}, clk: clk, listed: time.Now().Truncate(time.Minute).Add(-30 * time.Minute), gate: make(chan struct{})}
		f := newCandleFeed(ex, clk, jitter.New(1), zerolog.Nop(), false, func(string, strategy.Event) {})
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				cs, err := f.candles(context.Background(), "a", "BTCUSDT", "1m", 10)
				if err != nil || len(cs) != 10 || !cs[9].Close.Equal(decimal.NewFromInt(129)) {
					t.Errorf("candles: %v %v", err, cs)
				}
			})
		}
		synctest.Wait() // one caller inside the exchange call, the rest waiting on it
		close(ex.gate)
		wg.Wait()
		if n := ex.calls.Load(); n != 1 {
			t.Fatalf("20 concurrent callers made %d klines calls, want 1", n)
		}
		// 30 closed candles are known: asking for 25 more costs nothing; asking for more than
		// a young market has costs nothing either until a candle closes.
		if cs, _ := f.candles(context.Background(), "b", "BTCUSDT", "1m", 25); len(cs) != 25 || ex.calls.Load() != 1 {
			t.Fatalf("cached: %d candles, %d calls", len(cs), ex.calls.Load())
		}
		if cs, _ := f.candles(context.Background(), "b", "BTCUSDT", "1m", 500); len(cs) != 30 || ex.calls.Load() != 1 {
			t.Fatalf("more than there is: %d candles, %d calls", len(cs), ex.calls.Load())
		}
		for _, bad := range []int{0, 1001} {
			if _, err := f.candles(context.Background(), "b", "BTCUSDT", "1m", bad); err == nil {
				t.Fatalf("n=%d accepted", bad)
			}
		}
		if _, err := f.candles(context.Background(), "b", "BTCUSDT", "1H", 5); err == nil {
			t.Fatal("interval 1H accepted")
		}
		if _, err := newCandleFeed(&fakeExchange{}, clk, jitter.New(1), zerolog.Nop(), false, nil).candles(context.Background(), "a", "BTCUSDT", "1m", 5); !errors.Is(err, adapters.ErrNoCandles) {
			t.Fatalf("an exchange without candles: %v", err)
		}
	})
}

// TestCandlesCloseEventsWithoutAStream: with no kline stream, each close is read over REST
// shortly after it is due and delivered once, in order, to the strategies that asked.
func TestCandlesCloseEventsWithoutAStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clock.Real{}
		ex := &candleExchange{fakeExchange: &fakeExchange{}, clk: clk, listed: time.Now().Truncate(time.Minute).Add(-10 * time.Minute)}
		var mu sync.Mutex
		got := map[string][]strategy.Candle{}
		f := newCandleFeed(ex, clk, jitter.New(1), zerolog.Nop(), false, func(name string, ev strategy.Event) {
			mu.Lock()
			got[name] = append(got[name], ev.(strategy.Candle))
			mu.Unlock()
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); f.run(ctx) }()
		if _, err := f.candles(ctx, "a", "BTCUSDT", "1m", 5); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Minute + 30*time.Second)
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		cs := got["a"]
		if len(cs) != 3 {
			t.Fatalf("%d close events in 3.5 minutes, want 3: %v", len(cs), cs)
		}
		for i, c := range cs {
			if !c.Closed || !c.Close.Equal(decimal.NewFromInt(int64(110+i))) {
				t.Fatalf("event %d: %+v, want the close of candle %d", i, c, 10+i)
			}
		}
		if n := ex.calls.Load(); n != 4 {
			t.Fatalf("%d klines calls, want 4 (the first read and one per close)", n)
		}
		last, _ := f.candles(context.Background(), "a", "BTCUSDT", "1m", 1)
		if len(last) != 1 || !last[0].Close.Equal(decimal.NewFromInt(112)) || ex.calls.Load() != 4 {
			t.Fatalf("after the closes: %+v (%d calls)", last, ex.calls.Load())
		}
	})
}

// TestCandlesStreamCloseAfterAHoleWaitsForREST: a close from the stream that does not follow
// the series' last one (the stream was down across closes and came back) is not appended
// past the hole: the series is read over REST at once and the missed closes and that one are
// delivered once each, in order.
func TestCandlesStreamCloseAfterAHoleWaitsForREST(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clk := clock.Real{}
		ex := &candleExchange{fakeExchange: &fakeExchange{}, clk: clk, listed: time.Now().Truncate(time.Minute).Add(-10 * time.Minute)}
		var mu sync.Mutex
		var got []strategy.Candle
		f := newCandleFeed(ex, clk, jitter.New(1), zerolog.Nop(), false, func(_ string, ev strategy.Event) {
			mu.Lock()
			got = append(got, ev.(strategy.Candle))
			mu.Unlock()
		})
		key := adapters.CandleSeries{Symbol: "BTCUSDT", Interval: "1m"}
		if _, err := f.candles(context.Background(), "a", key.Symbol, key.Interval, 5); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3*time.Minute + time.Second) // candles 10, 11 and 12 closed; the stream brings only 12
		open := ex.listed.Add(12 * time.Minute)
		px := decimal.NewFromInt(112)
		f.merge(key, []adapters.Candle{{Symbol: key.Symbol, Interval: key.Interval, OpenTime: open, CloseTime: open.Add(time.Minute - time.Millisecond),
			Open: px, High: px, Low: px, Close: px, Closed: true}}, time.Time{})
		mu.Lock()
		if len(got) != 0 {
			t.Fatalf("a close past a hole delivered before the hole was read: %+v", got)
		}
		mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); f.run(ctx) }()
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 3 {
			t.Fatalf("%d closes delivered, want 10, 11 and 12: %+v", len(got), got)
		}
		for i, c := range got {
			if !c.Close.Equal(decimal.NewFromInt(int64(110 + i))) {
				t.Fatalf("close %d: %+v, want candle %d's", i, c, 10+i)
			}
		}
		if n := ex.calls.Load(); n != 2 {
			t.Fatalf("%d klines calls, want 2 (the first read and the hole's)", n)
		}
	})
}
