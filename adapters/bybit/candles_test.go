package bybit_test

import (
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// TestCandles reads one-minute candles from the Bybit dialect of the simulator: oldest first,
// each the same as the simulator's own klines of that minute, the current one still open; a
// 1s interval or a time zone is refused before anything is sent.
func TestCandles(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 5, 4, 12, 0, 30, 0, time.UTC))
	f := newFixture(t, sim.Config{Clock: clk, WalkInterval: 5 * time.Second}, fixtureOpts{})
	ctx := testCtx(t)
	if _, err := f.client.Candles(ctx, "BTCUSDT", "1m", adapters.CandleQuery{Limit: 1}); err != nil {
		t.Fatal(err) // the walk starts with the first request
	}
	clk.Advance(5 * time.Minute)
	ks, err := f.client.Candles(ctx, "BTCUSDT", "1m", adapters.CandleQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.sim.Candles("BTCUSDT", "1m", adapters.CandleQuery{Limit: 10})
	if len(ks) != len(want) || len(ks) < 5 {
		t.Fatalf("%d candles, the simulator has %d", len(ks), len(want))
	}
	for i, k := range ks {
		w := want[i]
		if !k.OpenTime.Equal(w.OpenTime) || !k.Open.Equal(w.Open) || !k.High.Equal(w.High) || !k.Low.Equal(w.Low) ||
			!k.Close.Equal(w.Close) || !k.Volume.Equal(w.Volume) || !k.QuoteVolume.Equal(w.QuoteVolume) || k.Closed != w.Closed {
			t.Fatalf("candle %d: %+v, want %+v", i, k, w)
		}
	}
	if ks[len(ks)-1].Closed || !ks[0].Closed {
		t.Fatalf("closed flags: first %v, last %v", ks[0].Closed, ks[len(ks)-1].Closed)
	}
	n := f.sim.Stats().Total.Requests
	for _, q := range []struct {
		iv adapters.Interval
		q  adapters.CandleQuery
	}{{"1s", adapters.CandleQuery{}}, {"1m", adapters.CandleQuery{TimeZone: "8"}}, {"1m", adapters.CandleQuery{Limit: 1001}}} {
		if _, err := f.client.Candles(ctx, "BTCUSDT", q.iv, q.q); scheduler.ClassOf(err) != scheduler.ClassValidation {
			t.Errorf("%s %+v: %v, want a validation error", q.iv, q.q, err)
		}
	}
	if f.sim.Stats().Total.Requests != n {
		t.Fatal("a refused query was sent")
	}
}
