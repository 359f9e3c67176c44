package scheduler

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// TestAppendTSMatchesFormat: the event's ts is what Time.Format(tsLayout) writes, for any
// instant and zone.
func TestAppendTSMatchesFormat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	for range 10000 {
		at := time.Unix(rng.Int64N(1<<36), rng.Int64N(1e9)).In(zone)
		if got, want := string(appendTS(nil, at)), at.UTC().Format(tsLayout); got != want {
			t.Fatalf("appendTS(%v) = %s, want %s", at, got, want)
		}
	}
	if got := string(appendTS(nil, time.Date(2025, 1, 6, 12, 0, 0, 25_999_999, time.UTC))); got != "2025-01-06T12:00:00.025Z" {
		t.Fatalf("got %s", got)
	}
}

// TestAppendMillisMatchesFloat: latency_ms and queue_wait_ms read as they did when written as
// float64(microseconds)/1000.
func TestAppendMillisMatchesFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 100000 {
		d := time.Duration(rng.Int64N(1 << 40))
		if i < 3000 {
			d = time.Duration(i) * time.Microsecond
		}
		if i%7 == 0 {
			d = -d
		}
		want := strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', -1, 64)
		if got := string(appendMillis(nil, d)); got != want {
			t.Fatalf("appendMillis(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestAppendJSONString: what appendJSONString writes decodes to the string it was given (with
// invalid UTF-8 replaced), whatever the bytes.
func TestAppendJSONString(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases := []string{"", "plain", `q"uote\back`, "tab\tnl\ncr\r\x00\x1f", "héllo ✓", "bad \xff\xfe utf8", "\u2028"}
	for range 20000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		enc := appendJSONString(nil, c)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%q encoded as %s: %v", c, enc, err)
		}
		var want strings.Builder // each invalid byte replaced
		for i := 0; i < len(c); {
			r, size := utf8.DecodeRuneInString(c[i:])
			want.WriteRune(r)
			i += size
		}
		if got != want.String() {
			t.Fatalf("%q encoded as %s decodes to %q", c, enc, got)
		}
	}
}

// TestAttemptEventIsZerologsEncoding: the attempt event, written in one pass (logAttempt), is
// byte for byte what zerolog writes for the same fields one call each, whatever the strings
// hold (quotes, control characters, invalid UTF-8, HTML).
func TestAttemptEventIsZerologsEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	hostile := []string{"", "plain", `q"uote\back`, "tab\tnl\n\x00\x1f", "héllo ✓", "bad \xff\xfe", "<a&b>", "\u2028"}
	str := func() string {
		if rng.IntN(2) == 0 {
			return hostile[rng.IntN(len(hostile))]
		}
		b := make([]byte, rng.IntN(10))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return string(b)
	}
	for range 2000 {
		id, ex := str(), str()
		ev := AttemptEvent{
			Time: time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)), Endpoint: str(), Method: str(), Bucket: str(),
			IdempotencyKey: str(), Attempt: rng.IntN(5), Status: rng.IntN(600), Code: rng.IntN(5000) - 2500,
			Message: str(), RequestID: str(), Class: Class(rng.IntN(int(ClassUnknown) + 1)),
			Latency: time.Duration(rng.Int64N(1 << 36)), QueueWait: time.Duration(rng.Int64N(1 << 36)),
			InFlight: rng.IntN(100), RetryReason: str(), Delay: time.Duration(rng.Int64N(1 << 36)),
			Weight: rng.Int64N(5000), RetryAfter: time.Duration(rng.Int64N(1 << 36)),
		}
		var got, want bytes.Buffer
		s := &Scheduler{log: zerolog.New(&got), idFields: idFieldsJSON(id, ex)}
		s.logAttempt(&ev)
		zl := zerolog.New(&want)
		zl.Log().
			Str("ts", ev.Time.UTC().Format(tsLayout)).Str("bot_instance_id", id).Str("exchange", ex).
			Str("endpoint", ev.Endpoint).Str("method", ev.Method).Int("status", ev.Status).
			Int("error_code", ev.Code).Str("error_message", ev.Message).Str("request_id", ev.RequestID).
			Int("attempt", ev.Attempt).Float64("latency_ms", float64(ev.Latency.Microseconds())/1000).
			Str("rate_limit_bucket", ev.Bucket).Int("concurrency_inflight", ev.InFlight).
			Str("retry_reason", ev.RetryReason).Int64("delay_ms", ev.Delay.Milliseconds()).
			Str("idempotency_key", ev.IdempotencyKey).Str("failure_class", ev.Class.String()).
			Int64("weight", ev.Weight).Float64("queue_wait_ms", float64(ev.QueueWait.Microseconds())/1000).
			Int64("retry_after_ms", ev.RetryAfter.Milliseconds()).Msg("")
		if got.String() != want.String() {
			t.Fatalf("one pass:\n%s\nzerolog:\n%s", got.String(), want.String())
		}
	}
}
