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

// InFlight is implemented by a Counter of fixed windows that counts a request still in flight
// when its period ends in the next period as well (the built-in fixed window does, and so does
// the fleet's shared one). The exchange counts a request when it arrives, not when it was
// granted: one granted in the last moments of a period arrives, and is counted, in the next,
// while the scheduler counted it in the period it was granted in. So the weight in flight at a
// rollover (the carry) counts in the new period until each of those requests ends and its
// answer says which period the exchange counted it in:
//   - an answer whose usage report is the new period's count (not the one before's: see
//     Scheduler.landedLocked in usage.go) showed it counted there: it stays counted, now for
//     certain;
//   - any other end (an answer without a report for the window, or with the period before's
//     count, a failure, a grant given back) releases it from the new period's count.
//
// A request in flight across a rollover is counted twice until it ends (in the period it was
// granted in, which the scheduler no longer looks at, and in the new one), never zero times:
// without the carry, the new period's count is short of the exchange's by that weight, and a
// window filled to 0.99 of its limit is over-granted by up to it (a margin of 60 of 6000 is
// less than one depth read of 250).
//
// The scheduler calls Sent for each grant (after Add, or a shared window's Reserve) and Done
// once for each grant it called Sent for, with its lock held, as for the other methods.
type InFlight interface {
	// Sent records that n granted at at is in flight.
	Sent(at time.Time, n int64)
	// Done ends n granted at at, at now. counted reports that the exchange's answer showed
	// it counted in now's period; it matters only for a request granted in the period before
	// now's (carried).
	Done(at, now time.Time, n int64, counted bool)
}

// skewed is implemented by a Counter of fixed windows that allows for the uncertainty of the
// clock offset (Scheduler.SetClockUncertainty): the times it is given are the exchange's clock
// as measured, which may run up to d ahead of the exchange's own. A request granted in the
// first d of a period may so arrive while the exchange is still in the period before, and be
// counted there: such a request must fit in what is left of the period before too, and counts
// in it (the built-in fixed window keeps the period before's count for that first d; the
// fleet's grants it from what is left of its lease of the period before). The other way, a
// clock behind the exchange's, is the carry's (InFlight): a request is in flight from its
// grant, so what arrives late is what was still in flight.
type skewed interface {
	SetSkew(d time.Duration)
}

// SetClockUncertainty sets how far the clock offset given to SetClockOffset may be from the
// exchange's true one: half the round trip of the server-time request it was measured with
// (the exchange read its clock somewhere in it), and the rounding of the time it sent. Fixed
// windows then hold a request granted in the first d of a period to what is left of the
// period before as well, since the exchange may still be in it when the request arrives
// (skewed). Default 0: the offset is taken as exact.
func (s *Scheduler) SetClockUncertainty(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skew = max(d, 0)
	for _, w := range s.windows {
		if sk, ok := w.counter.(skewed); ok {
			sk.SetSkew(s.skew)
		}
	}
	s.pumpLocked(s.clock.Now()) // a smaller one may let a waiting request go
}

// NewCounterFunc builds the Counter for a window of a kind registered with WithWindowKind.
type NewCounterFunc func(w WindowConfig) Counter

func newFixedCounter(w WindowConfig) Counter { return &fixedCounter{interval: int64(w.Interval)} }

func newSlidingCounter(w WindowConfig) Counter { return &slidingCounter{interval: w.Interval} }

// fixedCounter counts in windows aligned to the epoch on the exchange's clock: "a 1 MINUTE
// interval starts every minute". It carries what is in flight at a rollover into the new
// period (InFlight). Its zero value is not usable: interval must be set.
type fixedCounter struct {
	interval int64 // nanoseconds
	period   int64 // index of the period used belongs to
	used     int64
	flight   flight
	// skew is how far the clock may run ahead of the exchange's (skewed), at most half the
	// interval; prev is the count of the period before period, which a grant in the first
	// skew of period must fit in and counts in.
	skew, prev int64
}

// flight is the weight granted and not yet ended, by period, for a fixed window that carries
// it across a rollover (InFlight): what was in flight when a period ended counts in the next.
type flight struct {
	period  int64 // the period flying was granted in
	flying  int64 // granted in period, in flight
	carried int64 // granted in period-1, still in flight: counted in period too
}

