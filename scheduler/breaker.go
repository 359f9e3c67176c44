package scheduler

import (
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
)

// breaker is the circuit breaker of one failure class, built on gobreaker's two-step breaker.
//
// gobreaker counts and decides: while the breaker is closed the results of the requests it lets
// through are reported to a gobreaker breaker (cb), which counts consecutive failures (excluded
// results aside), asks readyToTrip after each failure (the failure ratio is ours, on the
// scheduler's clock) and trips. Only the results that can change what it decides are reported
// to it (reportClosed): every failure, and the success that ends a run of failures. A success
// while its run of consecutive failures is zero would leave it as it is, so the hot path does
// not pay gobreaker's bookkeeping (two clock reads and a closure) for each of three breakers. Time is ours: gobreaker's open timeout runs on the wall clock, which
// neither a fake clock nor a 418's Retry-After can move, so from the trip the breaker is open
// until openUntil, on the scheduler's clock, and then half-open: it lets one probe through
// (probing), whose success closes it and whose failure opens it again. With a Prober the probe
// is always a read (probeWaits): an order or a cancel never tests an exchange that was
// failing, since it might be applied and never acknowledged. Each trip starts a
// fresh cb for the next closed period; results of requests let through before the trip land
// in the old one, whose generation has moved on, so they are ignored, as gobreaker ignores
// results from before a transition.
//
// While open, a breaker holds the requests breaker.holds names; the others pass it without
// being counted by cb (they would skew its run), and their failures are counted by
// reportPassed.
//
// All fields are guarded by Scheduler.mu. Every call into cb is made with mu held, so the
// callbacks gobreaker makes (ReadyToTrip, OnStateChange) run with it held too.
type breaker struct {
	class   Class
	cfg     BreakerConfig
	private bool // holds only private buckets (auth: public endpoints are not signed)
	// cb counts the current closed period; a trip replaces it.
	cb *gobreaker.TwoStepCircuitBreaker[struct{}]

	openUntil time.Time
	reason    string
	// scope is what the opening holds. Only the rate_limit breaker narrows it: to
	// scopeOrders when order-count refusals alone tripped it.
	scope   holdScope
	ipRun   bool      // an IP-wide failure since the last success
	lastIP  time.Time // the last IP-wide failure
	tripped bool      // open or half-open: from the trip until a probe closes it
	probing bool      // a half-open probe is in flight
	// sending is set while a read the scheduler sent (WithProber) to probe this breaker runs;
	// sentAt is when the last one was sent.
	sending bool
	sentAt  time.Time
	ratio   *rolling // a: calls, b: failures, over cfg.Window
	// gen counts the trips: a closed period is the gen it started in, and a result of a
	// request let through in an earlier one is not reported to cb (gobreaker ignores results
	// from before a transition). failing is set while cb's run of consecutive failures is not
	// zero.
	gen     uint64
	failing bool

	// Set before each report, read by the callbacks.
	now        time.Time
	lastReason string
	forceUntil time.Time // trip now and stay open until then (a 418 ban)
}

var (
	errFailure  = errors.New("scheduler: breaker failure")
	errExcluded = errors.New("scheduler: breaker exclusion")
)

func newBreaker(class Class, cfg BreakerConfig, private bool) *breaker {
	b := &breaker{class: class, cfg: cfg, private: private, ratio: newRolling(cfg.Window)}
	b.cb = b.newCounter()
	return b
}

// newCounter returns a closed gobreaker breaker that trips the breaker when readyToTrip says
// so. Its own timeout never matters: it is replaced when it trips.
func (b *breaker) newCounter() *gobreaker.TwoStepCircuitBreaker[struct{}] {
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        b.class.String(),
		ReadyToTrip: b.readyToTrip,
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.trip()
			}
		},
		IsExcluded: func(err error) bool { return err == errExcluded },
	})
}

// requires that Scheduler.mu is held.
func (b *breaker) readyToTrip(c gobreaker.Counts) bool {
	if !b.forceUntil.IsZero() || c.ConsecutiveFailures >= b.cfg.ConsecutiveFailures {
		return true
	}
	if b.cfg.FailureRatio < 0 {
		return false
	}
	calls, fails := b.ratio.sums(b.now)
	return calls >= int64(b.cfg.MinCalls) && float64(fails) >= b.cfg.FailureRatio*float64(calls)
}

