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

// jitter draws the random part of every wait: a uniform duration in [0, d), 0 when d <= 0.
// lockedRand is the scheduler's; tests inject fixed draws.
type jitter interface {
	duration(d time.Duration) time.Duration
}

// resumeSpread returns the window over which requests waiting on a pause resume when it
// ends: min(limit, ratio·pause).
func resumeSpread(pause, limit time.Duration, ratio float64) time.Duration {
	return min(limit, time.Duration(float64(pause)*ratio))
}

// backoff returns the wait before retry number retry (1 for the first retry) of a request
// that has remaining of its time budget left, and false when no retry fits in it.
//
// With a Retry-After (or a ban's pause) the wait is never shorter: retryAfter plus a spread
// of rand(0, min(ResumeSpread, ResumeSpreadRatio·retryAfter)), like the pause it starts, so
// that the requests it held do not come back together. Without one it is full jitter,
// rand(0, min(Cap, Base·2^(retry-1))), so that clients that failed together do not retry
// together. Either way the random part is cut to what the budget leaves, so that the retry
// is sent before the budget ends; a Retry-After the budget cannot cover means no retry.
func backoff(j jitter, b BackoffConfig, retry int, retryAfter, remaining time.Duration) (time.Duration, bool) {
	if remaining <= 0 || retryAfter >= remaining {
		return 0, false
	}
	if retryAfter > 0 {
		spread := min(resumeSpread(retryAfter, b.ResumeSpread, b.ResumeSpreadRatio), remaining-retryAfter)
		return retryAfter + j.duration(spread), true
	}
	return j.duration(min(doubled(b.Base, b.Cap, retry-1), remaining)), true
}

// doubled returns base·2^n, or limit when that is larger (or overflows, or n < 0).
func doubled(base, limit time.Duration, n int) time.Duration {
	if n >= 0 && n < 32 {
		if d := base << n; d > 0 && d < limit {
			return d
		}
	}
	return limit
}
