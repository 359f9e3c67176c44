package scheduler

import "time"

// Semaphore caps how many requests of one bucket are in flight and adapts the cap with AIMD.
// It is the seam for fleet mode, where a shared store holds the slots so that several
// instances stay at the total of one. The scheduler calls it with its own lock held, one call
// at a time.
type Semaphore interface {
	// TryAcquire takes a slot if fewer requests than the current limit are in flight, and
	// returns how many are in flight including this one.
	TryAcquire() (inflight int, ok bool)
	// Release returns a slot after an attempt and feeds its class back: ClassRateLimit halves
	// the limit (never below 1) once per congestion event (the 429s of requests already in
	// flight when it halved do not halve it again); a run of successes raises it by one (never
	// above the cap).
	Release(c Class)
	// Abort returns a slot whose request was never sent, without feedback.
	Abort()
	// State reports the slots in flight, the current limit and the cap.
	State() SemaphoreState
}

// SemaphoreState is a Semaphore's state, for Snapshot.
type SemaphoreState struct {
	InFlight int `json:"inflight"`
	Limit    int `json:"limit"`
	Cap      int `json:"cap"`
}

// newLocalSemaphore returns the in-process Semaphore: AIMD between 1 and maxConcurrency,
// starting at half the cap (rounded up) so that concurrency ramps up after start, raised by
// one after successRun successes.
func newLocalSemaphore(maxConcurrency, successRun int) Semaphore {
	return &localSemaphore{cap: maxConcurrency, limit: (maxConcurrency + 1) / 2, run: successRun}
}

// localSemaphore is not safe for concurrent use; the scheduler serializes calls.
type localSemaphore struct {
	cap, limit, inflight int
	run, successes       int
	// grace counts the requests that were in flight when the limit was last halved: their
	// 429s belong to the same congestion event and do not halve it again.
	grace int
}

func (s *localSemaphore) TryAcquire() (int, bool) {
	if s.inflight >= s.limit {
		return s.inflight, false
	}
	s.inflight++
	return s.inflight, true
}

func (s *localSemaphore) Release(c Class) {
	s.inflight--
	inGrace := s.grace > 0
	if inGrace {
		s.grace--
	}
	switch c {
	case ClassNone:
		s.successes++
		if s.successes >= s.run {
			s.successes = 0
			s.limit = min(s.cap, s.limit+1)
		}
	case ClassRateLimit:
		s.successes = 0
		if !inGrace {
			s.limit = max(1, s.limit/2)
			s.grace = s.inflight
		}
	case ClassValidation:
		// The exchange answered and refused the request: says nothing about load.
	default:
		s.successes = 0
	}
}

func (s *localSemaphore) Abort() {
	s.inflight--
	s.grace = min(s.grace, s.inflight)
}

func (s *localSemaphore) State() SemaphoreState {
	return SemaphoreState{InFlight: s.inflight, Limit: s.limit, Cap: s.cap}
}

// bucket is a configured concurrency bucket. Its fields are guarded by Scheduler.mu.
type bucket struct {
	cfg BucketConfig
	sem Semaphore
	// holds pause the bucket, one per scope: holds[scopeAll] after a 429 on an IP-wide limit
	// (its Retry-After, or the configured pause) or a ban (its Retry-After or the ban pause),
	// holds[scopeOrders] after an order-count refusal. Each stops only the requests its scope
	// stops, so a cancel goes out during an order-count pause.
	holds [numScopes]hold
	// authCancel is set while a cancel that passed the open auth breaker is in flight: one
	// at a time, so a revoked key is not hammered.
	authCancel bool
	// authNext is when the next cancel may pass the open auth breaker, after one that passed
	// it failed on auth again.
	authNext time.Time
	// cancelProbe is when a cancel of this bucket last passed a hold or an open breaker that
	// stops cancels (or a full window): the next may pass Backoff.CancelProbe later.
	cancelProbe time.Time
}