// trip opens the breaker at b.now, for OpenFor or until the ban that tripped it ends,
// whichever is later, and starts a fresh counter for after it closes.
// requires that Scheduler.mu is held.
func (b *breaker) trip() {
	b.tripped = true
	b.openUntil = maxTime(b.now.Add(b.cfg.OpenFor), b.forceUntil)
	b.reason = b.lastReason
	b.scope = b.tripScope()
	b.cb = b.newCounter()
	b.gen++
	b.failing = false
}

// probeDone takes the half-open probe's result (what report passes to done): a failure opens
// the breaker again, a success closes it, and an excluded result (nothing to say about this
// class, or never sent) lets the next request probe.
// requires that Scheduler.mu is held.
func (b *breaker) probeDone(err error) {
	b.probing = false
	switch err {
	case errFailure:
		b.trip()
	case nil:
		b.tripped = false
		b.ratio.reset()
		b.reason = ""
	}
}

// tripScope returns the scope of an opening now: scopeOrders only for the rate_limit breaker
// when no IP-wide failure (nor a ban) is in the run that tripped it or in its window.
// requires that Scheduler.mu is held.
func (b *breaker) tripScope() holdScope {
	if b.class != ClassRateLimit || b.ipRun || !b.forceUntil.IsZero() ||
		(!b.lastIP.IsZero() && b.now.Sub(b.lastIP) < b.cfg.Window) {
		return scopeAll
	}
	return scopeOrders
}

// applies reports whether the breaker holds requests of bucket bk.
func (b *breaker) applies(bk *bucket) bool { return !b.private || !bk.cfg.Public }

// holds reports whether the breaker, while open, holds w. The auth breaker holds all but
// cancels: a bot whose key failed must still be able to cancel (the kill switch cancels right
// after an auth trip), and a cancel cannot add exposure; the scheduler lets them through one
// at a time per bucket. The rate_limit breaker holds what its scope stops. The transient
// breaker holds everything: the platform is down for cancels too.
func (b *breaker) holds(w *waiter) bool {
	switch b.class {
	case ClassAuth:
		return !w.cancel
	case ClassRateLimit:
		return b.scope.stops(w)
	}
	return true
}

// probeWaits reports whether w must wait for a read to probe the half-open breaker: with a
// prober, a write is never the probe.
// requires that Scheduler.mu is held.
func (b *breaker) probeWaits(w *waiter, prober bool) bool {
	return prober && b.tripped && w.req.Write
}

// open reports whether the breaker is open at now.
// requires that Scheduler.mu is held.
func (b *breaker) open(now time.Time) bool { return now.Before(b.openUntil) }

// openError returns the fail-fast error while the breaker is open at now, else nil.
// requires that Scheduler.mu is held.
func (b *breaker) openError(now time.Time) *BreakerOpenError {
	if b.open(now) {
		return &BreakerOpenError{Class: b.class, Until: b.openUntil, Reason: b.reason, OrderLimit: b.scope == scopeOrders}
	}
	return nil
}

// probe lets the one request of the half-open breaker through at now and returns the
// function that takes its result. The caller has checked that the breaker is tripped, not
// open, and that no probe is in flight.
// requires that Scheduler.mu is held.
func (b *breaker) probe(now time.Time) func(error) {
	b.now = now
	b.probing = true
	return b.probeDone
}

// reportClosed feeds the result of a request let through while the breaker was closed, in
// closed period gen: to cb only when it can change cb's counts (a failure, or a success that
// ends a run of failures) and cb still counts that period; the breaker's own figures (the
// failure ratio, the scope) take every result.
// requires that Scheduler.mu is held.
func (b *breaker) reportClosed(gen uint64, now time.Time, c Class, o Outcome, banUntil time.Time) {
	v := b.verdict(c, o)
	if gen != b.gen || v == verdictExcluded || v == verdictSuccess && !b.failing {
		b.reportVerdict(v, nil, now, c, o, banUntil)
		return
	}
	b.now = now
	done, err := b.cb.Allow()
	if err != nil {
		// Cannot happen: cb is replaced the moment it trips, so it is always closed.
		b.reportVerdict(v, nil, now, c, o, banUntil)
		return
	}
	b.failing = v == verdictFailure // a trip, in done, clears it
	b.reportVerdict(v, done, now, c, o, banUntil)
}

// report feeds the result of an allowed request of class c (outcome o) at now to done (nil:
// to the breaker's own figures only); banUntil is when the ban o announced ends (zero: no
// ban).
// requires that Scheduler.mu is held.
func (b *breaker) report(done func(error), now time.Time, c Class, o Outcome, banUntil time.Time) {
	b.reportVerdict(b.verdict(c, o), done, now, c, o, banUntil)
}

