package scheduler

import "time"

// The seams of fleet mode. A Counter, a Semaphore and the breakers are local by default; in
// fleet mode a shared store (Redis, in internal/fleet) stands behind them so that several
// instances on one API key behave as one client. Each seam is optional and has a local
// default, so a single process never pays for it.

// Reserver is implemented by a Counter shared between processes. Before granting a request,
// the scheduler asks each shared window to Reserve its cost: the count grows by n only if it
// stays within limit (the cap of the request's priority) fleet-wide, atomically, so that two
// instances can never both take the last of a window. A Counter that implements Reserver is
// not also sent Add for a granted request; Remove still gives back a grant that was never sent.
//
// Reserve is called with the scheduler's lock held, so it should answer from a local lease
// where it can. now is on the exchange's clock.
type Reserver interface {
	// Reserve counts n at now if the count stays within limit. If it does not, it returns when
	// to ask again (zero: when something else wakes the scheduler).
	Reserve(now time.Time, n, limit int64) (ok bool, retry time.Time)
}

// Waker is implemented by a Counter or Semaphore whose state other processes change: a slot
// freed or budget returned elsewhere must make this scheduler look at its queue again. The
// scheduler calls SetWaker once, from New, with a function that may be called from any
// goroutine at any time (it never blocks and never runs the pump on the caller's goroutine).
type Waker interface {
	SetWaker(wake func())
}

// SharedHold is a hold that one instance published for the fleet: a breaker of Class open
// (Bucket empty) or a bucket paused after a 429 or a ban (Bucket set), until Until, for Reason.
type SharedHold struct {
	Class  Class
	Bucket string
	Until  time.Time
	Reason string
	// OrderLimit marks the hold of an order-count limit (Outcome.OrderLimit): it stops new
	// orders only; cancels and reads pass it. A store that drops it makes the hold IP-wide
	// (everything waits), which is the safe reading.
	OrderLimit bool
}

// scope returns what h stops.
func (h SharedHold) scope() holdScope {
	if h.OrderLimit && h.Class == ClassRateLimit {
		return scopeOrders
	}
	return scopeAll
}

// SharedHolds shares breaker openings and bucket pauses between instances, so that one
// instance's auth failure, 418 ban or 429 pause holds the whole fleet. The breakers stay local
// gobreaker breakers; only "open until T, class, reason" is shared. Both methods are called
// with the scheduler's lock held and must not block: Publish hands the hold to a background
// writer, Holds answers from a cache refreshed in the background (at most 100 ms old).
// Times are on the scheduler's clock.
type SharedHolds interface {
	// Publish announces a hold this instance decided.
	Publish(h SharedHold)
	// Holds returns the holds in force at now that other instances published (and may include
	// this instance's own). The caller does not modify the slice.
	Holds(now time.Time) []SharedHold
}

// WithSharedHolds makes the scheduler publish its breaker openings and bucket pauses to h and
// adopt those h reports (fleet mode). Default: none; every hold is local.
func WithSharedHolds(h SharedHolds) Option { return func(o *options) { o.shared = h } }

// Wake makes the scheduler look at its queue again: something outside it (a shared slot freed,
// a hold lifted elsewhere) may let a waiting request go. It never blocks.
func (s *Scheduler) Wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// adoptSharedLocked applies the holds other instances published: a breaker opened elsewhere
// fails requests fast here until it ends; a bucket paused elsewhere is paused here.
// requires that s.mu is held.
func (s *Scheduler) adoptSharedLocked(now time.Time) {
	if s.shared == nil {
		return
	}
	for _, h := range s.shared.Holds(now) {
		if !now.Before(h.Until) {
			continue
		}
		sc := h.scope()
		if h.Bucket == "" {
			for _, br := range s.breakers {
				if br.class != h.Class {
					continue
				}
				// A new opening takes the hold's scope; an IP-wide hold widens one in force.
				if !br.open(now) || sc == scopeAll {
					br.scope = sc
				}
				if h.Until.After(br.openUntil) {
					br.openUntil, br.reason = h.Until, h.Reason
				}
			}
			continue
		}
		if b := s.buckets[h.Bucket]; b != nil {
			pause := h.Until.Sub(now)
			b.holds[sc].extend(h.Until, resumeSpread(pause, s.cfg.Backoff.ResumeSpread, s.cfg.Backoff.ResumeSpreadRatio), h.Reason)
		}
	}
}

// publishLocked announces the breaker openings and the bucket pauses an attempt's outcome
// caused: before and beforeHold hold what was in force before it was reported.
// requires that s.mu is held.
func (s *Scheduler) publishLocked(before [3]time.Time, beforeHold [numScopes]time.Time, b *bucket, now time.Time) {
	if s.shared == nil {
		return
	}
	for i, br := range s.breakers {
		if br.openUntil.After(before[i]) && br.openUntil.After(now) {
			s.shared.Publish(SharedHold{Class: br.class, Until: br.openUntil, Reason: br.reason, OrderLimit: br.scope == scopeOrders})
		}
	}
	for sc := range numScopes {
		if h := &b.holds[sc]; h.until.After(beforeHold[sc]) && h.until.After(now) {
			s.shared.Publish(SharedHold{Class: ClassRateLimit, Bucket: b.cfg.Name, Until: h.until, Reason: h.reason, OrderLimit: sc == scopeOrders})
		}
	}
}
