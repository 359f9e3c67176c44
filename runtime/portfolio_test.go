package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
)

// TestPortfolioRefreshIsSpread walks the balance refresh on a fake clock: the first refresh
// waits a random part of the interval and every later one the interval ±20%, filling that
// range, so instances of a fleet started together do not refresh in lockstep.
func TestPortfolioRefreshIsSpread(t *testing.T) {
	const interval = 10 * time.Second
	clk := clock.NewFake(time.Unix(1000, 0))
	p := &portfolio{ex: &fakeExchange{}, clk: clk, rng: jitter.New(1), log: zerolog.Nop(), interval: interval}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	defer func() { cancel(); <-done }()

	next := func() time.Duration {
		clk.BlockUntil(1)
		at, _ := clk.NextDeadline()
		d := at.Sub(clk.Now())
		clk.Set(at)
		return d
	}
	if d := next(); d < 0 || d >= interval {
		t.Fatalf("first refresh after %v, want in [0, %v)", d, interval)
	}
	lo, hi := 8*time.Second, 12*time.Second
	lowest, highest := hi, lo
	for range 300 {
		d := next()
		if d < lo || d > hi {
			t.Fatalf("refresh interval %v outside [%v, %v]", d, lo, hi)
		}
		lowest, highest = min(lowest, d), max(highest, d)
	}
	if lowest > lo+400*time.Millisecond || highest < hi-400*time.Millisecond {
		t.Fatalf("refresh intervals span [%v, %v]; want them to fill [%v, %v]", lowest, highest, lo, hi)
	}
}