// reportVerdict is report with the verdict already drawn.
// requires that Scheduler.mu is held.
func (b *breaker) reportVerdict(v verdict, done func(error), now time.Time, c Class, o Outcome, banUntil time.Time) {
	b.now = now
	var err error
	switch v {
	case verdictFailure:
		err = errFailure
		b.count(now, 1)
		b.lastReason = describe(c, o)
		b.countScope(now, o)
		if b.class == ClassRateLimit && !banUntil.IsZero() {
			b.forceUntil = banUntil
			if b.forceUntil.After(b.openUntil) && now.Before(b.openUntil) {
				b.openUntil = b.forceUntil // already open: a ban extends it
			}
		}
	case verdictSuccess:
		b.count(now, 0)
		b.ipRun = false
	default:
		err = errExcluded
	}
	if done != nil {
		done(err)
	}
	b.forceUntil = time.Time{}
}

// reportPassed feeds the result of a request that passed the breaker while it was open (a
// cancel through the auth breaker, a read through an order-count opening). gobreaker does not
// see it. A failure of the breaker's class still counts: the breaker stays open for OpenFor
// from now (a ban: until it ends), with the failure as its reason, and an IP-wide failure
// widens its scope.
// requires that Scheduler.mu is held.
func (b *breaker) reportPassed(now time.Time, c Class, o Outcome, banUntil time.Time) {
	switch b.verdict(c, o) {
	case verdictSuccess:
		b.count(now, 0)
		return
	case verdictExcluded:
		return
	}
	b.count(now, 1)
	b.countScope(now, o)
	until := now.Add(b.cfg.OpenFor)
	if b.class == ClassRateLimit && banUntil.After(until) {
		until = banUntil
	}
	b.openUntil = maxTime(b.openUntil, until)
	b.reason = describe(c, o)
}

// countScope records the scope of a failure o at now: an IP-wide one marks the run and, if
// the breaker is open, widens its opening.
// requires that Scheduler.mu is held.
func (b *breaker) countScope(now time.Time, o Outcome) {
	if scopeOf(o) == scopeAll {
		b.ipRun, b.lastIP = true, now
		if b.open(now) {
			b.scope = scopeAll
		}
	}
}

type verdict int

const (
	verdictExcluded verdict = iota
	verdictSuccess
	verdictFailure
)

// verdict tells what an attempt of class c, outcome o, means to this breaker.
func (b *breaker) verdict(c Class, o Outcome) verdict {
	switch {
	case o.Malformed && (c == ClassTransient || c == ClassUnknown):
		// An endpoint answered 2xx with a body we cannot read: the platform is up, and one
		// broken endpoint must not open a breaker that holds every endpoint (cancels
		// included). The endpoint's own count takes it (endpointFault).
		return verdictExcluded
	case c == b.class, b.class == ClassTransient && c == ClassUnknown:
		return verdictFailure
	case c == ClassNone, c == ClassValidation:
		return verdictSuccess
	case b.class == ClassTransient:
		return verdictSuccess // the exchange answered (auth, 429): the platform is up
	default:
		// A transient failure says nothing about auth or rate limits; an auth failure nothing
		// about rate limits, and the reverse.
		return verdictExcluded
	}
}

// state returns "closed", "open" or "half-open" at now, and until when it is open.
// requires that Scheduler.mu is held.
func (b *breaker) state(now time.Time) (string, time.Time) {
	if now.Before(b.openUntil) {
		return "open", b.openUntil
	}
	if b.tripped {
		return "half-open", time.Time{}
	}
	return "closed", time.Time{}
}

// describe summarizes a failed attempt for a breaker's reason, redacted.
func describe(c Class, o Outcome) string {
	s := c.String()
	if o.Status != 0 {
		s += fmt.Sprintf(" http %d", o.Status)
	}
	if o.Code != 0 {
		s += fmt.Sprintf(" code %d", o.Code)
	}
	if msg := message(o); msg != "" {
		s += ": " + msg
	}
	return s
}

// count adds a call (failed: 1) at now to the failure ratio, if the breaker has one.
// requires that Scheduler.mu is held.
func (b *breaker) count(now time.Time, failed int64) {
	if b.cfg.FailureRatio >= 0 {
		b.ratio.add(now, 1, failed)
	}
}
