package scheduler

import (
	"testing"
	"time"
)

// TestFixedWindowIndex: windows start at whole multiples of the interval since the epoch,
// before the epoch too (floor, not truncation).
func TestFixedWindowIndex(t *testing.T) {
	for _, tt := range []struct {
		at   time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(59, 999_999_999), 0},
		{time.Unix(60, 0), 1},
		{time.Unix(-1, 0), -1},
		{time.Unix(-60, 0), -1},
		{time.Unix(-61, 0), -2},
		{time.Date(2026, 11, 27, 5, 0, 30, 0, time.UTC), time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC).Unix() / 60},
	} {
		if got := fixedWindowIndex(tt.at, time.Minute); got != tt.want {
			t.Errorf("fixedWindowIndex(%v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}
