package scheduler

import (
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

var d0 = time.Date(2025, 1, 6, 12, 0, 0, 0, time.UTC)

// kraken is Kraken's Starter REST counter: 15, decaying at 0.33 per second, so a full counter
// drains in 15/0.33 s = 45.4545...s: no whole number of nanoseconds per unit.
var kraken = WindowConfig{Name: "REST", Limit: 15, Interval: 45454545454, Kind: KindDecaying} // 15/0.33 s, truncated to the ns

// TestDecayingCounterGrid: rise, drain, Next and Used on a grid of instants, at a rate of one
// unit per 3s (Limit 15 per 45s).
func TestDecayingCounterGrid(t *testing.T) {
	c := newDecayingCounter(WindowConfig{Limit: 15, Interval: 45 * time.Second})
	c.Add(d0, 10)
	ns := time.Nanosecond
	for _, tt := range []struct {
		at   time.Duration
		used int64
		next time.Duration // 0: none
	}{
		{0, 10, 3 * time.Second},
		{ns, 10, 3 * time.Second}, // 9.99...: rounded up
		{time.Second, 10, 3 * time.Second},
		{3*time.Second - ns, 10, 3 * time.Second},
		{3 * time.Second, 9, 6 * time.Second}, // exactly 9: a whole unit drains 3s later
		{3*time.Second + ns, 9, 6 * time.Second},
		{28 * time.Second, 1, 30 * time.Second},
		{30 * time.Second, 0, 0},
		{time.Hour, 0, 0},
	} {
		if got := c.Used(d0.Add(tt.at)); got != tt.used {
			t.Errorf("Used(+%v) = %d, want %d", tt.at, got, tt.used)
		}
		var want time.Time
		if tt.next != 0 {
			want = d0.Add(tt.next)
		}
		if got := c.Next(d0.Add(tt.at)); !got.Equal(want) {
			t.Errorf("Next(+%v) = %v, want %v", tt.at, got, want)
		}
	}
	// Rising again from empty: the level drains from when it was raised, not from the
	// last time it was looked at.
	c.Add(d0.Add(2*time.Hour), 2)
	c.Add(d0.Add(2*time.Hour+time.Second), 3) // 1.66... + 3
	for _, tt := range []struct {
		at   time.Duration
		used int64
	}{{time.Second, 5}, {2 * time.Second, 5}, {3*time.Second - ns, 5}, {3 * time.Second, 4}, {6 * time.Second, 3}, {15*time.Second - ns, 1}, {15 * time.Second, 0}} {
		if got := c.Used(d0.Add(2*time.Hour + tt.at)); got != tt.used {
			t.Errorf("Used(2h+%v) = %d, want %d", tt.at, got, tt.used)
		}
	}
}

// model is the decaying level in exact rational arithmetic: what the counter must agree
// with at every instant.
type model struct {
	rate  *big.Rat // units per nanosecond
	level *big.Rat
	at    time.Time
}

func newModel(w WindowConfig, at time.Time) *model {
	return &model{rate: big.NewRat(w.Limit, int64(w.Interval)), level: new(big.Rat), at: at}
}

func (m *model) drain(now time.Time) {
	d := new(big.Rat).Mul(m.rate, new(big.Rat).SetInt64(int64(now.Sub(m.at))))
	m.level.Sub(m.level, d)
	if m.level.Sign() < 0 {
		m.level.SetInt64(0)
	}
	m.at = now
}

func (m *model) add(now time.Time, n int64) {
	m.drain(now)
	m.level.Add(m.level, new(big.Rat).SetInt64(n))
}

// used is the level rounded up.
func (m *model) used(now time.Time) int64 {
	m.drain(now)
	q, r := new(big.Int).QuoRem(m.level.Num(), m.level.Denom(), new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// TestDecayingCounterNoDrift: at Kraken's 0.33 per second, a thousand irregular steps of
// adds and looks agree with exact arithmetic at every step, and a full counter looked at
// every millisecond is empty exactly one Interval later, not a rounding error earlier or
// later.
func TestDecayingCounterNoDrift(t *testing.T) {
	c := newDecayingCounter(kraken)
	m := newModel(kraken, d0)
	r := rand.New(rand.NewPCG(3, 4))
	now := d0
	for i := range 1000 {
		now = now.Add(time.Duration(r.Int64N(int64(4 * time.Second))))
		if r.IntN(3) == 0 {
			n := r.Int64N(4)
			c.Add(now, n)
			m.add(now, n)
		}
		if got, want := c.Used(now), m.used(now); got != want {
			t.Fatalf("step %d (+%v): Used = %d, want %d", i, now.Sub(d0), got, want)
		}
	}

	c = newDecayingCounter(kraken)
	c.Add(d0, 15)
	for now := d0; now.Before(d0.Add(kraken.Interval)); now = now.Add(time.Millisecond) {
		c.Used(now) // each look brings the level up to date: the drift would be here
	}
	if got := c.Used(d0.Add(kraken.Interval - 1)); got != 1 {
		t.Fatalf("Used one nanosecond before the interval ends = %d, want 1", got)
	}
	if got := c.Used(d0.Add(kraken.Interval)); got != 0 {
		t.Fatalf("Used when the interval ends = %d, want 0", got)
	}
}

// TestDecayingCounterNextFractional: Next is the first instant at which Used has dropped,
// whatever fraction of a unit is left.
func TestDecayingCounterNextFractional(t *testing.T) {
	c := newDecayingCounter(kraken)
	m := newModel(kraken, d0)
	c.Add(d0, 7)
	m.add(d0, 7)
	now := d0.Add(1234567891 * time.Nanosecond) // an arbitrary fraction of a unit drained
	for step := range 10 {
		used := c.Used(now)
		next := c.Next(now)
		if m.used(next.Add(-1)) != used || m.used(next) != used-1 {
			t.Fatalf("step %d: Used %d at +%v, Next +%v: model says %d before and %d at", step, used, now.Sub(d0), next.Sub(d0), m.used(next.Add(-1)), m.used(next))
		}
		if step%3 == 0 { // an add between looks
			c.Add(next, 1)
			m.add(next, 1)
		}
		now = next
	}
}

// TestDecayingCounterRemove: a grant never sent is taken back; what of it already drained is
// not, so a later request's count is never taken back with it; the level never goes below 0.
func TestDecayingCounterRemove(t *testing.T) {
	w := WindowConfig{Limit: 10, Interval: 10 * time.Second} // one unit per second
	tests := []struct {
		name string
		run  func(c Counter) int64 // returns Used after
		want int64
	}{
		{"at once: all of it", func(c Counter) int64 {
			c.Add(d0, 5)
			c.Add(d0, 3)
			c.Remove(d0, d0, 3)
			return c.Used(d0)
		}, 5},
		{"later: what still counts", func(c Counter) int64 {
			c.Add(d0, 5)
			c.Add(d0.Add(time.Second), 3) // 4 + 3
			c.Remove(d0.Add(time.Second), d0.Add(2*time.Second), 3)
			return c.Used(d0.Add(2 * time.Second)) // 6 - (3 - 1)
		}, 4},
		{"never below zero", func(c Counter) int64 {
			c.Add(d0, 2)
			c.Remove(d0, d0, 5)
			return c.Used(d0)
		}, 0},
		{"a drained cost does not take back a later one", func(c Counter) int64 {
			c.Add(d0, 1)
			c.Add(d0.Add(5*time.Second), 2) // the first has drained
			c.Remove(d0, d0.Add(5*time.Second), 1)
			return c.Used(d0.Add(5 * time.Second))
		}, 2},
		{"zero gives back nothing", func(c Counter) int64 {
			c.Add(d0, 4)
			c.Remove(d0, d0, 0)
			return c.Used(d0)
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(newDecayingCounter(w)); got != tt.want {
				t.Fatalf("Used = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestDecayingCounterAdopt: the exchange's level is adopted when higher, however long ago
// the request was sent, and drains from now.
func TestDecayingCounterAdopt(t *testing.T) {
	w := WindowConfig{Limit: 10, Interval: 10 * time.Second}
	half := 500 * time.Millisecond
	tests := []struct {
		name     string
		level    int64         // added at d0
		used     int64         // reported at d0+half, for a request sent at d0
		wantNow  int64         // Used at d0+half
		wantNext time.Duration // Next at d0+half, from d0
	}{
		{"higher: raised to it", 3, 6, 6, half + time.Second},
		{"lower: kept", 6, 3, 6, time.Second},
		{"equal to the rounded-up level: raised to the whole unit", 4, 4, 4, half + time.Second}, // 3.5 -> 4
		{"zero: kept", 2, 0, 2, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newDecayingCounter(w)
			c.Add(d0, tt.level)
			c.Adopt(d0, d0.Add(half), tt.used)
			if got := c.Used(d0.Add(half)); got != tt.wantNow {
				t.Errorf("Used = %d, want %d", got, tt.wantNow)
			}
			if got := c.Next(d0.Add(half)); !got.Equal(d0.Add(tt.wantNext)) {
				t.Errorf("Next = +%v, want +%v", got.Sub(d0), tt.wantNext)
			}
		})
	}
	t.Run("a report from long ago still counts", func(t *testing.T) {
		c := newDecayingCounter(w)
		c.Adopt(d0, d0.Add(time.Hour), 5)
		if got := c.Used(d0.Add(time.Hour)); got != 5 {
			t.Fatalf("Used = %d, want 5", got)
		}
	})
}

// TestDecayingCounterSetRate: a new rate applies from now; the level is kept, its fraction
// never rounded down.
func TestDecayingCounterSetRate(t *testing.T) {
	c := newDecayingCounter(WindowConfig{Limit: 10, Interval: 10 * time.Second}).(*decayingCounter)
	c.Add(d0, 9)
	c.setRate(d0.Add(2500*time.Millisecond), 30, 10*time.Second) // 6.5 left, now 3 per second
	for _, tt := range []struct {
		at   time.Duration
		used int64
	}{{2500 * time.Millisecond, 7}, {3 * time.Second, 5}, {4 * time.Second, 2}, {4500 * time.Millisecond, 1}, {4666 * time.Millisecond, 1}, {4667 * time.Millisecond, 0}} {
		if got := c.Used(d0.Add(tt.at)); got != tt.used {
			t.Errorf("Used(+%v) = %d, want %d", tt.at, got, tt.used)
		}
	}
	// A fraction that does not divide into the new tick size is rounded up.
	c = newDecayingCounter(kraken).(*decayingCounter)
	m := newModel(kraken, d0)
	c.Add(d0, 5)
	m.add(d0, 5)
	at := d0.Add(1111111111)
	c.setRate(at, 7, 13*time.Second)
	m.drain(at)
	if got, want := c.Used(at), m.used(at); got != want {
		t.Fatalf("Used after setRate = %d, want %d", got, want)
	}
}

// TestDecayingCounterHuge: limits and idle times far beyond any exchange's neither overflow
// nor panic.
func TestDecayingCounterHuge(t *testing.T) {
	c := newDecayingCounter(WindowConfig{Limit: 1 << 62, Interval: 1<<63 - 1})
	c.Add(d0, 1<<62)
	c.Add(d0, 1<<62)
	c.Add(d0, 1<<62) // saturates
	if got := c.Used(d0); got != 1<<63-1 {
		t.Fatalf("Used = %d, want MaxInt64", got)
	}
	c.Used(d0.Add(200 * 365 * 24 * time.Hour))
	c.Remove(d0, d0.Add(200*365*24*time.Hour), 1<<62)
	if got := c.Next(d0.Add(200 * 365 * 24 * time.Hour)); got.IsZero() {
		t.Fatalf("Next = zero while the level is %d", c.Used(d0.Add(200*365*24*time.Hour)))
	}
}
