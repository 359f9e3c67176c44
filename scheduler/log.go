package scheduler

import (
	"time"

	"github.com/rs/zerolog"
)

// AttemptEvent describes one attempt: what the scheduler logs for it, plus typed figures for
// metrics. Observers registered with WithObserver receive one per attempt.
type AttemptEvent struct {
	Time           time.Time // when the attempt ended, on the scheduler's clock
	Endpoint       string
	Method         string
	Bucket         string
	Priority       Priority
	IdempotencyKey string
	Attempt        int // 1 for the first try
	Status         int
	Code           int
	Message        string // redacted
	RequestID      string
	Class          Class
	Latency        time.Duration // the attempt itself
	QueueWait      time.Duration // from entering the queue to being sent
	InFlight       int           // the bucket's requests in flight, this one included
	// RetryReason is the class that caused a retry ("rate_limit", "transient"); empty when
	// the attempt was the last one.
	RetryReason string
	// Delay is the wait before the retry; 0 when there is none.
	Delay time.Duration
}

// Field names of the per-attempt log event: DESIGN.md "Stable surfaces".
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// logAttempt writes the attempt's one log event: info for a success, warn for a failure,
// error for an auth failure (escalation). Every field is always present.
func (s *Scheduler) logAttempt(ev *AttemptEvent) {
	var e *zerolog.Event
	switch ev.Class {
	case ClassNone:
		e = s.log.Info()
	case ClassAuth:
		e = s.log.Error()
	default:
		e = s.log.Warn()
	}
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
		Msg("")
}
