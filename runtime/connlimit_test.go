package runtime

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/clock"
)

// perSecondExchange is an adapter whose exchange counts connection attempts per second.
type perSecondExchange struct{ adapters.Exchange }

func (perSecondExchange) StreamConnectionLimit() (int, time.Duration) { return 3, time.Second }

// wrapping is an adapter around another, as the embedded simulator's is.
type wrapping struct {
	adapters.Exchange
	inner adapters.Exchange
}

func (w wrapping) Unwrap() adapters.Exchange { return w.inner }

// TestConnectionLimiterFollowsTheAdapter: the stream attempt limiter the runtime shares is sized
// by the adapter's adapters.ConnectionLimit (found through a wrapping adapter too): 3 attempts a
// second here, the 4th waits for the window; an adapter that says nothing gets
// adapters/stream's default.
func TestConnectionLimiterFollowsTheAdapter(t *testing.T) {
	for name, ex := range map[string]adapters.Exchange{"direct": perSecondExchange{}, "wrapped": wrapping{inner: perSecondExchange{}}} {
		clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		lim := (&Loop{ex: ex, clk: clk}).connectionLimiter()
		for i := range 3 {
			if err := lim.Wait(context.Background()); err != nil {
				t.Fatalf("%s: attempt %d: %v", name, i+1, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := lim.Wait(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: a 4th attempt within the second: %v, want it to wait", name, err)
		}
		clk.Advance(time.Second)
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatalf("%s: an attempt after the window: %v", name, err)
		}
	}
	lim := (&Loop{ex: wrapping{}, clk: clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}).connectionLimiter()
	for i := range stream.DefaultMaxAttempts {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := lim.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("default limiter: attempt %d of %d: %v", i+1, stream.DefaultMaxAttempts, err)
		}
	}
}
