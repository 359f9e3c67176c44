package scheduler

import (
	"math"
	"math/bits"
	"time"
)

func newDecayingCounter(w WindowConfig) Counter {
	return &decayingCounter{limit: uint64(w.Limit), interval: uint64(w.Interval)}
}

// decayingCounter counts the way Kraken counts: a level that each cost raises and that drains
// continuously, at limit units per interval, while it is above zero (a leaky bucket). Interval
// is the time a level of limit takes to drain to zero: Kraken's Starter tier, 15 decaying at
// 0.33 per second, is Limit 15 and Interval 15/0.33 s ≈ 45.45 s.
//
// Used is the level rounded up to a whole unit, so a cost fits while level+cost <= the cap.
// Next is when Used next drops by one: when the level drains to the whole unit below.
//
// The level is kept exactly, in ticks: a unit is interval ticks and a nanosecond drains limit
// ticks, so every rate (0.33 per second is no float) drains by a whole number of ticks and no
// rounding accumulates however often the level is brought up to date. The level is
// whole + frac/interval units, with 0 <= frac < interval. Tick counts need 128 bits (an hour
// of a large limit overflows 64), hence math/bits.
//
// Its zero value is not usable: limit and interval must be set (both > 0, as validated).
type decayingCounter struct {
	limit    uint64    // units drained per interval: ticks drained per nanosecond
	interval uint64    // nanoseconds: ticks per unit
	at       time.Time // the instant whole and frac describe
	whole    uint64    // <= math.MaxInt64
	frac     uint64    // < interval
}

// drain brings the level up to date at now. A now before the last one (the exchange's clock
// moved back: a new clock offset) drains nothing until time passes the last one again: the
// level may only be overstated, never understated.
func (c *decayingCounter) drain(now time.Time) {
	d := now.Sub(c.at)
	if d <= 0 {
		return
	}
	c.at = now
	if c.whole == 0 && c.frac == 0 {
		return
	}
	c.lower(bits.Mul64(uint64(d), c.limit))
}

// ticks returns the level in ticks, hi:lo. It fits: whole·interval < 2^126.
func (c *decayingCounter) ticks() (hi, lo uint64) {
	hi, lo = bits.Mul64(c.whole, c.interval)
	lo, carry := bits.Add64(lo, c.frac, 0)
	return hi + carry, lo
}

// lower takes dh:dl ticks off the level, stopping at zero.
func (c *decayingCounter) lower(dh, dl uint64) {
	lh, ll := c.ticks()
	if dh > lh || dh == lh && dl >= ll {
		c.whole, c.frac = 0, 0
		return
	}
	ll, borrow := bits.Sub64(ll, dl, 0)
	lh, _ = bits.Sub64(lh, dh, borrow)
	// The quotient is at most whole, so it fits and Div64 does not panic (lh < interval).
	c.whole, c.frac = bits.Div64(lh, ll, c.interval)
}

// Used returns the level at now rounded up to a whole unit.
func (c *decayingCounter) Used(now time.Time) int64 {
	c.drain(now)
	u := c.whole
	if c.frac > 0 {
		u++
	}
	return int64(min(u, math.MaxInt64))
}

// Add raises the level by n at now.
func (c *decayingCounter) Add(now time.Time, n int64) {
	c.drain(now)
	if n > 0 {
		c.whole = min(c.whole+uint64(n), math.MaxInt64) // both <= MaxInt64: no wrap
	}
}

// Remove lowers the level by what of n, added at at, still counts at now: n less what the
// level drained since at, never below zero. The cost drained no faster than the level, so
// that much of it may be gone already; giving back all of n could take back a later
// request's count. The scheduler removes a grant that was never sent moments after it was
// made, so in practice this is n.
func (c *decayingCounter) Remove(at, now time.Time, n int64) {
	c.drain(now)
	if n <= 0 {
		return
	}
	gh, gl := bits.Mul64(uint64(n), c.interval)
	if d := now.Sub(at); d > 0 {
		eh, el := bits.Mul64(uint64(d), c.limit)
		if eh > gh || eh == gh && el >= gl {
			return
		}
		var borrow uint64
		gl, borrow = bits.Sub64(gl, el, 0)
		gh, _ = bits.Sub64(gh, eh, borrow)
	}
	c.lower(gh, gl)
}

// Adopt raises the level to used if it is lower. A decaying counter has no periods, so no
// report is too old to count; the report is read as the level at now, though the exchange
// measured it somewhere between sent and now: that can only overstate the level, by at most
// what drained since sent.
func (c *decayingCounter) Adopt(sent, now time.Time, used int64) {
	c.drain(now)
	if used > 0 && c.whole < uint64(used) { // whole >= used means level >= used
		c.whole, c.frac = uint64(used), 0
	}
}

// Next returns when Used next drops by one (the level reaching the whole unit below Used);
// zero when the level is zero.
func (c *decayingCounter) Next(now time.Time) time.Time {
	c.drain(now)
	ticks := c.frac
	switch {
	case c.frac > 0:
	case c.whole > 0:
		ticks = c.interval
	default:
		return time.Time{}
	}
	// Rounded up: at the returned instant the unit has drained, not almost.
	ns := (ticks + c.limit - 1) / c.limit // ticks <= interval < 2^63: no overflow
	return now.Add(time.Duration(ns))
}

// setRate changes the drain rate to limit per interval at now (SetWindowLimit), keeping the
// level: what drained until now drained at the old rate. The fraction is carried to the new
// tick size rounded up, so the level is never understated.
func (c *decayingCounter) setRate(now time.Time, limit int64, interval time.Duration) {
	c.drain(now)
	newIv := uint64(interval)
	if c.frac > 0 {
		hi, lo := bits.Mul64(c.frac, newIv)
		q, r := bits.Div64(hi, lo, c.interval) // q < newIv: hi < c.interval
		if r > 0 {
			q++
		}
		c.frac = q
		if c.frac == newIv {
			c.whole, c.frac = min(c.whole+1, math.MaxInt64), 0
		}
	}
	c.limit, c.interval = uint64(limit), newIv
}
