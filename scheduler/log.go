package scheduler

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
)

// AttemptEvent describes one attempt: what the scheduler logs for it, plus typed figures for
// metrics. Observers registered with WithObserver receive one per attempt.
type AttemptEvent struct {
	Time           time.Time // when the attempt ended, on the scheduler's clock
	Endpoint       string    // redacted
	Method         string
	Bucket         string
	Priority       Priority
	IdempotencyKey string
	Attempt        int // 1 for the first try
	Status         int
	Code           int
	Message        string // redacted
	RequestID      string // redacted (a UUID is kept)
	Class          Class
	Latency        time.Duration // the attempt itself
	QueueWait      time.Duration // from entering the queue to being sent
	InFlight       int           // the bucket's requests in flight, this one included
	// RetryReason is the class that caused a retry ("rate_limit", "transient"); empty when
	// the attempt was the last one.
	RetryReason string
	// Delay is the wait before the retry; 0 when there is none.
	Delay time.Duration
	// Weight is what the attempt charged its first window (Request.Costs[0], the request
	// weight by the adapters' convention); 0 without costs.
	Weight int64
	// RetryAfter is the wait the exchange asked for (Retry-After, or a ban's pause); 0 if none.
	RetryAfter time.Duration
}

// tsLayout is the event's ts: UTC, to the millisecond.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// logAttempt writes the attempt's one log event. The logger's level decides which attempts
// are written: a success at info, a failure at warn, an auth failure at error (escalation).
// The event itself carries no level field: its fields are exactly those of docs/architecture.md's
// "Stable surfaces" (the 16 first, then failure_class, weight, queue_wait_ms and
// retry_after_ms), every one always present.
func (s *Scheduler) logAttempt(ev *AttemptEvent) {
	lvl := zerolog.WarnLevel
	switch ev.Class {
	case ClassNone:
		lvl = zerolog.InfoLevel
	case ClassAuth:
		lvl = zerolog.ErrorLevel
	}
	if lvl < s.log.GetLevel() || lvl < zerolog.GlobalLevel() {
		return
	}
	e := s.log.Log()
	if e == nil {
		return
	}
	e.Str("ts", ev.Time.UTC().Format(tsLayout)).
		Str("bot_instance_id", s.cfg.InstanceID).
		Str("exchange", s.cfg.Exchange).
		Str("endpoint", ev.Endpoint).
		Str("method", ev.Method).
		Int("status", ev.Status).
		Int("error_code", ev.Code).
		Str("error_message", ev.Message).
		Str("request_id", ev.RequestID).
		Int("attempt", ev.Attempt).
		Float64("latency_ms", float64(ev.Latency.Microseconds())/1000).
		Str("rate_limit_bucket", ev.Bucket).
		Int("concurrency_inflight", ev.InFlight).
		Str("retry_reason", ev.RetryReason).
		Int64("delay_ms", ev.Delay.Milliseconds()).
		Str("idempotency_key", ev.IdempotencyKey).
		Str("failure_class", ev.Class.String()).
		Int64("weight", ev.Weight).
		Float64("queue_wait_ms", float64(ev.QueueWait.Microseconds())/1000).
		Int64("retry_after_ms", ev.RetryAfter.Milliseconds()).
		Msg("")
}

// The events beside the per-attempt one carry an "event" field naming them.
const (
	// eventRefused: a request refused before anything was sent.
	eventRefused = "request_refused"
	// eventRetryGivenUp: a failed attempt's retry that did not happen.
	eventRetryGivenUp = "retry_given_up"
	// eventClockOffset: the exchange's clock minus ours, at the first measure and when it moves.
	eventClockOffset = "clock_offset"
	// eventProbe: a read the scheduler sent to test a half-open breaker.
	eventProbe = "breaker_probe"
)

