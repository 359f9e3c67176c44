package scheduler

import (
	"context"
	"sync"
	"time"
)

// waiter is one request's place in the queue, reused for each of its attempts (and, pooled,
// by later requests). Fields below the links are guarded by Scheduler.mu.
type waiter struct {
	waiterState
	// Backing arrays for costs and dones, so that a common request allocates less. A pooled
	// waiter keeps what they held: costs and dones are written before they are read.
	costsBuf [2]charge
	donesBuf [3]breakerDone
}

// waiterState is what a pooled waiter starts afresh (zero) for each request.
type waiterState struct {
	req    *Request
	prio   Priority
	bucket *bucket
	costs  []charge // costs[i] is req.Costs[i] resolved
	// places is a write that is not a cancel: it may add exposure (new orders, amendments).
	// The gate is asked before each of its attempts, and order-count holds stop it.
	places   bool
	cancel   bool // Request.Cancel
	budget   time.Duration
	deadline time.Time // end of the request's time budget: budget from its first queueing
	maxWait  time.Duration

	prev, next *waiter
	queued     bool

	attempt   int
	enqueued  time.Time         // when this attempt became due (entered the queue, or its retry time)
	notBefore time.Time         // retry time, and the spread drawn after a pause
	shedAt    time.Time         // zero: never shed
	holdGen   [numScopes]uint64 // per scope, the bucket pause whose spread notBefore includes

	done    bool          // the wait ended: granted (err nil) or failed
	err     error         // why the wait failed
	waiting bool          // a goroutine waits on ready
	ready   chan struct{} // signalled once when done, if waiting

	ctx context.Context // the caller's, for the attempt's context

	// The grant.
	actx       *attemptContext // the attempt's context, on the real clock (attemptctx.go)
	grantedAt  time.Time       // scheduler clock
	sentServer time.Time       // exchange clock, for counters
	inflight   int
	dones      []breakerDone
	authPass   bool // passed the open auth breaker: holds its bucket's authCancel
}

// charge is one of a request's costs: its window, and what it costs at the latest look at
// the attempt (Cost.AmountAt), so after a grant what the grant charged, which an abort gives
// back.
type charge struct {
	win *window
	amt int64
	// limit is the most of the window the request's priority could fill at the latest look
	// (lending.go).
	limit int64
}

// breakerDone is how a granted request reports to breaker b: with reportPassed when it
// passed b while b was open; through done when it is b's half-open probe; otherwise with
// reportClosed, for the closed period gen (breaker.go: a success is not worth gobreaker's
// bookkeeping while no failure is counted).
type breakerDone struct {
	b      *breaker
	done   func(error)
	passed bool
	gen    uint64
}

// waiters are reused: a request's waiter is its largest allocation. Its ready channel is not
// (made when a request first has to wait, so a request granted at once makes none): a channel
// belongs to the synctest bubble that made it, and a pooled one could reach another.
var waiters = sync.Pool{New: func() any { return new(waiter) }}

// getWaiter returns a zeroed waiter.
func getWaiter() *waiter {
	return waiters.Get().(*waiter)
}

// putWaiter gives w back once its request is over: nothing refers to it any more (it left the
// queue, and its ready channel was drained or never signalled).
func putWaiter(w *waiter) {
	w.waiterState = waiterState{}
	waiters.Put(w)
}

// fifo is one priority level of the queue: an intrusive doubly linked list, oldest first.
type fifo struct {
	head, tail *waiter
	n          int
}

func (q *fifo) push(w *waiter) {
	w.prev, w.next, w.queued = q.tail, nil, true
	if q.tail != nil {
		q.tail.next = w
	} else {
		q.head = w
	}
	q.tail = w
	q.n++
}

