package scheduler_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

func bucketHeldUntil(s *scheduler.Scheduler, name string) time.Time {
	for _, b := range s.Snapshot().Buckets {
		if b.Name == name {
			return b.HeldUntil
		}
	}
	return time.Time{}
}

// TestRetryAfterAndBanAreCapped: a 429 asking for 72 hours holds the bucket for
// backoff.max_retry_after, a ban "until 2100" for backoff.max_ban; each pause reaches the hold
// observer with what was asked, so the runtime can log it.
func TestRetryAfterAndBanAreCapped(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     scheduler.Outcome
		limit time.Duration
		ban   bool
	}{
		{"429", scheduler.Outcome{Status: 429, Code: -1003, RetryAfter: 72 * time.Hour}, 5 * time.Minute, false},
		{"418", scheduler.Outcome{Status: 418, Code: -1003, RetryAfter: 70 * 365 * 24 * time.Hour}, 72 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var holds []scheduler.HoldEvent
				cfg := breakerConfig()
				s, clk := newScheduler(t, cfg, scheduler.WithHoldObserver(func(e scheduler.HoldEvent) { holds = append(holds, e) }))
				var sent bool
				if _, err := s.Do(context.Background(), read("b0", answer(&sent, tc.o))); scheduler.ClassOf(err) != scheduler.ClassRateLimit {
					t.Fatalf("err %v", err)
				}
				held := bucketHeldUntil(s, "b0")
				if held.IsZero() || held.Sub(clk.Now()) > tc.limit {
					t.Fatalf("held until %v: %v from now, want at most %v", held, held.Sub(clk.Now()), tc.limit)
				}
				if len(holds) != 1 {
					t.Fatalf("hold events %+v, want 1", holds)
				}
				h := holds[0]
				if h.Bucket != "b0" || h.Asked != tc.o.RetryAfter || h.Ban != tc.ban || h.Duration() > tc.limit || !strings.Contains(h.Reason, "http") {
					t.Fatalf("hold event %+v", h)
				}
			})
		})
	}
}

// TestCapsAreConfigurable: backoff.max_retry_after is what a long Retry-After is cut to, and
// a Retry-After under it is honoured whole and reported without Asked.
func TestCapsAreConfigurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var holds []scheduler.HoldEvent
		cfg := breakerConfig()
		cfg.Backoff.MaxRetryAfter = 30 * time.Second
		s, clk := newScheduler(t, cfg, scheduler.WithHoldObserver(func(e scheduler.HoldEvent) { holds = append(holds, e) }))
		var sent bool
		_, _ = s.Do(context.Background(), read("b0", answer(&sent, scheduler.Outcome{Status: 429, Code: -1003, RetryAfter: time.Hour})))
		if d := bucketHeldUntil(s, "b0").Sub(clk.Now()); d != 30*time.Second {
			t.Fatalf("held %v, want 30s", d)
		}
		_, _ = s.Do(context.Background(), read("b1", answer(&sent, scheduler.Outcome{Status: 429, Code: -1003, RetryAfter: 20 * time.Second})))
		if d := bucketHeldUntil(s, "b1").Sub(clk.Now()); d != 20*time.Second || len(holds) != 2 || holds[1].Asked != 0 {
			t.Fatalf("held %v, events %+v; want 20s honoured whole", d, holds)
		}
	})
}

// TestUsageClampedToTheLimit: a usage count of 999,999,999 fills the window to its limit and
// no further, so it empties when the window rolls.
func TestUsageClampedToTheLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _ := newScheduler(t, baseConfig())
		var sent bool
		if _, err := s.Do(context.Background(), read("public", answer(&sent, scheduler.Outcome{Status: 200,
			Usage: []scheduler.Usage{{Window: "W", Used: 999_999_999}}}))); err != nil {
			t.Fatal(err)
		}
		for _, w := range s.Snapshot().Windows {
			if w.Name == "W" && w.Used != w.Limit {
				t.Fatalf("window used %d, want clamped to its limit %d", w.Used, w.Limit)
			}
		}
	})
}

func TestBoundsConfigRefusedNamingTheKey(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*scheduler.Config)
		key    string
	}{
		{func(c *scheduler.Config) { c.Backoff.MaxBan = time.Minute }, "backoff.max_ban"},
		{func(c *scheduler.Config) { c.Backoff.MaxRetryAfter = -time.Second }, "backoff.max_retry_after"},
		{func(c *scheduler.Config) { c.Backoff.MaxRetryAfter = time.Millisecond }, "backoff.max_retry_after"},
	} {
		cfg := baseConfig()
		tc.mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v", tc.key, err)
		}
	}
}