// roll moves f to period p and returns the weight it carries into p: what was in flight at
// the end of the period before (nothing from an older one: a request in flight for a whole
// period is not the rollover's).
func (f *flight) roll(p int64) int64 {
	if p <= f.period {
		return 0
	}
	f.carried = 0
	if p == f.period+1 {
		f.carried = f.flying
	}
	f.period, f.flying = p, 0
	return f.carried
}

// done ends n granted in period at (f rolled to now's period first) and reports whether it was
// carried into f's period.
func (f *flight) done(at, n int64) (carried bool) {
	switch at {
	case f.period:
		f.flying = max(0, f.flying-n)
	case f.period - 1:
		if f.carried > 0 {
			f.carried = max(0, f.carried-n)
			return true
		}
	}
	return false
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

// roll moves on to the period of now, if that is later; what was in flight at the end of the
// one before starts the new count. A time of an earlier period (the clock offset moved back)
// does not roll back.
func (c *fixedCounter) roll(now time.Time) {
	if p := c.index(now); p > c.period {
		c.prev = 0
		if p == c.period+1 {
			c.prev = c.used
		}
		c.period, c.used = p, c.flight.roll(p)
	}
}

// early reports whether t, in period, is within its first skew: the exchange may still be in
// the period before.
func (c *fixedCounter) early(t time.Time) bool {
	return t.UnixNano()-c.period*c.interval < c.skew
}

func (c *fixedCounter) Used(now time.Time) int64 {
	c.roll(now)
	if c.index(now) != c.period {
		return 0
	}
	if c.early(now) {
		return max(c.used, c.prev)
	}
	return c.used
}

func (c *fixedCounter) Add(now time.Time, n int64) {
	c.roll(now)
	c.used += n
	if c.index(now) == c.period && c.early(now) {
		c.prev += n
	}
}

func (c *fixedCounter) Remove(at, now time.Time, n int64) {
	if c.index(at) == c.index(now) && c.index(now) == c.period {
		c.used = max(0, c.used-n)
		if c.early(at) {
			c.prev = max(0, c.prev-n)
		}
	}
}

func (c *fixedCounter) SetSkew(d time.Duration) {
	c.skew = min(max(int64(d), 0), c.interval/2)
}

func (c *fixedCounter) Adopt(sent, now time.Time, used int64) {
	if c.index(sent) != c.index(now) {
		return
	}
	c.roll(now)
	c.used = max(c.used, used)
}

func (c *fixedCounter) Sent(at time.Time, n int64) {
	c.roll(at)
	if c.index(at) == c.period {
		c.flight.flying += n
	}
}

func (c *fixedCounter) Done(at, now time.Time, n int64, counted bool) {
	c.roll(now)
	if c.flight.done(c.index(at), n) && !counted {
		c.used = max(0, c.used-n)
	}
}

func (c *fixedCounter) Next(now time.Time) time.Time {
	start := c.index(now) * c.interval
	if c.index(now) == c.period && c.early(now) && c.prev > c.used {
		return time.Unix(0, start+c.skew) // the period before's count stops applying
	}
	return time.Unix(0, start+c.interval)
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
	demand   demand  // what each priority asked of it lately (lending.go)
	highest  highest // its usage reports' highest, by fixed period (landedLocked)
}

// sent records n granted at server as in flight, for a counter that carries what is in flight
// at a rollover (InFlight; the usage record's own count carries it too: usage.granted).
func (w *window) sent(server time.Time, n int64) {
	if f, ok := w.counter.(InFlight); ok {
		f.Sent(server, n)
	}
}

// ended ends n granted at at, at server: answered (counted: its answer showed the exchange
// counted it in server's period), failed, or never sent.
func (w *window) ended(at, server time.Time, n int64, counted bool) {
	if f, ok := w.counter.(InFlight); ok {
		f.Done(at, server, n, counted)
	}
	w.usage.done(at, server, n, counted)
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

// highest is the highest usage report of a fixed window in a period and in the one before:
// the exchange's count only grows within a period, so a report below the highest of the
// period before cannot be a count of that period taken later (landedLocked).
type highest struct{ period, used, prev int64 }

// note takes in a report of used in period p.
func (h *highest) note(p, used int64) {
	if p > h.period {
		h.prev = 0
		if p == h.period+1 {
			h.prev = h.used
		}
		h.period, h.used = p, 0
	}
	if p == h.period {
		h.used = max(h.used, used)
	}
}

// before returns the highest report of the period before p.
func (h *highest) before(p int64) int64 {
	h.note(p, 0)
	if p != h.period {
		return 0
	}
	return h.prev
}
