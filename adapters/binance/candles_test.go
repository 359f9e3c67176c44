package binance_test

import (
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestCandlesStreamAgreesWithREST follows 1s candles on the kline stream and reads the same
// candle over REST: the closed candle the stream delivers is the one GET /api/v3/klines
// answers for its open time, and candles still open are marked so.
func TestCandlesStreamAgreesWithREST(t *testing.T) {
	s := startSim(t, sim.Config{WalkInterval: 20 * time.Millisecond, Streams: sim.StreamConfig{Interval: 10 * time.Millisecond}})
	f := newClientOn(t, s, fixtureOpts{cfg: withStreams(s)})
	ctx := testCtx(t)
	closed := make(chan adapters.Candle, 64)
	up := make(chan bool, 8)
	cs, err := f.client.CandleStream([]adapters.CandleSeries{{Symbol: "BTCUSDT", Interval: "1s"}, {Symbol: "ETHUSDT", Interval: "1m"}},
		adapters.CandleHandler{
			OnCandle: func(c adapters.Candle) {
				if c.Closed && c.Interval == "1s" {
					select {
					case closed <- c:
					default:
					}
				}
			},
			OnStatus: func(u bool, _ error) { up <- u },
		}, adapters.StreamOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer runBackground(ctx, cs.Run)()
	var c adapters.Candle
	select {
	case c = <-closed:
	case <-ctx.Done():
		t.Fatal("no closed candle on the stream")
	}
	if !<-up {
		t.Fatal("first status is down")
	}
	rest, err := f.client.Candles(ctx, "BTCUSDT", "1s", adapters.CandleQuery{Start: c.OpenTime, Limit: 2})
	if err != nil || len(rest) == 0 {
		t.Fatalf("candles: %v %+v", err, rest)
	}
	r := rest[0]
	if !r.OpenTime.Equal(c.OpenTime) || !r.CloseTime.Equal(c.CloseTime) || !r.Open.Equal(c.Open) || !r.High.Equal(c.High) ||
		!r.Low.Equal(c.Low) || !r.Close.Equal(c.Close) || !r.Volume.Equal(c.Volume) || r.Trades != c.Trades || !r.Closed ||
		!r.QuoteVolume.Equal(c.QuoteVolume) || r.Symbol != "BTCUSDT" || r.Interval != "1s" {
		t.Fatalf("REST %+v\nstream %+v", r, c)
	}
	last, err := f.client.Candles(ctx, "BTCUSDT", "1m", adapters.CandleQuery{Limit: 1})
	if err != nil || len(last) != 1 || last[0].Closed {
		t.Fatalf("the current minute: %v %+v, want one open candle", err, last)
	}
}

// TestCandlesRefusesBadQueries: nothing is sent for an interval, limit or time zone Binance
// would refuse; the error is a validation failure naming what was wrong.
func TestCandlesRefusesBadQueries(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	for _, tc := range []struct {
		iv adapters.Interval
		q  adapters.CandleQuery
	}{
		{"2m", adapters.CandleQuery{}},
		{"1m", adapters.CandleQuery{Limit: 1001}},
		{"1m", adapters.CandleQuery{TimeZone: "+15:00"}},
	} {
		_, err := f.client.Candles(ctx, "BTCUSDT", tc.iv, tc.q)
		if scheduler.ClassOf(err) != scheduler.ClassValidation {
			t.Errorf("%s %+v: %v, want a validation error", tc.iv, tc.q, err)
		}
	}
	if n := len(f.sched.Requests()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}
