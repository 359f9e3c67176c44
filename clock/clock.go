// Package clock is Keel's source of time: the Clock interface every package takes, the wall
// clock (Real), and a fake that tests advance by hand (Fake).
//
// Time is a parameter in Keel: the scheduler, the orders manager, the kill switch, the
// streams, the simulator and the runtime all read it from a Clock, so a test walks a fixed
// grid of instants instead of sleeping. Strategy tests can do the same:
//
//	clk := clock.NewFake(time.Unix(0, 0))
//	go runUntilTimer(clk)  // code under test waits on clk.NewTimer
//	clk.BlockUntil(1)      // it is parked on the clock
//	clk.Advance(time.Second)
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes timers. NewTimer returns a channel that receives once after
// d, and a function that stops the timer (reporting whether it was still pending).
// Implementations are safe for concurrent use.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

var (
	_ Clock = Real{}
	_ Clock = (*Fake)(nil)
)

// Sleep waits d on clk, or until ctx ends; it reports whether d passed. A d <= 0 returns
// true at once unless ctx is already done.
func Sleep(ctx context.Context, clk Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	c, stop := clk.NewTimer(d)
	defer stop()
	select {
	case <-ctx.Done():
		return false
	case <-c:
		return true
	}
}

// Real is the wall clock. Its zero value is ready to use.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a channel that receives the time after d, and a function that stops the timer.
func (Real) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Fake is a manually advanced clock. Timers fire only when Advance or Set moves the clock past
// their deadline, so tests walk a fixed grid of instants without sleeping. It is safe for
// concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{} // closed and replaced whenever the set of timers changes
	seq     uint64        // orders timers with the same deadline by creation
}

type fakeTimer struct {
	at  time.Time
	c   chan time.Time
	seq uint64
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer registers a timer that fires when the fake time reaches now+d. A timer with d <= 0
// fires at once.
func (f *Fake) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	if d <= 0 {
		c <- f.now
		return c, func() bool { return false }
	}
	f.seq++
	t := &fakeTimer{at: f.now.Add(d), c: c, seq: f.seq}
	f.timers = append(f.timers, t)
	f.notifyLocked()
	stop := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, x := range f.timers {
			if x == t {
				f.timers = append(f.timers[:i], f.timers[i+1:]...)
				f.notifyLocked()
				return true
			}
		}
		return false
	}
	return c, stop
}

// Advance moves the clock forward by d, firing every timer whose deadline is reached, in
// deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.setLocked(f.now.Add(d))
	f.mu.Unlock()
}

// Set moves the clock to t (never backwards), firing due timers.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	if t.After(f.now) {
		f.setLocked(t)
	}
	f.mu.Unlock()
}

// requires that f.mu is held.
func (f *Fake) setLocked(t time.Time) {
	f.now = t
	sort.SliceStable(f.timers, func(i, j int) bool {
		if f.timers[i].at.Equal(f.timers[j].at) {
			return f.timers[i].seq < f.timers[j].seq
		}
		return f.timers[i].at.Before(f.timers[j].at)
	})
	n := 0
	for _, x := range f.timers {
		if x.at.After(t) {
			break
		}
		x.c <- x.at
		n++
	}
	if n > 0 {
		f.timers = append(f.timers[:0], f.timers[n:]...)
		f.notifyLocked()
	}
}

// Pending returns how many timers are waiting to fire.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NextDeadline returns the earliest pending timer deadline, and false when none is pending.
func (f *Fake) NextDeadline() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var min time.Time
	for i, x := range f.timers {
		if i == 0 || x.at.Before(min) {
			min = x.at
		}
	}
	return min, len(f.timers) > 0
}

// BlockUntil waits until at least n timers are pending: the way a test knows that the code
// under test is parked on the clock before it advances it. It waits on a notification, not by
// polling or sleeping.
func (f *Fake) BlockUntil(n int) {
	for {
		f.mu.Lock()
		if len(f.timers) >= n {
			f.mu.Unlock()
			return
		}
		ch := f.changed
		f.mu.Unlock()
		<-ch
	}
}

// requires that f.mu is held.
func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}
