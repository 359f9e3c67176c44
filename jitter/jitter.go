// Package jitter is Keel's randomness for waits: one seeded source that is safe for concurrent
// use (Rand), full-jitter backoff (Full) and the spreading of periodic work (Spread).
//
// Clients that fail together and retry on a schedule fail together again, and jobs started
// together that poll on a fixed interval reach the exchange together for ever. So every wait in
// Keel that must not line up with another draws from a Rand: the scheduler's retries and
// resumes, the streams' reconnects, the runtime's polling. A Rand is built from a seed, so a
// test replays the same waits:
//
//	r := jitter.New(1)
//	d := jitter.Full(r, 200*time.Millisecond, 10*time.Second, n) // in [0, min(10s, 200ms·2^n))
//	p := jitter.Spread(r, time.Minute, 0.2)                       // in [48s, 72s]
//
// Like clock, it is the floor of the import graph: it imports only the standard library, so
// every package may use it.
package jitter

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Rand is a seeded source of random draws, safe for concurrent use: one Rand may serve every
// goroutine of a component. Build it with New (tests, or any caller that wants a replayable
// sequence) or NewRandom.
type Rand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// New returns a Rand whose draws are fixed by seed: two Rands with the same seed draw the
// same sequence.
func New(seed uint64) *Rand {
	// The second PCG word is derived, not constant, so that nearby seeds start far apart.
	return &Rand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// NewRandom returns a Rand seeded from the runtime's random source: the default wherever no
// test asked for a sequence, so that processes started together draw differently.
func NewRandom() *Rand { return New(rand.Uint64()) }

// Duration returns a uniform duration in [0, d), or 0 when d <= 0.
func (r *Rand) Duration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Duration(r.r.Int64N(int64(d)))
}

// Float64 returns a uniform number in [0, 1).
func (r *Rand) Float64() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Float64()
}

// Uint64 returns a uniform 64-bit number: a seed for another Rand (one per stream, say)
// derived from this one, so that one seed still fixes them all.
func (r *Rand) Uint64() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.r.Uint64()
}

// Ceiling returns min(limit, base·2^n): the top of Full's range before attempt n, and, with
// no draw, a pause that doubles on each repeat up to a limit. It is limit when base·2^n
// overflows or n < 0.
func Ceiling(base, limit time.Duration, n int) time.Duration {
	if n >= 0 && n < 63 {
		if d := base << n; d > 0 && d>>n == base && d < limit {
			return d
		}
	}
	return limit
}

// Full returns the full-jitter backoff before attempt n (n = 0 for the first wait, counting
// failures since the last success): a uniform draw from [0, min(limit, base·2^n)). Drawing from
// the whole range, not only its upper part, is what spreads clients that failed together
// (AWS's "Exponential Backoff And Jitter"). A caller with a deadline passes the time left as
// limit when it is smaller, so that the wait ends before it.
func Full(r *Rand, base, limit time.Duration, n int) time.Duration {
	return r.Duration(Ceiling(base, limit, n))
}

// Spread returns d moved by up to ±fraction of itself, uniformly: the interval of a periodic
// job, so that jobs and instances started together drift apart instead of polling in
// lockstep. fraction is capped at 1 (the result is never negative); d <= 0 or fraction <= 0
// returns d unchanged.
func Spread(r *Rand, d time.Duration, fraction float64) time.Duration {
	if d <= 0 || fraction <= 0 {
		return d
	}
	spread := float64(d) * min(fraction, 1)
	return time.Duration(float64(d) - spread + 2*spread*r.Float64())
}
