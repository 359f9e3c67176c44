package jitter_test

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/jitter"
)

const draws = 4000

// inRange draws n values and checks that each lies in [lo, hi] and that they reach both ends
// of it (within a tenth of its width): a range drawn too narrow, or shifted, fails too.
func inRange(t *testing.T, lo, hi time.Duration, draw func() time.Duration) {
	t.Helper()
	minD, maxD := time.Duration(math.MaxInt64), time.Duration(math.MinInt64)
	for range draws {
		d := draw()
		if d < lo || d > hi {
			t.Fatalf("draw %v outside [%v, %v]", d, lo, hi)
		}
		minD, maxD = min(minD, d), max(maxD, d)
	}
	if tenth := (hi - lo) / 10; minD > lo+tenth || maxD < hi-tenth {
		t.Fatalf("draws span [%v, %v]; want them to reach both ends of [%v, %v]", minD, maxD, lo, hi)
	}
}

// TestFull: before attempt n, full jitter waits a uniform draw from [0, min(limit, base·2^n)),
// the doubling overflow-safe for any n.
func TestFull(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name        string
		base, limit time.Duration
		n           int
		ceiling     time.Duration // draws lie in [0, ceiling)
	}{
		{"first wait: up to base", 200 * ms, 10 * time.Second, 0, 200 * ms},
		{"doubles", 200 * ms, 10 * time.Second, 1, 400 * ms},
		{"doubles again", 200 * ms, 10 * time.Second, 2, 800 * ms},
		{"5 failures: 6.4s", 200 * ms, 10 * time.Second, 5, 6400 * ms},
		{"6 failures: capped", 200 * ms, 10 * time.Second, 6, 10 * time.Second},
		{"far attempt: capped, no overflow", 200 * ms, 10 * time.Second, 70, 10 * time.Second},
		{"shift overflow: capped", time.Hour, 2 * time.Hour, 40, 2 * time.Hour},
		{"tiny base reaches the cap", time.Nanosecond, 10 * time.Second, 40, 10 * time.Second},
		{"limit below base", 200 * ms, 50 * ms, 0, 50 * ms},
		{"negative attempt: the limit", 200 * ms, time.Second, -1, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jitter.Ceiling(tt.base, tt.limit, tt.n); got != tt.ceiling {
				t.Fatalf("Ceiling(%v, %v, %d) = %v, want %v", tt.base, tt.limit, tt.n, got, tt.ceiling)
			}
			r := jitter.New(1)
			inRange(t, 0, tt.ceiling-1, func() time.Duration { return jitter.Full(r, tt.base, tt.limit, tt.n) })
		})
	}
}

// TestDurationEmptyRange: no range, no wait, and no draw that could panic.
func TestDurationEmptyRange(t *testing.T) {
	r := jitter.New(1)
	for _, d := range []time.Duration{0, -time.Second} {
		if got := r.Duration(d); got != 0 {
			t.Errorf("Duration(%v) = %v, want 0", d, got)
		}
		if got := jitter.Full(r, time.Second, d, 3); got != 0 {
			t.Errorf("Full with limit %v = %v, want 0", d, got)
		}
	}
}

// TestSpread: a periodic interval moves by up to ±fraction of itself, fraction capped at 1;
// no spread leaves it as it is.
func TestSpread(t *testing.T) {
	tests := []struct {
		name     string
		d        time.Duration
		fraction float64
		lo, hi   time.Duration
	}{
		{"±20%", 10 * time.Second, 0.2, 8 * time.Second, 12 * time.Second},
		{"±10%", time.Second, 0.1, 900 * time.Millisecond, 1100 * time.Millisecond},
		{"fraction capped at 1", time.Second, 3, 0, 2 * time.Second},
		{"no fraction", time.Second, 0, time.Second, time.Second},
		{"negative fraction", time.Second, -0.5, time.Second, time.Second},
		{"no interval", 0, 0.2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jitter.New(2)
			inRange(t, tt.lo, tt.hi, func() time.Duration { return jitter.Spread(r, tt.d, tt.fraction) })
		})
	}
}

// TestSeedFixesTheSequence: the same seed replays the same draws, across every method; another
// seed does not.
func TestSeedFixesTheSequence(t *testing.T) {
	seq := func(seed uint64) []uint64 {
		r := jitter.New(seed)
		var out []uint64
		for n := range 50 {
			out = append(out, uint64(jitter.Full(r, time.Millisecond, time.Minute, n%12)),
				uint64(jitter.Spread(r, time.Second, 0.2)), math.Float64bits(r.Float64()), r.Uint64())
		}
		return out
	}
	a, b, c := seq(42), seq(42), seq(43)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d: %d then %d from the same seed", i, a[i], b[i])
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same > len(a)/10 {
		t.Fatalf("seeds 42 and 43 agree on %d of %d draws", same, len(a))
	}
	if x, y := jitter.NewRandom().Uint64(), jitter.NewRandom().Uint64(); x == y {
		t.Fatalf("two NewRandom sources drew the same first value %d", x)
	}
}

// TestConcurrentUse: one Rand serves many goroutines (run under -race); the draws all stay in
// range and none is lost: together they are exactly the single-goroutine sequence, in some
// order.
func TestConcurrentUse(t *testing.T) {
	const goroutines, each = 8, 500
	want := map[time.Duration]int{}
	ref := jitter.New(7)
	for range goroutines * each {
		want[ref.Duration(time.Hour)]++
	}

	r := jitter.New(7)
	got := make([][]time.Duration, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				got[g] = append(got[g], r.Duration(time.Hour))
			}
		})
	}
	wg.Wait()
	for _, ds := range got {
		for _, d := range ds {
			want[d]--
		}
	}
	for d, n := range want {
		if n != 0 {
			t.Fatalf("draw %v: count off by %d between one goroutine and %d", d, n, goroutines)
		}
	}
}
