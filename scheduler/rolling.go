package scheduler

import (
	"math"
	"time"
)

// rolling counts two figures (a and b) over a sliding window made of slots, on the
// scheduler's clock. The retry budget counts first attempts and retries with it; the
// transient breaker counts calls and failures. Its zero value is not usable; it is not safe
// for concurrent use (callers hold Scheduler.mu).
type rolling struct {
	slot  time.Duration
	slots []rollingSlot
}

type rollingSlot struct {
	index int64 // which slot-long stretch of time this slot holds
	a, b  int64
}

const rollingSlots = 12

func newRolling(window time.Duration) *rolling {
	return &rolling{slot: max(window/rollingSlots, 1), slots: make([]rollingSlot, rollingSlots)}
}

func (r *rolling) at(now time.Time) *rollingSlot {
	i := now.UnixNano() / int64(r.slot)
	s := &r.slots[int(uint64(i)%uint64(len(r.slots)))]
	if s.index != i {
		*s = rollingSlot{index: i}
	}
	return s
}

func (r *rolling) add(now time.Time, a, b int64) {
	s := r.at(now)
	s.a += a
	s.b += b
}

// sums returns a and b over the window ending at now.
func (r *rolling) sums(now time.Time) (a, b int64) {
	cur := now.UnixNano() / int64(r.slot)
	for _, s := range r.slots {
		if s.index > cur-int64(len(r.slots)) && s.index <= cur {
			a += s.a
			b += s.b
		}
	}
	return a, b
}

func (r *rolling) reset() { clear(r.slots) }

// retryBudget lets retries add at most ratio on top of first attempts over its window, or a
// floor when that is more, so that an outage can never multiply traffic.
type retryBudget struct {
	ratio float64
	floor int64
	count *rolling // a: first attempts, b: retries
}

func (r *retryBudget) first(now time.Time) { r.count.add(now, 1, 0) }

// allowed returns the retries the budget allows over its window, given firsts first attempts.
func (r *retryBudget) allowed(firsts int64) float64 {
	return max(float64(r.floor), r.ratio*float64(firsts))
}

// tryRetry spends one retry if the budget has one left at now.
func (r *retryBudget) tryRetry(now time.Time) bool {
	firsts, retries := r.count.sums(now)
	if float64(retries) >= r.allowed(firsts) {
		return false
	}
	r.count.add(now, 0, 1)
	return true
}

// state returns the budget at now, for Snapshot.
func (r *retryBudget) state(now time.Time) RetryBudgetState {
	firsts, retries := r.count.sums(now)
	// tryRetry admits while retries < allowed: that is the bound rounded up.
	return RetryBudgetState{FirstAttempts: firsts, Retries: retries, Allowed: int64(math.Ceil(r.allowed(firsts)))}
}
