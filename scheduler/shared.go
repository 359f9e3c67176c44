package scheduler

import "time"

// Shared is fleet mode's one seam: what a shared store (Redis, in internal/fleet) stands
// behind so that several instances on one API key behave as one client. Windows, buckets and
// breakers are local by default; WithShared hands them to a Shared, so a single process never
// pays for it. The scheduler calls Window and Semaphore with its own lock held (from New,
// AddWindow and SetWindowLimit), and Publish and Holds with it held too: none may block.
type Shared interface {
	// Window returns the shared Counter of window w, or nil to keep w local (local, its kind's
	// own Counter). Before granting a request the scheduler asks a shared window to Reserve
	// its cost: the count grows by n only if it stays within limit (the cap of the request's
	// priority) fleet-wide, atomically, so that two instances can never both take the last of
	// a window; if not, Reserve returns when to ask again (zero: when wake is called). A
	// shared window is not sent Add for a granted request; Remove still gives back a grant
	// that was never sent. Reserve should answer from a local lease where it can; now is on
	// the exchange's clock. wake makes the scheduler look at its queue again (budget given
	// back elsewhere); it may be called from any goroutine and never blocks. A shared fixed
	// window should implement InFlight (what is in flight at a rollover counts in the new
	// period fleet-wide) and SetSkew(d time.Duration), which the scheduler calls with
	// SetClockUncertainty's d (a grant in the first d of a period must fit in what is left of
	// the period before too).
	Window(w WindowConfig, local Counter, wake func()) interface {
		Counter
		Reserve(now time.Time, n, limit int64) (ok bool, retry time.Time)
	}
	// Semaphore returns bucket b's Semaphore. local builds the in-process one (AIMD between 1
	// and maxConcurrency, successRun successes to raise it) for a share of the cap the store
	// may fall back on; wake is as for Window (a slot freed elsewhere).
	Semaphore(b BucketConfig, successRun int, local func(maxConcurrency int) Semaphore, wake func()) Semaphore
	// Publish announces a breaker opening or bucket pause this instance decided (handed to a
	// background writer: it must not block).
	Publish(h SharedHold)
	// Holds returns the holds in force at now that other instances published (and may
	// include this instance's own), from a cache refreshed in the background (at most 100 ms
	// old). The caller does not modify the slice. Times are on the scheduler's clock.
	Holds(now time.Time) []SharedHold
}

// WithShared shares the scheduler's windows, bucket slots, breaker openings and bucket pauses
// through sh (fleet mode: one instance's auth failure, 418 ban or 429 pause holds the whole
// fleet; the breakers stay local gobreaker breakers, only "open until T, class, reason" is
// shared). Default: none; everything is local.
func WithShared(sh Shared) Option { return func(o *options) { o.shared = sh } }

// reserver is a window Shared.Window made shared.
type reserver interface {
	Reserve(now time.Time, n, limit int64) (ok bool, retry time.Time)
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

// wake makes the scheduler look at its queue again: something outside it (a shared slot freed,
// budget given back elsewhere) may let a waiting request go. It never blocks.
func (s *Scheduler) wake() {
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

// newCounter builds window wc's Counter: its kind's, or the one Shared makes shared.
func (s *Scheduler) newCounter(wc WindowConfig) Counter {
	c := s.kinds[wc.Kind](wc)
	if s.shared != nil {
		if sc := s.shared.Window(wc, c, s.wake); sc != nil {
			c = sc
		}
	}
	if sk, ok := c.(skewed); ok {
		sk.SetSkew(s.skew)
	}
	return c
}

// newSemaphore builds bucket bc's Semaphore: the local one, or the one Shared makes shared.
func (s *Scheduler) newSemaphore(bc BucketConfig) Semaphore {
	run := s.cfg.AIMD.SuccessRun
	if s.shared == nil {
		return newLocalSemaphore(bc.MaxConcurrency, run)
	}
	return s.shared.Semaphore(bc, run, func(maxConcurrency int) Semaphore { return newLocalSemaphore(maxConcurrency, run) }, s.wake)
}
