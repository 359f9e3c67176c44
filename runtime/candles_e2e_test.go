package runtime_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/strategy"
)

// candleFollower records the Candle events it gets.
type candleFollower struct {
	mu     sync.Mutex
	closes []strategy.Candle
}

func (f *candleFollower) OnEvent(_ context.Context, ev strategy.Event) error {
	if c, ok := ev.(strategy.Candle); ok {
		f.mu.Lock()
		f.closes = append(f.closes, c)
		f.mu.Unlock()
	}
	return nil
}

func (f *candleFollower) got() []strategy.Candle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]strategy.Candle(nil), f.closes...)
}

// TestCandleStreamGapIsRecoveredOverREST: a strategy follows one-second candles of the
// simulator over the kline stream; every stream connection is then dropped as soon as it
// opens for longer than two closes. The strategy still gets every close, each once and in
// order, the ones the stream missed read over REST, and the series it reads back is the
// simulator's.
func TestCandleStreamGapIsRecoveredOverREST(t *testing.T) {
	dir := t.TempDir()
	follower := &candleFollower{}
	envs := make(chan strategy.Env, 1)
	mod := strategy.Module("follower", func(env strategy.Env, _ struct{}) (strategy.Strategy, error) {
		envs <- env
		return follower, nil
	})
	b := startBotWith(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=true"), []fx.Option{mod})
	defer b.app.RequireStop()
	var env strategy.Env
	select {
	case env = <-envs:
	case <-time.After(20 * time.Second):
		t.Fatalf("the strategy did not start; logs:\n%s", b.logs.String())
	}
	if b.sim == nil {
		t.Fatal("no embedded simulator")
	}
	if _, err := env.Market.Candles(context.Background(), "BTCUSDT", "1s", 5); err != nil {
		t.Fatal(err)
	}
	waitCloses := func(what string, until time.Time) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			cs := follower.got()
			if n := len(cs); n > 0 && !cs[n-1].OpenTime.Before(until) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %d closes; logs:\n%s", what, len(cs), b.logs.String())
			}
			time.Sleep(50 * time.Millisecond) // wall time is what moves the simulator's candles
		}
	}
	// Two closes over the stream first.
	waitCloses("closes over the stream", time.Now().Truncate(time.Second).Add(time.Second))
	restBefore := b.sim.Stats().Endpoints["GET /api/v3/klines"].Requests

	// The stream is down across at least two closes.
	b.sim.SetStreamFaults(sim.StreamFaults{DropEveryMS: 1})
	downFrom := time.Now()
	time.Sleep(2500 * time.Millisecond) // the outage itself: wall time the candles close in
	b.sim.SetStreamFaults(sim.StreamFaults{})
	upAt := time.Now()

	// Every close of the outage arrives, and one after it.
	waitCloses("the closes of the outage and after it", upAt.Truncate(time.Second).Add(time.Second))
	cs := follower.got()
	for i, c := range cs {
		if !c.Closed || c.Symbol != "BTCUSDT" || c.Interval != "1s" {
			t.Fatalf("event %d: %+v", i, c)
		}
		if i > 0 && !c.OpenTime.Equal(cs[i-1].OpenTime.Add(time.Second)) {
			t.Logf("outage %s to %s; logs:\n%s", downFrom.Format(time.RFC3339Nano), upAt.Format(time.RFC3339Nano), b.logs.String())
			t.Fatalf("event %d opens at %s after %s: a close missed, repeated or out of order", i,
				c.OpenTime.Format(time.RFC3339Nano), cs[i-1].OpenTime.Format(time.RFC3339Nano))
		}
	}
	if first, last := cs[0].OpenTime, cs[len(cs)-1].OpenTime; first.After(downFrom.Add(-time.Second)) || last.Before(upAt) {
		t.Fatalf("closes from %s to %s do not span the outage %s to %s", first, last, downFrom, upAt)
	}
	if rest := b.sim.Stats().Endpoints["GET /api/v3/klines"].Requests; rest <= restBefore {
		t.Fatalf("no klines read over REST during the outage (%d before, %d after): the stream delivered every close", restBefore, rest)
	}
	// What the strategy got is the simulator's own series.
	ks, ok := b.sim.Candles("BTCUSDT", "1s", adapters.CandleQuery{Start: cs[0].OpenTime, Limit: len(cs)})
	if !ok || len(ks) < len(cs) {
		t.Fatalf("simulator klines: %v %d", ok, len(ks))
	}
	for i, c := range cs {
		k := ks[i]
		if !k.OpenTime.Equal(c.OpenTime) || !k.Open.Equal(c.Open) || !k.High.Equal(c.High) || !k.Low.Equal(c.Low) ||
			!k.Close.Equal(c.Close) || !k.Volume.Equal(c.Volume) {
			t.Fatalf("close %d: got %+v, the simulator has %+v", i, c, k)
		}
	}
	// And Candles reads the same series back.
	back, err := env.Market.Candles(context.Background(), "BTCUSDT", "1s", len(cs))
	if err != nil || len(back) != len(cs) || !back[len(back)-1].OpenTime.Equal(cs[len(cs)-1].OpenTime) {
		t.Fatalf("Candles after: %v, %d candles", err, len(back))
	}
}
