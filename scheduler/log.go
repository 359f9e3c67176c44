package scheduler

import (
	"context"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

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

// appendTS appends t in UTC as tsLayout formats it ("2025-01-06T12:00:00.025Z"), without
// Time.Format's allocation and layout parsing: the attempt event writes one per attempt.
func appendTS(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, tsLayout)
	}
	two := func(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }
	b = two(two(b, year/100), year%100)
	b = two(append(b, '-'), int(month))
	b = two(append(b, '-'), day)
	b = two(append(b, 'T'), hour)
	b = two(append(b, ':'), minute)
	b = two(append(b, ':'), sec)
	ms := t.Nanosecond() / int(time.Millisecond)
	return append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// appendMillis appends d in milliseconds to the microsecond, as the JSON number
// float64(d.Microseconds())/1000 encodes to ("1.2", "0.025", "3"), without formatting a float:
// a whole number of microseconds over 1000 is that decimal exactly, with no trailing zeros.
func appendMillis(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	if frac == 0 {
		return b
	}
	b = append(b, '.', byte('0'+frac/100))
	if frac%100 != 0 {
		b = append(b, byte('0'+frac/10%10))
		if frac%10 != 0 {
			b = append(b, byte('0'+frac%10))
		}
	}
	return b
}

// idFieldsJSON returns the event's constant fields encoded once, bot_instance_id's value and
// then the exchange field ("bot-1","exchange":"binance"), for RawJSON: every attempt event
// carries them, and escaping them anew each time is waste.
func idFieldsJSON(instanceID, exchange string) []byte {
	b := append(appendJSONString(nil, instanceID), `,"exchange":`...)
	return appendJSONString(b, exchange)
}

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
	// Every field is written here in one pass, as ts's raw value: the timestamp needs no
	// escaping, and one zerolog field costs less than three.
	var body [512]byte
	b := append(appendTS(append(body[:0], '"'), ev.Time), `","bot_instance_id":`...)
	b = append(append(b, s.idFields...), `,"endpoint":`...)
	e.RawJSON("ts", appendAttemptFields(b, ev)).Msg("")
}

// appendAttemptFields appends the attempt event's fields from endpoint's value on, in the
// stable order (`"/api/v3/order","method":"POST",...,"retry_after_ms":0`): one pass with keys
// written once here, where a zerolog call per field escapes each key anew (the attempt event
// is on every request's path).
func appendAttemptFields(b []byte, ev *AttemptEvent) []byte {
	str := func(b []byte, key, v string) []byte { return appendJSONString(append(b, key...), v) }
	num := func(b []byte, key string, v int64) []byte { return strconv.AppendInt(append(b, key...), v, 10) }
	b = appendJSONString(b, ev.Endpoint)
	b = str(b, `,"method":`, ev.Method)
	b = num(b, `,"status":`, int64(ev.Status))
	b = num(b, `,"error_code":`, int64(ev.Code))
	b = str(b, `,"error_message":`, ev.Message)
	b = str(b, `,"request_id":`, ev.RequestID)
	b = num(b, `,"attempt":`, int64(ev.Attempt))
	b = appendMillis(append(b, `,"latency_ms":`...), ev.Latency)
	b = str(b, `,"rate_limit_bucket":`, ev.Bucket)
	b = num(b, `,"concurrency_inflight":`, int64(ev.InFlight))
	b = str(b, `,"retry_reason":`, ev.RetryReason)
	b = num(b, `,"delay_ms":`, ev.Delay.Milliseconds())
	b = str(b, `,"idempotency_key":`, ev.IdempotencyKey)
	b = str(b, `,"failure_class":`, ev.Class.String())
	b = num(b, `,"weight":`, ev.Weight)
	b = appendMillis(append(b, `,"queue_wait_ms":`...), ev.QueueWait)
	return num(b, `,"retry_after_ms":`, ev.RetryAfter.Milliseconds())
}

// appendJSONString appends s as a JSON string, escaped as zerolog escapes (its noEscapeTable
// and appendStringComplex): '"', '\\', control characters and DEL escaped, the short forms
// where JSON has them; invalid UTF-8 replaced by U+FFFD; anything else as it is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && plainJSON[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			if c < utf8.RuneSelf { // another control character, or DEL
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			} else { // invalid UTF-8
				b = append(b, "\\ufffd"...)
			}
		}
		i++
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// plainJSON marks the ASCII bytes a JSON string holds as they are.
var plainJSON = func() (t [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

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
