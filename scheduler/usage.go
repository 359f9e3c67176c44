package scheduler

import (
	"math"
	"time"
)

// What the exchange's usage reports (Outcome.Usage: Binance's X-MBX-USED-WEIGHT-1M) teach a
// window, beyond the count the scheduler adopts from them.
//
// The safety fraction. The margin below the announced limit is there for what the scheduler
// cannot see: another client on the same IP or key, a request counted by the exchange in
// another window than ours, a count that drifted. While the reports confirm the window's count
// (each showed no more than the scheduler had counted when it sent that request, give or
// take half the confirmed margin) the window uses SafetyFractionConfirmed of its limit (0.99);
// when none came within the window's interval, or one in the last interval showed more than
// that, it falls back to SafetyFraction (0.9). A report is compared with the count when it
// arrives (which has taken in the reports before it) and, in a fixed window, what others were
// expected to spend meanwhile at their rate (below), so another client spending steadily keeps
// the count confirmed, while a jump the count did not allow for (a burst elsewhere, a
// misaligned window) does not.
//
// Others' spend (fixed windows counted locally, as Binance's are). A fixed window's count
// starts at zero each period while another client goes on spending through it, so a report
// early in the period shows only part of what the other will spend by its end: filling the
// window up to the report would take the rest of the other's share, and its requests would be
// refused (on Binance, 429s on a shared IP lead to bans of that IP, whoever sent them). So the
// window estimates how fast others spend (what the reports show beyond its own grants, per
// time elapsed in the period, or the previous period's rate early in one) and keeps room for
// what they will spend until the period ends, counted from the last report. The estimate
// lasts no longer than its evidence: a rate no report of a period measured is dropped when
// that period ends. The projection may itself close the window, and then nothing is sent and
// no report can renew or correct it; kept on, one report that overstated others' spend (our
// own requests that the exchange counted in its next period, under load or with a skewed
// clock offset) would close the window for good, orders included. A fleet's shared counter
// knows the other instances' spend itself and is left out.

// usage is what the reports told one window. Guarded by Scheduler.mu.
type usage struct {
	confirmed time.Time // the last report that agreed with the count (scheduler's clock)
	doubted   time.Time // the last that showed more than the count allowed for

	// Others' spend, for a local fixed window; times on the exchange's clock.
	fixed    bool
	interval int64 // ns
	period   int64 // the fixed window the fields below belong to
	// own is what the exchange may have counted of this scheduler's requests in period: those
	// granted in it, and those of the period before still in flight at its start (or answered
	// from it: InFlight).
	own      int64
	flight   flight
	spent    int64     // the most others had spent of period, by the reports
	reported time.Time // when the report that showed spent was sent
	// rate is others' spend per nanosecond, the most a report at least a tenth into the
	// period showed (earlier ones are noise), or the previous period's; prev is what others were expected to spend of the
	// previous period by its end, which bounds what is expected of this one.
	rate    float64
	sampled bool // rate was measured in period
	prev    int64
	// looked: a report of period was taken in; prevKnown: one of the period before was, so
	// prev is an estimate (not a period nobody watched).
	looked, prevKnown bool
}

// trusted reports whether the window's count is confirmed at now: a report agreed within
// interval and none disagreed within it.
func (u *usage) trusted(now time.Time, interval time.Duration) bool {
	return !u.confirmed.IsZero() && now.Sub(u.confirmed) <= interval &&
		(u.doubted.IsZero() || now.Sub(u.doubted) > interval)
}

// roll moves to the period of server, closing the one before: what others were expected to
// spend of it by its end becomes prev, and a rate that period did not measure is dropped.
func (u *usage) roll(server time.Time) {
	p := fixedWindowIndex(server, time.Duration(u.interval))
	if p == u.period {
		return
	}
	// A rate is evidence for the period that measured it and the next; a period that did
	// not measure it again ends it (see above: it may have closed the window itself).
	u.prev, u.prevKnown = 0, p == u.period+1 && u.looked
	if p == u.period+1 {
		u.prev = u.spent
		if u.sampled {
			u.prev += u.remaining()
		}
	}
	u.looked = false
	if !u.sampled {
		u.rate = 0
	}
	u.period, u.own, u.spent, u.reported, u.sampled = p, u.flight.roll(p), 0, time.Time{}, false
}

