package scheduler

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// attemptContext is the context an attempt runs in: its parent's values and cancellation,
// the request's budget as its deadline, and an end when the attempt returns.
//
// Its deadline is kept by the scheduler's dispatcher, which already wakes for the queue's
// deadlines, from a heap of the attempts in flight, instead of a runtime timer per attempt
// (context.WithDeadline's): arming and stopping that timer was a third of what the scheduler
// added to a request (BenchmarkSubmit). It implements AfterFunc, so contexts derived from it
// (the adapter's own timeout) and context.AfterFunc register with it instead of starting a
// goroutine each.
type attemptContext struct {
	parent   context.Context
	deadline time.Time
	at       int // index in the scheduler's heap of attempts in flight; -1 when not in it

	mu         sync.Mutex
	done       chan struct{} // made by the first Done, or closedChan when it ended before
	err        error
	afters     []*afterFunc
	stopParent func() bool // ends the registration with parent; nil when it has none
}

// afterFunc is one AfterFunc registration: f runs (in its own goroutine) when the context
// ends, unless stopped first.
type afterFunc struct {
	f       func()
	stopped bool // guarded by the context's mu; set when f was stopped or started
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// newAttemptContext returns the context of an attempt under parent, ending at deadline (the
// caller tracks it in the heap) unless the parent's ends first.
func newAttemptContext(parent context.Context, deadline time.Time) *attemptContext {
	c := &attemptContext{parent: parent, deadline: deadline, at: -1}
	if d, ok := parent.Deadline(); ok && d.Before(deadline) {
		c.deadline = d // the parent's ends it first
	}
	if parent.Done() != nil {
		if err := parent.Err(); err != nil {
			c.err, c.done = err, closedChan
			return c
		}
		// The parent may end at once: its callback runs in a goroutine of its own, and waits
		// for stopParent to be set.
		c.mu.Lock()
		c.stopParent = context.AfterFunc(parent, func() { c.end(parent.Err()) })
		c.mu.Unlock()
	}
	return c
}

func (c *attemptContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *attemptContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

func (c *attemptContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *attemptContext) Value(key any) any { return c.parent.Value(key) }

// AfterFunc arranges for f to run in its own goroutine once c ends, as context.AfterFunc
// does; stop reports whether it stopped f from running.
func (c *attemptContext) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.afters = append(c.afters, a)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if a.stopped {
			return false
		}
		a.stopped = true
		return true
	}
}

// end ends c with err (the first end wins): Done closes, the AfterFunc registrations run.
func (c *attemptContext) end(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	afters, stop := c.afters, c.stopParent
	c.afters = nil
	for _, a := range afters {
		if a.stopped {
			continue
		}
		a.stopped = true
		go a.f()
	}
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// inflight is the heap of the attempts in flight, earliest deadline first.
// Guarded by Scheduler.mu.
type inflight []*attemptContext

func (h inflight) Len() int           { return len(h) }
func (h inflight) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h inflight) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}
func (h *inflight) Push(x any) {
	c := x.(*attemptContext)
	c.at = len(*h)
	*h = append(*h, c)
}
func (h *inflight) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.at = -1
	return c
}

// startAttemptLocked returns the context of w's attempt under parent, its deadline w's budget,
// tracked by the dispatcher.
// requires that s.mu is held.
func (s *Scheduler) startAttemptLocked(parent context.Context, w *waiter) *attemptContext {
	c := newAttemptContext(parent, w.deadline)
	if c.Err() == nil { // one that ends meanwhile leaves the heap at its attempt's end
		heap.Push(&s.attempts, c)
	}
	return c
}

// endAttemptLocked ends the context of w's attempt, if the dispatcher keeps it: it leaves the
// heap and ends.
// requires that s.mu is held.
func (s *Scheduler) endAttemptLocked(w *waiter) {
	c := w.actx
	if c == nil {
		return
	}
	w.actx = nil
	if c.at >= 0 {
		heap.Remove(&s.attempts, c.at)
	}
	c.end(context.Canceled)
}

// expireAttemptsLocked ends the attempts whose deadline has come by now, and returns the next
// deadline of one in flight (zero: none).
// requires that s.mu is held.
func (s *Scheduler) expireAttemptsLocked(now time.Time) time.Time {
	for len(s.attempts) > 0 {
		c := s.attempts[0]
		if now.Before(c.deadline) {
			return c.deadline
		}
		heap.Pop(&s.attempts)
		c.end(context.DeadlineExceeded)
	}
	return time.Time{}
}
