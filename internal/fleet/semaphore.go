package fleet

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// slot is a slot this instance holds in Redis.
type slot struct {
	member string
	at     int64     // Redis ms when it was last put to use, for AIMD's congestion events
	exp    time.Time // before this (our clock) its lease surely holds; zero: lost
	idle   time.Time // when its last request ended; zero while busy
	busy   bool
}

// ret is a slot to give back, with the class of its last request ("spare": no feedback).
type ret struct {
	member, class string
	at            int64
}

// semaphore is a bucket's concurrency cap shared by the fleet (a scheduler.Semaphore, built
// by Shared.Semaphore). The scheduler calls it with its lock held, one call at a time; mu guards
// it against the fleet's background goroutines. Lock order: a counter's mu, then a
// semaphore's (a lease's round trip carries the semaphores' renewals); never the reverse.
type semaphore struct {
	f       *Fleet
	bucket  string
	cap     int
	initial int
	run     int
	lb      scheduler.BucketConfig // the local share's config (localCap)
	keys    []string

	seq atomic.Uint64

	mu           sync.Mutex
	slots        []*slot // held in Redis: busy, or spare for the next request
	returns      []ret   // to give back with the next round trip
	force        []*slot // taken on the local share, to register in Redis
	pendingOK    int     // successes not told to Redis yet (since the last failure)
	pendingReset bool    // a failure broke the run of successes since the last word to Redis
	owed         int     // slots to give back at their next release, for instances waiting
	askedBy      string  // the waiting instance that named this one to give it a slot
	askedAt      time.Time
	waiting      map[string]time.Time // other instances queued (a "w" seen), until served ("g")
	returning    map[string]bool      // members given back in a round trip still on its way
	downGen      int                  // the fleet's outages this bucket has caught up with
	recheck      bool                 // notices may have been lost: look for a slot handed over
	limit        int                  // the fleet's AIMD limit, as last heard
	inflight     int                  // the fleet's slots in Redis, as last heard
	blocked      bool                 // refused: no round trip until retryAt or a notice
	retryAt      time.Time
	offset       time.Duration // Redis's clock minus ours, as last measured
	queued       bool          // waiting in f.syncs
	local        scheduler.Semaphore
	newLocal     func(maxConcurrency int) scheduler.Semaphore // the scheduler's local AIMD semaphore
	localHeld    int
	wake         func()
}

// newSemaphore builds bucket b's shared semaphore; local builds the scheduler's in-process
// one, for the local share.
func (f *Fleet) newSemaphore(b scheduler.BucketConfig, successRun int, local func(int) scheduler.Semaphore) *semaphore {
	lb := b
	lb.MaxConcurrency = b.MaxConcurrency / f.opts.Size
	s := &semaphore{
		f: f, bucket: b.Name, cap: b.MaxConcurrency, initial: (b.MaxConcurrency + 1) / 2, run: max(1, successRun), lb: lb,
		keys:  []string{f.opts.Prefix + "s:" + b.Name, f.opts.Prefix + "a:" + b.Name, f.opts.Prefix + "q:" + b.Name, f.eventsChannel()},
		local: local(lb.MaxConcurrency), newLocal: local,
	}
	s.limit = s.initial
	if s.localCap() == 0 {
		f.log.Warn().Str("bucket", b.Name).Int("cap", b.MaxConcurrency).Int("fleet_size", f.opts.Size).
			Msg("fleet: bucket cap below fleet.size: while Redis is down this bucket gets no local share and its requests wait (or are shed)")
	}
	f.mu.Lock()
	kept := f.sems[:0]
	for _, o := range f.sems {
		if o.bucket != b.Name {
			kept = append(kept, o)
		}
	}
	f.sems = append(kept, s)
	f.mu.Unlock()
	return s
}

// localCap is the bucket's local share: its slots while Redis is down (cap ÷ Size, rounded
// down).
func (s *semaphore) localCap() int { return s.lb.MaxConcurrency }

func (s *semaphore) SetWaker(wake func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wake = wake
}

// unblockLocked lets the scheduler try again. requires that s.mu is held.
func (s *semaphore) unblockLocked() func() {
	s.blocked = false
	return s.wake
}

// kickLocked has eventLoop make a round trip for this bucket soon. requires that s.mu is held.
func (s *semaphore) kickLocked() {
	if s.queued {
		return
	}
	select {
	case s.f.syncs <- s:
		s.queued = true
	default: // the loop is far behind: the next tick kicks again
	}
}

func (s *semaphore) heldCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busyLocked() + s.localHeld
}