// remaining returns what others will spend of the current period after the report that
// showed spent, at the rate they spent so far.
func (u *usage) remaining() int64 {
	if u.rate <= 0 {
		return 0
	}
	from := u.period * u.interval
	if !u.reported.IsZero() {
		from = u.reported.UnixNano()
	}
	return int64(math.Ceil(u.rate * float64(u.period*u.interval+u.interval-from)))
}

// since returns what others are expected to have spent from the report that showed the most
// until sent: what a report of a request sent then may show beyond the count.
func (u *usage) since(sent time.Time) int64 {
	if !u.fixed || u.rate <= 0 || u.reported.IsZero() || !sent.After(u.reported) ||
		fixedWindowIndex(sent, time.Duration(u.interval)) != u.period {
		return 0
	}
	return int64(u.rate * float64(sent.Sub(u.reported)))
}

// sofar returns what others are expected to have spent of server's period by server: the
// most a report showed, or what their rate makes of the time elapsed, if more.
func (u *usage) sofar(server time.Time) int64 {
	if !u.fixed {
		return 0
	}
	u.roll(server)
	elapsed := server.UnixNano() - u.period*u.interval
	return max(u.spent, int64(u.rate*float64(elapsed)))
}

// granted counts n granted at server, in flight.
func (u *usage) granted(server time.Time, n int64) {
	if u.fixed {
		u.roll(server)
		u.own += n
		u.flight.flying += n
	}
}

// done ends n granted at at, at server (InFlight.Done).
func (u *usage) done(at, server time.Time, n int64, counted bool) {
	if u.fixed {
		u.roll(server)
		if u.flight.done(fixedWindowIndex(at, time.Duration(u.interval)), n) && !counted {
			u.own = max(0, u.own-n)
		}
	}
}

// aborted takes back n granted at at and never sent.
func (u *usage) aborted(at, server time.Time, n int64) {
	if u.fixed && fixedWindowIndex(at, time.Duration(u.interval)) == u.period {
		u.roll(server)
		u.own = max(0, u.own-n)
	}
}

// ahead returns what others are expected to spend of the current period at server beyond
// what the reports have shown: at their rate until the period ends, counted from the report
// that showed the most, and no more than they were expected to spend of the previous period in all (so
// that a burst early in a period is not taken for a rate).
func (u *usage) ahead(server time.Time) int64 {
	if !u.fixed || u.rate <= 0 {
		return 0
	}
	u.roll(server)
	if !u.prevKnown {
		// Nothing was seen of the period before (a start, a pause): there is no bound, and
		// taking none for zero left others nothing (BenchmarkGoodput/bystander's client, started
		// at a window's start, filled it and crowded the bystander into ~100 429s).
		return u.remaining()
	}
	return min(u.remaining(), max(0, u.prev-u.spent))
}

// others takes in a report of used for a request granted at sent (exchange's clock): others
// had spent at least used less this scheduler's grants of the period (less, by what of them
// the exchange had not counted yet). It returns the count the window should adopt: its own
// grants (those not counted yet included) plus the most others were seen to spend.
func (u *usage) others(sent time.Time, used int64) int64 {
	u.roll(sent)
	u.looked = true
	// The most seen is the best lower bound; what others spend is counted on from when it
	// was seen.
	spent := used - u.own
	if spent >= u.spent {
		u.spent, u.reported = spent, sent
	}
	// Each report gives a lower bound of the rate too (the period's first replaces the
	// previous period's rate): the highest is the best.
	if elapsed := sent.UnixNano() - u.period*u.interval; elapsed >= u.interval/10 {
		r := float64(spent) / float64(elapsed)
		if !u.sampled || r > u.rate {
			u.rate, u.sampled = r, true
		}
	}
	return u.own + u.spent
}

