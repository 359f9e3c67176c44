package coinbase_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestCandles: GET /market/products/{id}/candles returns the price walk's trades as candles,
// oldest first, each inside its own low and high with volume; FIVE_MINUTE candles hold the
// ONE_MINUTE ones; a bad granularity or more than 350 candles is refused before sending, and
// the simulator refuses an oversized span as Coinbase does.
func TestCandles(t *testing.T) {
	f := newFixture(t, sim.Config{WalkInterval: 10 * time.Millisecond}, fixtureOpts{})
	ctx := testCtx(t)
	if _, err := f.client.Ticker(ctx, "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	// The walk steps every 10 ms: give it a few hundred steps (the test's load, not a wait).
	time.Sleep(300 * time.Millisecond)
	now := time.Now()
	ones, err := f.client.Candles(ctx, "BTCUSDT", "ONE_MINUTE", now.Add(-30*time.Minute), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(ones) == 0 {
		t.Fatal("no candle after 300 ms of a walk stepping every 10 ms")
	}
	for i, c := range ones {
		if c.Low.GreaterThan(c.High) || !c.Volume.IsPositive() || !c.Low.IsPositive() {
			t.Fatalf("candle %+v", c)
		}
		if i > 0 && !ones[i-1].Start.Before(c.Start) {
			t.Fatalf("not oldest first: %v then %v", ones[i-1].Start, c.Start)
		}
	}
	fives, err := f.client.Candles(ctx, "BTCUSDT", "FIVE_MINUTE", now.Add(-30*time.Minute), now.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	last, lastFive := ones[len(ones)-1], fives[len(fives)-1]
	if lastFive.High.LessThan(last.High) || lastFive.Low.GreaterThan(last.Low) || lastFive.Close.IsZero() {
		t.Fatalf("five-minute candle %+v does not hold the minute %+v", lastFive, last)
	}

	before := f.sim.Stats().Total.Requests
	if _, err := f.client.Candles(ctx, "BTCUSDT", "TEN_MINUTE", now.Add(-time.Hour), now); scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("a bad granularity: %v", err)
	}
	if _, err := f.client.Candles(ctx, "BTCUSDT", "ONE_MINUTE", now.Add(-(coinbase.MaxCandles+1)*time.Minute), now); scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("%d candles: %v", coinbase.MaxCandles+1, err)
	}
	if n := f.sim.Stats().Total.Requests - before; n != 0 {
		t.Fatalf("%d requests for refused spans", n)
	}
	resp, err := http.Get(f.sim.URL() + "/api/v3/brokerage/market/products/BTC-USDT/candles?granularity=ONE_MINUTE&start=0&end=36000")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the simulator answered %d to 600 candles", resp.StatusCode)
	}
}
