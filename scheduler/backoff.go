package scheduler

import (
	"time"

	"github.com/keelbot/keel/jitter"
)

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
func backoff(r *jitter.Rand, b BackoffConfig, retry int, retryAfter, remaining time.Duration) (time.Duration, bool) {
	if remaining <= 0 || retryAfter >= remaining {
		return 0, false
	}
	if retryAfter > 0 {
		spread := min(resumeSpread(retryAfter, b.ResumeSpread, b.ResumeSpreadRatio), remaining-retryAfter)
		return retryAfter + r.Duration(spread), true
	}
	return jitter.Full(r, b.Base, min(b.Cap, remaining), retry-1), true
}