// reportLocked takes in the exchange's count used of win, reported with the answer to w's
// attempt (sent at w.sentServer, answered at now, server on the exchange's clock): it confirms
// or doubts the window's count and adopts it.
// requires that s.mu is held.
func (s *Scheduler) reportLocked(win *window, w *waiter, used int64, now, server time.Time) {
	if win.cfg.Kind == KindFixed && fixedWindowIndex(w.sentServer, win.cfg.Interval) != fixedWindowIndex(server, win.cfg.Interval) {
		return // a count of the period before: the counter ignores it too
	}
	win.highest.note(fixedWindowIndex(server, win.cfg.Interval), used)
	tolerance := max(1, (1-s.cfg.SafetyFractionConfirmed)*float64(win.cfg.Limit)/2)
	// A report after a silence (a start, a pause) that shows others' spend is a doubt too:
	// others just seen may be ramping up (a deploy of several instances on one IP), so the
	// window keeps SafetyFraction for an interval; a steady bystander costs a tenth of that
	// interval once.
	if float64(used-win.counter.Used(server)-win.usage.since(w.sentServer)) > tolerance {
		win.usage.doubted = now
	} else {
		win.usage.confirmed = now
	}
	if win.usage.fixed {
		used = min(win.usage.others(w.sentServer, used), win.cfg.Limit)
	}
	win.counter.Adopt(w.sentServer, server, used)
}

// landedLocked ends w's attempt in each of its windows (InFlight), answered at server with the
// usage reports reports (none for a failure without an answer). An attempt granted in the
// fixed period before server's was in flight at the rollover and counted in server's period
// meanwhile (the carry): it stays counted there if its report for the window is that period's
// count, and is released otherwise.
//
// Which period a report is the count of is not said: the exchange counts a request when it
// arrives, anywhere between its grant and its answer. It is taken for the new period's when it
// includes the request (at least its cost) and either is no more than the new period's count
// as the scheduler has it (the carry included, and others' spend so far, as the reports showed
// it), give or take half the confirmed margin, the tolerance reportLocked allows, or is below
// the highest report of the period before (whose count only grew). A period's start, where the
// count is low, and a full period's end tell apart at once; the second test keeps a fleet's
// instance, whose count of the others' spend lags by a notice, from taking the new period's
// count for the old one's. A report of a period before that used little may be taken for the
// new one's: the request then stays counted in the new period, too much by its cost, the safe
// way.
// requires that s.mu is held.
func (s *Scheduler) landedLocked(w *waiter, reports []Usage, server time.Time) {
	for _, c := range w.costs {
		if c.amt <= 0 {
			continue
		}
		win, counted := c.win, false
		if _, carries := win.counter.(InFlight); carries &&
			fixedWindowIndex(w.sentServer, win.cfg.Interval)+1 == fixedWindowIndex(server, win.cfg.Interval) {
			for _, u := range reports {
				if u.Window == win.cfg.Name {
					tolerance := max(1, (1-s.cfg.SafetyFractionConfirmed)*float64(win.cfg.Limit)/2)
					used := clampUsage(u.Used, win.cfg.Limit)
					counted = used >= c.amt && (used < win.highest.before(fixedWindowIndex(server, win.cfg.Interval)) ||
						float64(used-win.counter.Used(server)-win.usage.sofar(server)) <= tolerance)
				}
			}
		}
		win.ended(w.sentServer, server, c.amt, counted)
	}
}

// fractionLocked brings win's safety fraction up to date at now: confirmed or not. A change
// re-sizes the window's pacer.
// requires that s.mu is held.
func (s *Scheduler) fractionLocked(win *window, now time.Time) {
	f := s.cfg.SafetyFraction
	if win.usage.trusted(now, win.cfg.Interval) {
		f = s.cfg.SafetyFractionConfirmed
	}
	if f != win.fraction {
		win.fraction = f
		win.configurePace(now)
	}
}
