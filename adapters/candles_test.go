package adapters_test

import (
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
)

func TestIntervalBoundaries(t *testing.T) {
	at := time.Date(2026, 5, 6, 13, 47, 31, 500e6, time.UTC) // a Wednesday
	for _, tc := range []struct {
		iv         adapters.Interval
		tz         string
		open, next time.Time
	}{
		{"1s", "", time.Date(2026, 5, 6, 13, 47, 31, 0, time.UTC), time.Date(2026, 5, 6, 13, 47, 32, 0, time.UTC)},
		{"15m", "", time.Date(2026, 5, 6, 13, 45, 0, 0, time.UTC), time.Date(2026, 5, 6, 14, 0, 0, 0, time.UTC)},
		{"1h", "05:45", time.Date(2026, 5, 6, 13, 15, 0, 0, time.UTC), time.Date(2026, 5, 6, 14, 15, 0, 0, time.UTC)},
		{"4h", "", time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC), time.Date(2026, 5, 6, 16, 0, 0, 0, time.UTC)},
		{"1d", "", time.Date(2026, 5, 6, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 7, 0, 0, 0, 0, time.UTC)},
		{"1d", "8", time.Date(2026, 5, 5, 16, 0, 0, 0, time.UTC), time.Date(2026, 5, 6, 16, 0, 0, 0, time.UTC)},
		{"1d", "-1:00", time.Date(2026, 5, 6, 1, 0, 0, 0, time.UTC), time.Date(2026, 5, 7, 1, 0, 0, 0, time.UTC)},
		{"1w", "", time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC)}, // Monday
		{"1M", "", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"1M", "+08:00", time.Date(2026, 4, 30, 16, 0, 0, 0, time.UTC), time.Date(2026, 5, 31, 16, 0, 0, 0, time.UTC)},
	} {
		off, err := adapters.ParseTimeZone(tc.tz)
		if err != nil {
			t.Fatal(err)
		}
		open := tc.iv.OpenTime(at, off)
		if !open.Equal(tc.open) || !tc.iv.Next(open, off).Equal(tc.next) {
			t.Errorf("%s at %q: open %v next %v, want %v %v", tc.iv, tc.tz, open, tc.iv.Next(open, off), tc.open, tc.next)
		}
	}
	if _, err := adapters.ParseInterval("1H"); err == nil {
		t.Fatal("1H accepted: intervals are case-sensitive")
	}
	for _, bad := range []string{"15", "-13", "14:01", "5:4", "x", "+", "08:60"} {
		if _, err := adapters.ParseTimeZone(bad); err == nil {
			t.Errorf("time zone %q accepted", bad)
		}
	}
}
