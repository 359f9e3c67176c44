package scheduler

import (
	"math"
	"time"
)

// Counter counts one limit window's usage the way the exchange counts it. It is the seam for
// window kinds (fixed, sliding, decaying: see WindowConfig.Kind) and (through Shared) for fleet mode, where a shared store keeps the
// count so that several instances stay at the total of one.
//
// Every time passed to a Counter is on the exchange's clock: the scheduler's clock plus the
// offset given to SetClockOffset. The scheduler calls a Counter with its own lock held, one call
// at a time; a Counter shared between processes must make Add atomic on its side.
type Counter interface {
	// Used returns the count that applies at now.
	Used(now time.Time) int64
	// Add counts n at now.
	Add(now time.Time, n int64)
	// Remove takes back n counted at at (a request that never went out), if it still counts
	// at now.
	Remove(at, now time.Time, n int64)
	// Adopt raises the count to used, the exchange's own count reported with an answer to a
	// request sent at sent, if that is higher than the counter's. A report that may belong to
	// another period than now's is ignored.
	Adopt(sent, now time.Time, used int64)
	// Next returns when Used will next drop (the start of the next fixed window, the expiry
	// of the oldest entry of a sliding one, a decaying level's drain to the unit below); zero
	// if it will not.
	Next(now time.Time) time.Time
}

// NewCounterFunc builds the Counter for a window of a kind registered with WithWindowKind.
type NewCounterFunc func(w WindowConfig) Counter

func newFixedCounter(w WindowConfig) Counter { return &fixedCounter{interval: int64(w.Interval)} }

func newSlidingCounter(w WindowConfig) Counter { return &slidingCounter{interval: w.Interval} }

// fixedCounter counts in windows aligned to the epoch on the exchange's clock: "a 1 MINUTE
// interval starts every minute". Its zero value is not usable: interval must be set.
type fixedCounter struct {
	interval int64 // nanoseconds
	period   int64 // index of the period used belongs to
	used     int64
}

func (c *fixedCounter) index(t time.Time) int64 {
	return fixedWindowIndex(t, time.Duration(c.interval))
}

// fixedWindowIndex numbers the fixed window of length interval that t falls in, counting from
// the Unix epoch: windows aligned the way Binance aligns them ("a 1 MINUTE interval starts
// every minute"). Window n spans [n·interval, (n+1)·interval). interval must be positive.
func fixedWindowIndex(t time.Time, interval time.Duration) int64 {
	ns, iv := t.UnixNano(), int64(interval)
	q := ns / iv
	if ns%iv < 0 { // floor, not truncation, before the epoch
		q--
	}
	return q
}

func (c *fixedCounter) roll(now time.Time) {
	if p := c.index(now); p != c.period {
		c.period, c.used = p, 0
	}
}

func (c *fixedCounter) Used(now time.Time) int64 {
	if c.index(now) != c.period {
		return 0
	}
	return c.used
}

func (c *fixedCounter) Add(now time.Time, n int64) {
	c.roll(now)
	c.used += n
}

func (c *fixedCounter) Remove(at, now time.Time, n int64) {
	if c.index(at) == c.index(now) && c.index(now) == c.period {
		c.used = max(0, c.used-n)
	}
}

func (c *fixedCounter) Adopt(sent, now time.Time, used int64) {
	if c.index(sent) != c.index(now) {
		return
	}
	c.roll(now)
	c.used = max(c.used, used)
}

func (c *fixedCounter) Next(now time.Time) time.Time {
	return time.Unix(0, (c.index(now)+1)*c.interval)
}

// slidingCounter counts what was added during the last interval, whenever now is.
type slidingCounter struct {
	interval time.Duration
	entries  []slidingEntry // oldest first
	sum      int64
}

type slidingEntry struct {
	at time.Time
	n  int64
}

// prune drops the entries that no longer count at now.
func (c *slidingCounter) prune(now time.Time) {
	cut := now.Add(-c.interval)
	i := 0
	for i < len(c.entries) && !c.entries[i].at.After(cut) {
		c.sum -= c.entries[i].n
		i++
	}
	if i > 0 {
		c.entries = append(c.entries[:0], c.entries[i:]...)
	}
}

func (c *slidingCounter) Used(now time.Time) int64 {
	c.prune(now)
	return c.sum
}

func (c *slidingCounter) Add(now time.Time, n int64) {
	c.prune(now)
	if k := len(c.entries); k > 0 && c.entries[k-1].at.Equal(now) {
		c.entries[k-1].n += n
	} else {
		c.entries = append(c.entries, slidingEntry{now, n})
	}
	c.sum += n
}

func (c *slidingCounter) Remove(at, now time.Time, n int64) {
	c.prune(now)
	for i := len(c.entries) - 1; i >= 0 && n > 0; i-- {
		if c.entries[i].at.Equal(at) {
			d := min(n, c.entries[i].n)
			c.entries[i].n -= d
			c.sum -= d
			n -= d
		}
	}
}

