package scheduler

import (
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
}

// tsLayout is the event's ts: UTC, to the millisecond.
const tsLayout = "2006-01-02T15:04:05.000Z07:00"

// logAttempt writes the attempt's one log event. The logger's level decides which attempts
// are written: a success at info, a failure at warn, an auth failure at error (escalation).
// The event itself carries no level field: its fields are exactly those of docs/architecture.md's
// "Stable surfaces", every one always present.
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
		Msg("")
}