// busyLocked counts the slots in use. requires that s.mu is held.
func (s *semaphore) busyLocked() int {
	n := 0
	for _, sl := range s.slots {
		if sl.busy {
			n++
		}
	}
	return n
}

// redisMs is Redis's clock at our now, as last measured. requires that s.mu is held.
func (s *semaphore) redisMsLocked(now time.Time) int64 { return now.Add(s.offset).UnixMilli() }

// TryAcquire takes a slot: a spare one of this instance's without a round trip, else one
// from Redis (one round trip, which also carries this bucket's pending returns and renewals),
// or from the local share while Redis is down. After a refusal it answers no without a round
// trip until a slot is handed over, or the time Redis named (a lease's end, or the end of
// this instance's place in the queue).
func (s *semaphore) TryAcquire() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.f.opts.Now()
	if s.downLocked() {
		return s.acquireLocal(now)
	}
	if sl := s.spareLocked(now); sl != nil {
		return s.busyLocked(), true
	}
	if s.blocked && now.Before(s.retryAt) {
		return s.busyLocked(), false
	}
	if len(s.slots) > 0 && s.inflight >= s.limit {
		// The fleet was full at the last word (a round trip's or an "r" notice): this instance
		// goes on with the slots it has, without asking; one that has none asks, and queues.
		return s.busyLocked(), false
	}
	op := s.collectLocked(now, s.f.renewBelow())
	op.acquire = s.f.holder + ":" + strconv.FormatUint(s.seq.Add(1), 36)
	// An instance with slots of its own asks for one more only if one is free; one with none
	// waits in the queue for the next slot given back (and names a holder to give one). One
	// that may have missed a slot handed to it looks for it without queueing again.
	recheck := s.recheck
	s.recheck = false
	op.queue = len(s.slots) == 0 && !recheck
	ctx, cancel := s.f.op()
	err := s.call(ctx, op)
	cancel()
	if err != nil {
		s.doneLocked(op)
		s.f.fail(err)
		return s.acquireLocal(now)
	}
	s.applyLocked(op)
	if !op.got {
		if sl := s.spareLocked(now); sl != nil { // renewed on the way: the fleet counts it already
			return s.busyLocked(), true
		}
		if recheck {
			s.blocked = true // still in the queue: the place's end, or a slot handed over
			return s.busyLocked(), false
		}
		if !op.queue {
			return s.busyLocked(), false // its next release lets it try again
		}
		s.blocked = true
		s.retryAt = op.sent.Add(time.Duration(op.retryMs-op.redisMs) * time.Millisecond)
		return s.busyLocked(), false
	}
	s.blocked = false
	s.slots = append(s.slots, &slot{member: op.acquire, at: op.redisMs, exp: op.sent.Add(s.f.opts.SlotLease), busy: true})
	return s.busyLocked(), true
}

// spareLocked puts a spare slot with a third of a lease left to use, if there is one and no other
// instance waits for it. requires that s.mu is held.
func (s *semaphore) spareLocked(now time.Time) *slot {
	if s.owed > 0 {
		return nil
	}
	for _, sl := range s.slots {
		if !sl.busy && sl.exp.Sub(now) >= s.f.opts.SlotLease/3 {
			sl.busy, sl.idle, sl.at = true, time.Time{}, s.redisMsLocked(now)
			return sl
		}
	}
	return nil
}

// acquireLocal takes a slot of the local share: cap ÷ Size counting the Redis slots still in
// use, once every lease Redis granted before the outage has run out. requires that s.mu is
// held.
func (s *semaphore) acquireLocal(now time.Time) (int, bool) {
	busy := s.busyLocked()
	downAt, _, _ := s.f.outage()
	if now.Before(downAt.Add(s.f.opts.SlotLease)) || busy+s.localHeld >= s.localCap() {
		return busy + s.localHeld, false
	}
	n, ok := s.local.TryAcquire()
	if ok {
		s.localHeld++
	}
	return n + busy, ok
}

// Release gives a slot back after its request: a local-share slot first; else a Redis slot,
// which stays this instance's for its next request unless it owes one to a waiting instance,
// the fleet's limit dropped below what it holds, or the lease runs short. A 429 goes to Redis
// at once with the slot (it halves the fleet's limit); successes, and failures that break
// their run, are told with the next round trip.
func (s *semaphore) Release(c scheduler.Class) { s.give(c.String()) }

// Abort gives a slot back without feedback.
func (s *semaphore) Abort() { s.give("abort") }

