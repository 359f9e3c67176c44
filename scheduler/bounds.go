package scheduler

import "time"

// Numbers the exchange sends are bounded before they steer the scheduler: a hostile proxy, a
// bug at the exchange or a corrupted header must not hold a bucket for days or fill a window
// forever.
//
//   - A Retry-After is honoured up to Backoff.MaxRetryAfter (default 5m), a ban's up to
//     Backoff.MaxBan (default 72h, Binance's documented longest IP ban). Past the cap the
//     bucket tries again, one request at a time (the pause's resume spread); a real limit
//     answers that request with a new Retry-After, so the cost of a lie is one probe per cap,
//     and the cost of a genuine long wait is one refused request per cap.
//   - A usage count is clamped to the window's announced limit: "999,999,999 used" fills the
//     window until it rolls (or drains), never for longer.
//   - Every pause of a bucket is reported to WithHoldObserver's functions with what the
//     exchange asked for when it was capped, so the runtime can log long ones at error.

// HoldEvent is a bucket's pause starting or growing after a 429 or a ban: what the functions
// given to WithHoldObserver receive.
type HoldEvent struct {
	// Time is when the pause was decided; Until when it ends (on the scheduler's clock).
	Time, Until time.Time
	Bucket      string
	// OrdersOnly marks an order-count pause: new orders wait, cancels and reads go.
	OrdersOnly bool
	// Ban marks an IP ban (418).
	Ban bool
	// Reason is the refusal that started the pause (class, status, code, message; redacted).
	Reason string
	// Asked is the wait the exchange asked for when it was longer than the scheduler honours
	// (Backoff.MaxRetryAfter, Backoff.MaxBan); zero when it was honoured in full.
	Asked time.Duration
}

// Duration is how long the pause lasts from when it was decided.
func (e HoldEvent) Duration() time.Duration { return e.Until.Sub(e.Time) }

// WithHoldObserver adds a function that receives every pause of a bucket when it starts or
// grows. It runs on the request's goroutine, outside the scheduler's lock, and must not block.
func WithHoldObserver(f func(HoldEvent)) Option {
	return func(o *options) { o.holdObservers = append(o.holdObservers, f) }
}

// bound caps the wait o asks for: a ban's at MaxBan, any other at MaxRetryAfter. It returns
// o with the capped wait, and what was asked when it was capped (else 0).
func (b BackoffConfig) bound(o Outcome) (Outcome, time.Duration) {
	limit := b.MaxRetryAfter
	if isBan(o) {
		limit = b.MaxBan
	}
	if o.RetryAfter <= limit {
		return o, 0
	}
	asked := o.RetryAfter
	o.RetryAfter = limit
	return o, asked
}

// clampUsage bounds a usage count the exchange reported to the window's announced limit.
func clampUsage(used, limit int64) int64 { return max(0, min(used, limit)) }

// notifyHold hands a hold event that finishLocked filled in to the hold observers.
func (s *Scheduler) notifyHold(ev HoldEvent) {
	if ev.Until.IsZero() {
		return
	}
	for _, f := range s.holdObservers {
		f(ev)
	}
}