func (q *fifo) remove(w *waiter) {
	if !w.queued {
		return
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		q.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		q.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
	q.n--
}

// acquire queues w for its next attempt and waits until it is granted (its costs taken from
// its windows, a slot taken in its bucket, its breakers passed) or fails (shed, budget, open
// breaker, ctx, Close). A request whose ctx ends while queued leaves without consuming budget.
func (s *Scheduler) acquire(ctx context.Context, w *waiter) error {
	s.mu.Lock()
	now := s.clock.Now()
	if w.deadline.IsZero() { // the first attempt: the request's budget starts
		w.deadline = now.Add(w.budget)
	}
	if err := s.admitLocked(w, now); err != nil {
		s.mu.Unlock()
		return err
	}
	w.done, w.err, w.waiting = false, nil, false
	w.ctx, w.actx = ctx, nil
	w.enqueued = now
	if w.notBefore.After(now) {
		w.enqueued = w.notBefore
	}
	w.shedAt = time.Time{}
	if w.prio < PriorityOrders {
		w.shedAt = w.enqueued.Add(w.maxWait)
	}
	s.queue[w.prio].push(w)
	s.pumpLocked(now)
	if w.done {
		err := w.err
		s.mu.Unlock()
		return err
	}
	if w.ready == nil {
		w.ready = make(chan struct{}, 1)
	}
	w.waiting = true
	s.mu.Unlock()

	select {
	case <-w.ready:
		return w.err
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now = s.clock.Now()
	if w.done {
		<-w.ready
		if w.err != nil {
			return w.err
		}
		s.abortLocked(w, now) // granted as ctx ended: give it all back
	} else {
		s.queue[w.prio].remove(w)
		w.done = true
	}
	s.pumpLocked(now) // it may have been holding back lower priorities
	return context.Cause(ctx)
}

// admitLocked fails a request fast when it cannot be served: the scheduler is closed, a
// breaker that holds it is open, or its bucket is paused past its budget or max wait.
// requires that s.mu is held.
func (s *Scheduler) admitLocked(w *waiter, now time.Time) error {
	if s.closed {
		return ErrClosed
	}
	if !now.Before(w.deadline) {
		return ErrBudgetExhausted
	}
	s.adoptSharedLocked(now)
	b := w.bucket
	// A cancel is not refused by a hold it can pass as its bucket's spaced cancel probe
	// within its budget: it waits for its turn instead.
	probeInBudget := w.cancel && s.cancelProbeAt(b, now).Before(w.deadline)
	for _, br := range s.breakers {
		if br.applies(b) && br.holds(w) {
			if err := br.openError(now); err != nil && !probeInBudget {
				return err
			}
		}
	}
	limit := w.deadline
	if w.prio < PriorityOrders {
		limit = minTime(limit, maxTime(now, w.notBefore).Add(w.maxWait))
	}
	for sc := range numScopes {
		if h := &b.holds[sc]; sc.stops(w) && h.until.After(limit) && !probeInBudget {
			return &BreakerOpenError{Class: ClassRateLimit, Bucket: b.cfg.Name, Until: h.until, Reason: h.reason, OrderLimit: sc == scopeOrders}
		}
	}
	return s.endpointHeldLocked(w, now)
}

// pumpLocked grants every waiter that can go at now, highest priority first and FIFO within
// a level, fails those whose budget or max wait ended, and sets when it must run again.
//
// Strict priority: a waiter that is eligible but finds too little budget in a window marks
// the window reserved for the rest of the scan, so no lower (or later) waiter takes from it.
// A waiter that cannot go for reasons of its own (its bucket is full or paused, its retry
// time has not come) holds nobody back.
// requires that s.mu is held.
func (s *Scheduler) pumpLocked(now time.Time) {
	s.scan++
	s.adoptSharedLocked(now)
	server := now.Add(s.offset)
	var next time.Time
	wake := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	wake(s.expireAttemptsLocked(now))
	for p := NumPriorities - 1; p >= 0; p-- {
		for w := s.queue[p].head; w != nil; {
			nx := w.next
			switch {
			case !now.Before(w.deadline):
				s.completeLocked(w, ErrBudgetExhausted)
			case !w.shedAt.IsZero() && !now.Before(w.shedAt):
				s.completeLocked(w, ErrShed)
			default:
				// Once w's wait ends its goroutine owns it again (and gives it back to the pool
				// when its request is over): nothing here reads it after.
				deadline, shedAt := w.deadline, w.shedAt
				if !s.tryGrantLocked(w, now, server, wake) {
					wake(deadline)
					wake(shedAt)
				}
			}
			w = nx
		}
	}
	s.setWakeLocked(next)
}

// tryGrantLocked grants w if it can go at now; otherwise it tells wake when to look again
// (or relies on a release to pump again). It reports whether w's wait ended (granted or
// failed), after which the caller must not touch w.
// requires that s.mu is held.
func (s *Scheduler) tryGrantLocked(w *waiter, now, server time.Time, wake func(time.Time)) bool {
	b := w.bucket
	for _, c := range w.costs { // w waits on these windows: no lending of them past it
		c.win.demand.seen[w.prio] = now
	}
	// heldUntil is the end of the holds and open breakers that stop w, a cancel: it passes
	// them as its bucket's cancel probe, one per Backoff.CancelProbe, so that the kill
	// switch's and the shutdown's cancels always have a path.
	var heldUntil time.Time
	for sc := range numScopes {
		h := &b.holds[sc]
		if !sc.stops(w) || !now.Before(h.until) {
			continue
		}
		if w.cancel {
			heldUntil = maxTime(heldUntil, h.until)
			continue
		}
		if w.holdGen[sc] != h.gen {
			w.holdGen[sc] = h.gen
			w.notBefore = maxTime(w.notBefore, h.until.Add(s.rand.Duration(h.spread)))
		}
		w.notBefore = maxTime(w.notBefore, h.until)
	}
	if now.Before(w.notBefore) {
		wake(w.notBefore)
		return false
	}
	for _, br := range s.breakers {
		if !br.applies(b) {
			continue
		}
		if br.open(now) {
			if br.holds(w) {
				if w.cancel {
					heldUntil = maxTime(heldUntil, br.openUntil)
					continue
				}
				s.completeLocked(w, br.openError(now))
				return true
			}
			if br.class == ClassAuth {
				if b.authCancel {
					return false // one cancel at a time through an open auth breaker; its end pumps again
				}
				if now.Before(b.authNext) {
					wake(b.authNext) // auth keeps failing: cancels are spaced
					return false
				}
			}
			continue // passes the open breaker
		}
		if br.probing {
			return false // the probe's end pumps again
		}
		if br.probeWaits(w, s.prober != nil) {
			s.sendProbeLocked(br, now, wake)
			return false // the probe's end pumps again
		}
	}
	probe := false // w goes as its bucket's cancel probe
	if !heldUntil.IsZero() {
		// A hold that ends within one probe interval is waited out, as any request would.
		if !heldUntil.After(now.Add(s.cfg.Backoff.CancelProbe)) {
			wake(heldUntil)
			return false
		}
		if at := s.cancelProbeAt(b, now); now.Before(at) {
			wake(minTime(at, heldUntil))
			return false
		}
		probe = true
	}
	if st := b.sem.State(); st.InFlight >= st.Limit {
		return false // a release pumps again
	}
	// The costs at now: a time-dependent cost is charged what it costs at admission.
	for i := range w.costs {
		c := &w.req.Costs[i]
		amt := c.amountAt(now)
		if c.AmountAt != nil {
			if err := s.checkAmount(i, "amount_at", amt, w.costs[i].win, w.prio); err != nil {
				s.completeLocked(w, err)
				return true
			}
		}
		w.costs[i].amt = amt
	}
	blocked, turn := false, false
	for i := range w.costs {
		c := &w.costs[i]
		win, amt := c.win, c.amt
		if win.reserved == s.scan {
			blocked = true
			continue
		}
		if amt <= 0 {
			continue
		}
		s.fractionLocked(win, now)
		// The priority's headroom first (the most it may have to leave), and only when that
		// does not fit, what the priorities above it need now (lending.go).
		head := s.cfg.Headroom.of(w.prio)
		share, lent := head, head >= 1
		lend := func() bool {
			if lent {
				return false
			}
			lent = true
			share = s.shareLocked(win, w.prio, now)
			return share > head
		}
		used := win.counter.Used(server) + win.usage.ahead(server)
		c.limit = win.capFor(win.fraction, share)
		if used+amt > c.limit && lend() {
			c.limit = win.capFor(win.fraction, share)
		}
		if used+amt > c.limit {
			// A window that stays full past one probe interval (the exchange's usage header
			// says so) is a hold too.
			if next := win.counter.Next(server); w.cancel && (next.IsZero() || next.Add(-s.offset).After(now.Add(s.cfg.Backoff.CancelProbe))) {
				at := s.cancelProbeAt(b, now)
				if !now.Before(at) {
					probe = true
					continue
				}
				// Waiting for its bucket's turn, not for budget: it holds nobody back.
				wake(at)
				turn = true
				continue
			}
			blocked = true
			if t := win.counter.Next(server); !t.IsZero() {
				wake(t.Add(-s.offset))
			}
			continue
		}
		ok, at := win.pace.check(now, amt, (1-share)*win.pace.burst)
		if !ok && lend() {
			c.limit = win.capFor(win.fraction, share)
			ok, at = win.pace.check(now, amt, (1-share)*win.pace.burst)
		}
		if !ok {
			blocked = true
			wake(at)
		}
	}
	if blocked {
		for _, c := range w.costs {
			c.win.reserved = s.scan
		}
		return false
	}
	if turn {
		return false
	}
	// Shared windows count the cost fleet-wide before anything else is taken.
	for i, c := range w.costs {
		r, shared := c.win.counter.(reserver)
		if !shared || c.amt <= 0 {
			continue
		}
		if ok, retry := r.Reserve(server, c.amt, c.limit); !ok {
			s.unreserveLocked(w, i, server)
			for _, c := range w.costs {
				c.win.reserved = s.scan
			}
			if !retry.IsZero() {
				wake(retry.Add(-s.offset))
			}
			return false
		}
	}
	inflight, ok := b.sem.TryAcquire()
	if !ok {
		s.unreserveLocked(w, len(w.costs), server)
		return false
	}
	w.dones = w.dones[:0]
	authPass := false
	for _, br := range s.breakers {
		if !br.applies(b) {
			continue
		}
		if br.open(now) { // passes it (checked above): reported by reportPassed, not counted
			w.dones = append(w.dones, breakerDone{b: br, passed: true})
			authPass = authPass || br.class == ClassAuth
			continue
		}
		if br.tripped { // half-open: the one probe
			w.dones = append(w.dones, breakerDone{b: br, done: br.probe(now)})
			continue
		}
		w.dones = append(w.dones, breakerDone{b: br, gen: br.gen})
	}
	for i := range w.costs {
		c := &w.costs[i]
		if c.amt > 0 {
			if _, shared := c.win.counter.(reserver); !shared {
				c.win.counter.Add(server, c.amt)
			}
			c.win.pace.take(now, c.amt)
			c.win.demand.granted(now, w.prio, c.amt)
			c.win.usage.granted(server, c.amt)
			c.win.sent(server, c.amt)
		}
	}
	if w.attempt == 1 {
		s.retries.first(now)
	}
	w.grantedAt, w.sentServer, w.inflight = now, server, inflight
	if s.realClock {
		w.actx = s.startAttemptLocked(w.ctx, w)
		wake(w.actx.deadline)
	}
	w.authPass = authPass
	if probe {
		b.cancelProbe = now
	}
	b.authCancel = b.authCancel || authPass
	s.completeLocked(w, nil)
	return true
}

// unreserveLocked gives back what the shared windows before index upto reserved for w at
// server, when the grant does not go ahead.
// requires that s.mu is held.
func (s *Scheduler) unreserveLocked(w *waiter, upto int, server time.Time) {
	for _, c := range w.costs[:upto] {
		if _, shared := c.win.counter.(reserver); shared && c.amt > 0 {
			c.win.counter.Remove(server, server, c.amt)
		}
	}
}

// completeLocked ends w's wait: granted when err is nil.
// requires that s.mu is held.
func (s *Scheduler) completeLocked(w *waiter, err error) {
	s.queue[w.prio].remove(w)
	w.done, w.err = true, err
	if w.waiting {
		w.ready <- struct{}{}
	}
}

// abortLocked gives back a grant whose request was never sent.
// requires that s.mu is held.
func (s *Scheduler) abortLocked(w *waiter, now time.Time) {
	server := now.Add(s.offset)
	for _, c := range w.costs { // what the grant charged
		if c.amt > 0 {
			c.win.counter.Remove(w.sentServer, server, c.amt)
			c.win.pace.give(c.amt)
			c.win.usage.aborted(w.sentServer, server, c.amt)
			c.win.ended(w.sentServer, server, c.amt, false)
		}
	}
	w.bucket.sem.Abort()
	for _, d := range w.dones {
		if d.done != nil {
			d.b.now = now
			d.done(errExcluded)
		}
	}
	w.dones = w.dones[:0]
	s.releaseAuthPassLocked(w)
	s.endAttemptLocked(w)
}

// releaseAuthPassLocked lets the next cancel of w's bucket through the open auth breaker.
// requires that s.mu is held.
func (s *Scheduler) releaseAuthPassLocked(w *waiter) {
	if w.authPass {
		w.authPass, w.bucket.authCancel = false, false
	}
}

// finishLocked takes an attempt's outcome back: the bucket's slot and AIMD, the exchange's
// usage counts, the bucket's pause on a 429 or a ban, the breakers; then pumps. It returns
// the wait the exchange asked for: the Retry-After, or for a ban without one the ban pause.
// A bucket pause it starts or extends is described in *held, for the hold observers
// (bounds.go), when there are any.
// requires that s.mu is held.
func (s *Scheduler) finishLocked(w *waiter, o Outcome, class Class, now time.Time, held *HoldEvent) time.Duration {
	server := now.Add(s.offset)
	b := w.bucket
	var before [3]time.Time
	for i, br := range s.breakers {
		before[i] = br.openUntil
	}
	var beforeHold [numScopes]time.Time
	for sc := range numScopes {
		beforeHold[sc] = b.holds[sc].until
	}
	s.endAttemptLocked(w)
	b.sem.Release(class)
	if w.authPass && class == ClassAuth {
		// A cancel through the open auth breaker failed on auth again: the next waits a
		// jittered CancelProbe, so a revoked key sees a few cancels, not a burst.
		p := s.cfg.Backoff.CancelProbe
		b.authNext = now.Add(p/2 + s.rand.Duration(p))
	}
	s.releaseAuthPassLocked(w)
	o, asked := s.cfg.Backoff.bound(o)
	s.noteEndpointLocked(w, o, class, now)
	s.landedLocked(w, o.Usage, server) // before the reports: a carried grant is judged on the count it is in
	for _, u := range o.Usage {
		if win := s.windows[u.Window]; win != nil {
			s.reportLocked(win, w, clampUsage(u.Used, win.cfg.Limit), now, server)
		}
	}
	retryAfter := o.RetryAfter
	var banUntil time.Time
	if class == ClassRateLimit {
		pause := o.RetryAfter
		if isBan(o) {
			pause = s.banPauseLocked(w.grantedAt, now, o.RetryAfter)
			retryAfter, banUntil = pause, now.Add(pause)
		} else if pause <= 0 {
			pause = s.cfg.Backoff.RateLimitPause
		}
		sc := scopeOf(o)
		h := &b.holds[sc]
		extended := h.extend(now.Add(pause), resumeSpread(pause, s.cfg.Backoff.ResumeSpread, s.cfg.Backoff.ResumeSpreadRatio), describe(class, o))
		if extended && retryAfter > 0 {
			w.holdGen[sc] = h.gen // its retry delay already includes the spread
		}
		if extended && len(s.holdObservers) > 0 {
			*held = HoldEvent{Time: now, Until: h.until, Bucket: b.cfg.Name, OrdersOnly: sc == scopeOrders,
				Ban: isBan(o), Reason: h.reason, Asked: asked}
		}
	}
	for _, d := range w.dones {
		switch {
		case d.passed:
			d.b.reportPassed(now, class, o, banUntil)
		case d.done != nil:
			d.b.report(d.done, now, class, o, banUntil)
		default:
			d.b.reportClosed(d.gen, now, class, o, banUntil)
		}
	}
	w.dones = w.dones[:0]
	s.publishLocked(before, beforeHold, b, now)
	s.pumpLocked(now)
	return retryAfter
}

// sendProbeLocked sends a read through the prober to test the half-open breaker br, unless one
// is running or one was sent less than Backoff.CancelProbe ago (then wake says when).
// requires that s.mu is held.
func (s *Scheduler) sendProbeLocked(br *breaker, now time.Time, wake func(time.Time)) {
	if br.sending || s.closed {
		return
	}
	if !br.sentAt.IsZero() {
		if at := br.sentAt.Add(s.cfg.Backoff.CancelProbe); now.Before(at) {
			wake(at)
			return
		}
	}
	br.sending, br.sentAt = true, now
	s.probes.Add(1)
	go s.runProbe(s.prober, br)
}

// runProbe sends one probe read for br with p and pumps when it is done.
func (s *Scheduler) runProbe(p Prober, br *breaker) {
	defer s.probes.Done()
	err := p(s.probeCtx, br.class)
	s.logProbe(br.class, err)
	s.mu.Lock()
	br.sending = false
	s.pumpLocked(s.clock.Now())
	s.mu.Unlock()
}

// setWakeLocked records when the dispatcher must next pump and wakes it if that changed.
// requires that s.mu is held.
func (s *Scheduler) setWakeLocked(t time.Time) {
	s.wakeAt = t
	// A later time than the dispatcher's timer is set for need not wake it: it pumps when the
	// timer fires and sets it anew then. (Each attempt in flight adds its deadline, most of
	// them later than the first's: no wake-up per request.)
	if !s.armed.IsZero() && (t.IsZero() || t.After(s.armed)) {
		return
	}
	if !t.Equal(s.armed) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// loop is the dispatcher: it pumps the queue when the earliest time something may change
// (a retry time, budget refilling, a window rolling over, a pause ending, a deadline)
// arrives. Everything else pumps where it happens (a request arriving, an attempt ending).
func (s *Scheduler) loop() {
	defer close(s.loopDone)
	var (
		fire <-chan time.Time
		stop func() bool
	)
	for {
		select {
		case <-s.done:
			if stop != nil {
				stop()
			}
			return
		case <-s.kick:
		case <-s.poke:
			s.mu.Lock()
			s.pumpLocked(s.clock.Now())
			s.mu.Unlock()
		case <-fire:
			fire, stop = nil, nil
			s.mu.Lock()
			s.armed = time.Time{}
			s.pumpLocked(s.clock.Now())
			s.mu.Unlock()
		}
		s.mu.Lock()
		want, now := s.wakeAt, s.clock.Now()
		if want.Equal(s.armed) && (fire != nil || want.IsZero()) {
			s.mu.Unlock()
			continue
		}
		s.armed = want
		s.mu.Unlock()
		if stop != nil {
			stop()
			fire, stop = nil, nil
		}
		if !want.IsZero() {
			fire, stop = s.clock.NewTimer(want.Sub(now))
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