func (s *semaphore) give(class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.localHeld > 0 {
		s.localHeld--
		if class == "abort" {
			s.local.Abort()
		} else {
			s.local.Release(classOf(class))
		}
		return
	}
	var sl *slot
	for _, x := range s.slots {
		if x.busy && (sl == nil || x.at < sl.at) {
			sl = x
		}
	}
	if sl == nil {
		return
	}
	now := s.f.opts.Now()
	sl.busy, sl.idle = false, now
	switch class {
	case "ok":
		s.pendingOK++
	case "validation", "abort":
	case "rate_limit":
		s.dropLocked(sl, class) // halves the fleet's limit now
		return
	default:
		// A timeout, a 5xx, a request given up: it breaks the run of successes, told with
		// the next round trip; the slot stays.
		s.pendingOK, s.pendingReset = 0, true
	}
	switch {
	case s.owed > 0:
		s.owed--
		s.dropLocked(sl, "spare")
	case len(s.slots) > s.limit, sl.exp.Sub(now) < s.f.opts.SlotLease/3, s.downLocked():
		s.dropLocked(sl, "spare")
	}
}

// dropLocked gives slot sl back to Redis soon. requires that s.mu is held.
func (s *semaphore) dropLocked(sl *slot, class string) {
	for i, x := range s.slots {
		if x == sl {
			s.slots = append(s.slots[:i], s.slots[i+1:]...)
			break
		}
	}
	if !sl.exp.IsZero() {
		s.returns = append(s.returns, ret{member: sl.member, class: class, at: sl.at})
		s.kickLocked()
	}
}

func classOf(name string) scheduler.Class {
	for c := scheduler.ClassNone; c <= scheduler.ClassUnknown; c++ {
		if c.String() == name {
			return c
		}
	}
	return scheduler.ClassNone
}

func (s *semaphore) State() scheduler.SemaphoreState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downLocked() {
		st := s.local.State()
		st.InFlight += s.busyLocked()
		return st
	}
	return scheduler.SemaphoreState{InFlight: s.busyLocked(), Limit: s.limit, Cap: s.cap}
}

// downLocked reports whether Redis is away; the first time after an outage began, it forgets
// the spare slots (they cannot be renewed; Redis frees them) and what was on its way.
// requires that s.mu is held.
func (s *semaphore) downLocked() bool {
	down, gen := s.f.downState()
	if gen == s.downGen {
		return down
	}
	s.downGen = gen
	for _, sl := range append([]*slot(nil), s.slots...) {
		if !sl.busy {
			s.dropLocked(sl, "")
		}
	}
	s.returns, s.owed, s.blocked, s.askedBy, s.askedAt = nil, 0, false, "", time.Time{}
	return down
}

// cameBack registers the slots taken on the local share in Redis (placeholders that the
// requests' releases give back) and wakes the scheduler.
func (s *semaphore) cameBack() {
	s.mu.Lock()
	s.downLocked() // catch up with the outage, if this bucket was not used during it
	now := s.f.opts.Now()
	for range s.localHeld {
		sl := &slot{member: s.f.holder + ":" + strconv.FormatUint(s.seq.Add(1), 36), at: s.redisMsLocked(now),
			exp: now.Add(s.f.opts.SlotLease), busy: true}
		s.slots = append(s.slots, sl)
		s.force = append(s.force, sl)
	}
	s.localHeld = 0
	s.local = s.newLocal(s.lb.MaxConcurrency)
	if len(s.force) > 0 {
		s.kickLocked()
	}
	wake := s.unblockLocked()
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// dropAll gives back every slot still held, in one round trip (Close), and leaves the queue:
// the script hands each slot to the head of the queue with its notice ("g") and announces the
// room left ("r"), so an instance waiting for one goes at once instead of at its lease's end.
// A busy slot goes too: its request is being abandoned with the process.
func (s *semaphore) dropAll(ctx context.Context) {
	s.mu.Lock()
	op := &bucketOp{ok: s.pendingOK, reset: boolInt(s.pendingReset), returns: s.returns}
	for _, sl := range s.slots {
		if !sl.exp.IsZero() {
			op.returns = append(op.returns, ret{member: sl.member, class: "spare", at: sl.at})
		}
	}
	s.slots, s.returns, s.pendingOK, s.pendingReset = nil, nil, 0, false
	s.mu.Unlock()
	// Out of the queue first, so that no slot is handed to this departing instance.
	_ = s.f.rdb.ZRem(ctx, s.keys[2], s.f.holder).Err()
	if !op.empty() {
		_ = s.call(ctx, op)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