func (c *slidingCounter) Adopt(sent, now time.Time, used int64) {
	if now.Sub(sent) >= c.interval {
		return
	}
	if u := c.Used(now); used > u {
		c.Add(now, used-u)
	}
}

func (c *slidingCounter) Next(now time.Time) time.Time {
	c.prune(now)
	if len(c.entries) == 0 {
		return time.Time{}
	}
	return c.entries[0].at.Add(c.interval)
}

// pacer releases a window's safe limit evenly over its interval, with a burst of up to a
// share of it: a token bucket of capacity burst·safe refilled at rate (window.paceRate:
// safe/interval, or a decaying window's safe drain rate). It runs on the scheduler's own
// clock (pacing needs no alignment). The zero value is not usable.
type pacer struct {
	rate   float64 // tokens per nanosecond
	burst  float64
	tokens float64
	last   time.Time
}

// configure sets the pacer for a safe limit released at rate (tokens per nanosecond) at now.
// A new pacer starts full: the
// first requests need not wait. A pacer that was running keeps what was spent, not what was
// left: the tokens spent recently and not yet refilled (burst - tokens) are still owed under
// the new limit. So a raised limit applies at once (a pacer emptied under a limit of 100 is
// nearly full under one of 6000, instead of refilling for seconds at the new rate from
// empty), and a lowered one too: the tokens never exceed the new burst, and the window's
// count, which SetWindowLimit keeps, caps what the new limit admits in the window.
func (p *pacer) configure(safe int64, rate, burst float64, now time.Time) {
	fresh := p.last.IsZero()
	p.advance(now)
	oldBurst := p.burst
	p.rate = rate
	p.burst = math.Max(1, burst*float64(safe))
	switch {
	case fresh:
		p.tokens = p.burst
	case p.burst > oldBurst:
		p.tokens += p.burst - oldBurst
	default:
		p.tokens = math.Min(p.tokens, p.burst)
	}
	p.last = now
}

func (p *pacer) advance(now time.Time) {
	if d := now.Sub(p.last); d > 0 {
		p.tokens = math.Min(p.burst, p.tokens+float64(d)*p.rate)
		p.last = now
	}
}

// check reports whether n may be taken at now by a priority that must leave reserve tokens
// (its share of the burst kept for higher priorities) and, if not, when it may. A cost larger
// than what could ever be free goes out when the bucket is as full as it gets, and leaves debt.
func (p *pacer) check(now time.Time, n int64, reserve float64) (bool, time.Time) {
	p.advance(now)
	need := math.Min(float64(n), p.burst-reserve)
	avail := p.tokens - reserve
	if avail >= need-1e-9 {
		return true, time.Time{}
	}
	wait := time.Duration(math.Ceil((need - avail) / p.rate))
	return false, now.Add(max(wait, time.Microsecond))
}

func (p *pacer) take(now time.Time, n int64) {
	p.advance(now)
	p.tokens -= float64(n)
}

func (p *pacer) give(n int64) {
	p.tokens = math.Min(p.burst, p.tokens+float64(n))
}

// window is a configured limit window: its counter, its pacer and its limits.
// Its fields are guarded by Scheduler.mu.
type window struct {
	cfg     WindowConfig
	counter Counter
	pace    pacer
	// reserved is the scan that found a request waiting on this window: no later request of
	// that scan may take from it (strict priority, FIFO within a level).
	reserved uint64
	// fraction is the safety fraction in force: SafetyFraction, or SafetyFractionConfirmed
	// while the exchange's usage reports confirm the count (usage.go).
	fraction float64
	usage    usage
	demand   demand // what each priority asked of it lately (lending.go)
}

// configurePace sets the window's pacer for its config and safety fraction at now.
func (w *window) configurePace(now time.Time) {
	w.pace.configure(w.safe(w.fraction), w.paceRate(w.fraction), w.cfg.Burst, now)
}

// paceRate returns how fast the pacer refills, in tokens per nanosecond: the safe limit per
// interval, so that a window's safe limit is released over it. A decaying window's level
// drains at Limit per Interval, whole window or not, so its pacer refills at that rate less
// the safety margin, SafetyFraction·Limit per Interval: unfloored, since no whole window's
// count is at stake (Limit 15 per 45s releases one per 3.33s, where a floored 13 would
// release one per 3.46s).
func (w *window) paceRate(fraction float64) float64 {
	if w.cfg.Kind == KindDecaying {
		return float64(w.cfg.Limit) * fraction / float64(w.cfg.Interval)
	}
	return float64(w.safe(fraction)) / float64(w.cfg.Interval)
}

// safe returns the usable limit, SafetyFraction of the announced one.
func (w *window) safe(fraction float64) int64 {
	return max(1, int64(math.Floor(float64(w.cfg.Limit)*fraction+1e-9)))
}

// capFor returns how much of the window priority p may fill: its headroom share of the safe
// limit.
func (w *window) capFor(fraction, headroom float64) int64 {
	return max(1, int64(math.Floor(float64(w.safe(fraction))*headroom+1e-9)))
}