// Refusal reasons, the reason field of request_refused and retry_given_up.
const (
	ReasonShed        = "shed"         // waited past its max wait (below orders priority)
	ReasonHalted      = "halted"       // the kill switch (Gate) is closed
	ReasonBreaker     = "breaker"      // a breaker that holds it is open
	ReasonBanHold     = "ban_hold"     // its bucket is held by a 429 or a ban
	ReasonEndpoint    = "endpoint"     // its endpoint keeps answering malformed bodies
	ReasonBudget      = "budget"       // its time budget ended
	ReasonRetryBudget = "retry_budget" // the global retry budget is spent
	ReasonClosed      = "closed"       // the scheduler is closed
	ReasonCanceled    = "canceled"     // the caller's context ended
	ReasonRetrySafe   = "retry_safe"   // RetrySafe could not tell whether a resend is safe
)

// RefusalReason names why err stopped a request before sending: one of the Reason constants.
func RefusalReason(err error) string {
	var bo *BreakerOpenError
	var gc *GateClosedError
	switch {
	case errors.As(err, &gc):
		return ReasonHalted
	case errors.As(err, &bo):
		switch {
		case bo.Endpoint != "":
			return ReasonEndpoint
		case bo.Bucket != "", bo.Class == ClassRateLimit:
			return ReasonBanHold
		}
		return ReasonBreaker
	case errors.Is(err, ErrShed):
		return ReasonShed
	case errors.Is(err, ErrBudgetExhausted):
		return ReasonBudget
	case errors.Is(err, ErrRetryBudget):
		return ReasonRetryBudget
	case errors.Is(err, ErrClosed):
		return ReasonClosed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ReasonCanceled
	}
	return ReasonRetrySafe
}

// event starts one of the named events at lvl, or returns nil when the level is off.
func (s *Scheduler) event(lvl zerolog.Level, name string, now time.Time) *zerolog.Event {
	if lvl < s.log.GetLevel() || lvl < zerolog.GlobalLevel() {
		return nil
	}
	e := s.log.WithLevel(lvl) // unlike the attempt event, named events carry their level
	if e == nil {
		return nil
	}
	return e.Str("ts", now.UTC().Format(tsLayout)).
		Str("bot_instance_id", s.cfg.InstanceID).
		Str("exchange", s.cfg.Exchange).
		Str("event", name)
}

// logRefused writes a request_refused (nothing was sent) or retry_given_up (a failed attempt
// is not retried) event for w, with why.
func (s *Scheduler) logRefused(w *waiter, name string, why error) {
	e := s.event(zerolog.WarnLevel, name, s.clock.Now())
	if e == nil {
		return
	}
	r := w.req
	e.Str("endpoint", redactEndpoint(r.Endpoint)).
		Str("method", r.Method).
		Str("rate_limit_bucket", r.Bucket).
		Str("priority", r.Priority.String()).
		Str("idempotency_key", r.IdempotencyKey).
		Int("attempt", w.attempt).
		Str("reason", RefusalReason(why)).
		Str("error_message", Redact(why.Error())).
		Msg("")
}

// logClockOffset writes a clock_offset event: the offset now, and the one logged before.
func (s *Scheduler) logClockOffset(now time.Time, d, prev time.Duration, first bool) {
	e := s.event(zerolog.InfoLevel, eventClockOffset, now)
	if e == nil {
		return
	}
	if !first {
		e.Float64("previous_offset_ms", float64(prev.Microseconds())/1000)
	}
	e.Float64("offset_ms", float64(d.Microseconds())/1000).Msg("")
}

// logProbe writes a breaker_probe event: the read sent to test the half-open breaker of
// class c, and its error (empty: it succeeded).
func (s *Scheduler) logProbe(c Class, err error) {
	lvl, msg := zerolog.InfoLevel, ""
	if err != nil {
		lvl, msg = zerolog.WarnLevel, Redact(err.Error())
	}
	e := s.event(lvl, eventProbe, s.clock.Now())
	if e == nil {
		return
	}
	e.Str("breaker", c.String()).Str("error_message", msg).Msg("")
}
