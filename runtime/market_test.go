package runtime

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/strategy"
)

func TestInfoCacheSharesOneInFlightCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ex := &fakeExchange{infoGate: make(chan struct{})}
		clk := clock.NewFake(time.Unix(1000, 0))
		c := newInfoCache(ex, time.Minute, clk)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := c.Symbol(context.Background(), "BTCUSDT"); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait() // every caller is parked: one inside the exchange call, the rest on it
		close(ex.infoGate)
		wg.Wait()
		if n := ex.infoCalls.Load(); n != 1 {
			t.Fatalf("20 concurrent callers made %d exchange-info calls, want 1", n)
		}
		// Within the TTL: served from cache. After it: one new call.
		if _, err := c.Get(context.Background()); err != nil || ex.infoCalls.Load() != 1 {
			t.Fatalf("cached get: err=%v calls=%d", err, ex.infoCalls.Load())
		}
		clk.Advance(time.Minute)
		if _, err := c.Get(context.Background()); err != nil || ex.infoCalls.Load() != 2 {
			t.Fatalf("after TTL: err=%v calls=%d", err, ex.infoCalls.Load())
		}
		if _, err := c.Symbol(context.Background(), "NOPE"); err == nil {
			t.Fatal("unknown symbol must be an error")
		}
	})
}

func TestMarketFeedQuotesAndStaleSignal(t *testing.T) {
	ex := &fakeExchange{}
	ex.setBook("BTCUSDT", "100.00", "100.10", nil)
	clk := clock.NewFake(time.Unix(1000, 0))
	var mu sync.Mutex
	got := map[string][]strategy.Event{}
	f := newMarketFeed(ex, clk, jitter.New(1), zerolog.Nop(), time.Second, func(name string, ev strategy.Event) {
		mu.Lock()
		got[name] = append(got[name], ev)
		mu.Unlock()
	})
	f.subscribe("a", "BTCUSDT")
	f.subscribe("b", "ETHUSDT")
	ctx := context.Background()

	f.poll(ctx, "BTCUSDT")
	if q, ok := f.quote("BTCUSDT"); !ok || q.Mid().String() != "100.05" {
		t.Fatalf("quote = %v, %v", q, ok)
	}
	ex.setBook("BTCUSDT", "100.00", "100.10", errors.New("boom"))
	f.poll(ctx, "BTCUSDT")
	f.poll(ctx, "BTCUSDT") // a second failure must not repeat the signal
	if _, ok := f.quote("BTCUSDT"); ok {
		t.Fatal("a stale symbol must not report a usable quote")
	}
	ex.setBook("BTCUSDT", "101.00", "101.10", nil)
	f.poll(ctx, "BTCUSDT")

	mu.Lock()
	defer mu.Unlock()
	if len(got["b"]) != 0 {
		t.Fatalf("strategy b did not subscribe to BTCUSDT but got %v", got["b"])
	}
	var kinds []string
	for _, ev := range got["a"] {
		switch e := ev.(type) {
		case strategy.Quote:
			kinds = append(kinds, "quote")
		case strategy.DataStatus:
			if e.Stale {
				kinds = append(kinds, "stale")
			} else {
				kinds = append(kinds, "fresh")
			}
		}
	}
	want := []string{"quote", "stale", "fresh", "quote"}
	if len(kinds) != len(want) {
		t.Fatalf("events %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("events %v, want %v", kinds, want)
		}
	}
}
