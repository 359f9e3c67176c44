package scheduler

import (
	"math/rand/v2"
	"sync"
	"time"
)

// lockedRand is the scheduler's seeded source, shared by request goroutines and the
// dispatcher. It is safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// duration returns a uniform duration in [0, d); 0 when d <= 0.
func (l *lockedRand) duration(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Duration(l.r.Int64N(int64(d)))
}

// fullJitter returns the backoff before retry number retry (1 for the first retry):
// rand(0, min(cap, base·2^(retry-1))), "full jitter", so that clients that failed together do
// not retry together.
func fullJitter(r *lockedRand, base, cap time.Duration, retry int) time.Duration {
	ceiling := cap
	if shift := retry - 1; shift < 32 {
		if d := base << shift; d > 0 && d < cap {
			ceiling = d
		}
	}
	return r.duration(ceiling)
}

// resumeSpread returns the window over which requests waiting on a pause resume when it
// ends: min(limit, ratio·pause).
func resumeSpread(pause, limit time.Duration, ratio float64) time.Duration {
	return min(limit, time.Duration(float64(pause)*ratio))
}

// retryDelay returns when to retry after a failed attempt: never earlier than the
// exchange's Retry-After (then spread like the pause it starts), else full-jitter backoff.
func retryDelay(r *lockedRand, b BackoffConfig, retry int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter + r.duration(resumeSpread(retryAfter, b.ResumeSpread, b.ResumeSpreadRatio))
	}
	return fullJitter(r, b.Base, b.Cap, retry)
}
