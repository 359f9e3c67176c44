package scheduler

import (
	"math/rand/v2"
	"testing"
	"time"
)

// fixedJitter draws a fixed point of every range: draw(d) for a range [0, d).
type fixedJitter func(d time.Duration) time.Duration

func (f fixedJitter) duration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return f(d)
}

var (
	drawMin  = fixedJitter(func(time.Duration) time.Duration { return 0 })
	drawHalf = fixedJitter(func(d time.Duration) time.Duration { return d / 2 })
	drawMax  = fixedJitter(func(d time.Duration) time.Duration { return d - 1 }) // the top of [0, d)
)

// TestBackoff walks the backoff function with fixed draws, so every wait is exact: full
// jitter rand(0, min(cap, base·2^n)) with base 200ms and cap 10s; never earlier than
// Retry-After (then spread by rand(0, min(1s, 0.1·Retry-After))); the random part cut to the
// remaining time budget; no retry when the budget cannot cover Retry-After. It then checks
// the bounds with the scheduler's own seeded source.
func TestBackoff(t *testing.T) {
	cfg := Config{}.withDefaults().Backoff
	if cfg.Base != 200*time.Millisecond || cfg.Cap != 10*time.Second || cfg.ResumeSpread != time.Second || cfg.ResumeSpreadRatio != 0.1 {
		t.Fatalf("defaults changed: %+v", cfg)
	}
	const ms = time.Millisecond
	tests := []struct {
		name       string
		retry      int
		retryAfter time.Duration
		remaining  time.Duration
		draw       fixedJitter
		want       time.Duration
		ok         bool
	}{
		{"first retry: up to base", 1, 0, 30 * time.Second, drawMax, 200*ms - 1, true},
		{"first retry: from 0", 1, 0, 30 * time.Second, drawMin, 0, true},
		{"second retry doubles", 2, 0, 30 * time.Second, drawMax, 400*ms - 1, true},
		{"third retry", 3, 0, 30 * time.Second, drawHalf, 400 * ms, true},
		{"sixth retry: 6.4s", 6, 0, 30 * time.Second, drawMax, 6400*ms - 1, true},
		{"seventh retry: capped at 10s", 7, 0, 30 * time.Second, drawMax, 10*time.Second - 1, true},
		{"far retry: capped, no overflow", 70, 0, 30 * time.Second, drawHalf, 5 * time.Second, true},
		{"jitter cut to the budget", 7, 0, 3 * time.Second, drawMax, 3*time.Second - 1, true},
		{"jitter cut to the budget, half", 4, 0, time.Second, drawHalf, 500 * ms, true},
		{"never earlier than Retry-After", 1, 1500 * ms, 30 * time.Second, drawMin, 1500 * ms, true},
		{"Retry-After spread by 0.1 of it", 1, 1500 * ms, 30 * time.Second, drawMax, 1650*ms - 1, true},
		{"Retry-After spread at most 1s", 2, 20 * time.Second, 30 * time.Second, drawMax, 21*time.Second - 1, true},
		{"Retry-After ignores the retry count", 9, 20 * time.Second, 30 * time.Second, drawHalf, 20500 * ms, true},
		{"Retry-After spread cut to the budget", 1, 20 * time.Second, 20500 * ms, drawMax, 20500*ms - 1, true},
		{"Retry-After beyond the budget", 1, 20 * time.Second, 19 * time.Second, drawMin, 0, false},
		{"Retry-After equal to the budget", 1, 20 * time.Second, 20 * time.Second, drawMin, 0, false},
		{"budget spent", 1, 0, 0, drawMin, 0, false},
		{"budget overrun", 1, 0, -time.Second, drawMin, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := backoff(tt.draw, cfg, tt.retry, tt.retryAfter, tt.remaining)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("backoff(retry %d, Retry-After %v, remaining %v) = %v, %v; want %v, %v",
					tt.retry, tt.retryAfter, tt.remaining, got, ok, tt.want, tt.ok)
			}
			if !ok {
				return
			}
			// The scheduler's seeded source stays within the bounds the fixed draws mark.
			lo, _ := backoff(drawMin, cfg, tt.retry, tt.retryAfter, tt.remaining)
			hi, _ := backoff(drawMax, cfg, tt.retry, tt.retryAfter, tt.remaining)
			r := &lockedRand{r: rand.New(rand.NewPCG(1, 2))}
			for range 1000 {
				d, _ := backoff(r, cfg, tt.retry, tt.retryAfter, tt.remaining)
				if d < lo || d > hi || d < tt.retryAfter || d >= tt.remaining {
					t.Fatalf("seeded draw %v outside [%v, %v] (Retry-After %v, remaining %v)", d, lo, hi, tt.retryAfter, tt.remaining)
				}
			}
		})
	}
}
