package scheduler

import (
	"testing"
	"time"

	"github.com/keelbot/keel/jitter"
)

// TestBackoff draws each wait 2000 times from a seeded source and checks the range they fill:
// full jitter [0, min(cap, base·2^n)) with base 200ms and cap 10s; never earlier than
// Retry-After (then spread over [0, min(1s, 0.1·Retry-After))); the random part cut to the
// remaining time budget; no retry when the budget cannot cover Retry-After. Draws must stay
// inside [lo, hi) and reach within a tenth of the range of both ends, so a range drawn too
// narrow or shifted fails as well as one too wide.
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
		lo, hi     time.Duration // waits lie in [lo, hi)
		ok         bool
	}{
		{"first retry: up to base", 1, 0, 30 * time.Second, 0, 200 * ms, true},
		{"second retry doubles", 2, 0, 30 * time.Second, 0, 400 * ms, true},
		{"third retry", 3, 0, 30 * time.Second, 0, 800 * ms, true},
		{"sixth retry: 6.4s", 6, 0, 30 * time.Second, 0, 6400 * ms, true},
		{"seventh retry: capped at 10s", 7, 0, 30 * time.Second, 0, 10 * time.Second, true},
		{"far retry: capped, no overflow", 70, 0, 30 * time.Second, 0, 10 * time.Second, true},
		{"jitter cut to the budget", 7, 0, 3 * time.Second, 0, 3 * time.Second, true},
		{"jitter cut to the budget below the doubling", 4, 0, time.Second, 0, time.Second, true},
		{"never earlier than Retry-After, spread by 0.1 of it", 1, 1500 * ms, 30 * time.Second, 1500 * ms, 1650 * ms, true},
		{"Retry-After spread at most 1s", 2, 20 * time.Second, 30 * time.Second, 20 * time.Second, 21 * time.Second, true},
		{"Retry-After ignores the retry count", 9, 20 * time.Second, 30 * time.Second, 20 * time.Second, 21 * time.Second, true},
		{"Retry-After spread cut to the budget", 1, 20 * time.Second, 20500 * ms, 20 * time.Second, 20500 * ms, true},
		{"Retry-After beyond the budget", 1, 20 * time.Second, 19 * time.Second, 0, 0, false},
		{"Retry-After equal to the budget", 1, 20 * time.Second, 20 * time.Second, 0, 0, false},
		{"budget spent", 1, 0, 0, 0, 0, false},
		{"budget overrun", 1, 0, -time.Second, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jitter.New(1)
			lowest, highest := tt.hi, tt.lo
			for range 2000 {
				d, ok := backoff(r, cfg, tt.retry, tt.retryAfter, tt.remaining)
				if ok != tt.ok {
					t.Fatalf("backoff(retry %d, Retry-After %v, remaining %v) ok = %v, want %v", tt.retry, tt.retryAfter, tt.remaining, ok, tt.ok)
				}
				if !ok {
					if d != 0 {
						t.Fatalf("no retry, yet a wait of %v", d)
					}
					return
				}
				if d < tt.lo || d >= tt.hi {
					t.Fatalf("wait %v outside [%v, %v) (retry %d, Retry-After %v, remaining %v)", d, tt.lo, tt.hi, tt.retry, tt.retryAfter, tt.remaining)
				}
				lowest, highest = min(lowest, d), max(highest, d)
			}
			if tenth := (tt.hi - tt.lo) / 10; lowest > tt.lo+tenth || highest < tt.hi-tenth {
				t.Fatalf("waits span [%v, %v]; want them to fill [%v, %v)", lowest, highest, tt.lo, tt.hi)
			}
		})
	}
}
