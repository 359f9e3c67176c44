package scheduler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/scheduler"
)

// probeLog is what a Prober sent, in order.
type probeLog struct {
	mu     sync.Mutex
	sent   []string // "probe:transient", "order", ...
	answer scheduler.Outcome
}

func (l *probeLog) add(what string) {
	l.mu.Lock()
	l.sent = append(l.sent, what)
	l.mu.Unlock()
}

func (l *probeLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.sent...)
}

// prober returns a Prober that sends a read of bucket through *s, answered by l.answer.
func (l *probeLog) prober(s **scheduler.Scheduler, bucket string) scheduler.Prober {
	return func(ctx context.Context, c scheduler.Class) error {
		_, err := (*s).Do(ctx, read(bucket, func(context.Context, int) scheduler.Outcome {
			l.add("probe:" + c.String())
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.answer
		}))
		return err
	}
}

// TestHalfOpenProbeIsARead: with a Prober, a half-open transient breaker is tested by a read,
// never by the order waiting on it: when the read fails the breaker opens again and the order
// fails fast, unsent; once a read succeeds the next order goes.
func TestHalfOpenProbeIsARead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s *scheduler.Scheduler
		l := &probeLog{answer: scheduler.Outcome{Status: 503}}
		s, clk := newScheduler(t, breakerConfig(), scheduler.WithProber(l.prober(&s, "b0")))
		for range 5 {
			do(s, "private", scheduler.Outcome{Status: 503})
		}
		if st := breakerState(s, scheduler.ClassTransient); st.State != "open" {
			t.Fatalf("transient breaker %+v, want open", st)
		}
		clk.Advance(15 * time.Second) // half-open
		order := func() *pending {
			r := newOrder("private", func(context.Context, int) scheduler.Outcome {
				l.add("order")
				return scheduler.Outcome{Status: 200}
			})
			r.Budget = 5 * time.Minute
			return goDo(context.Background(), s, r)
		}
		p := order()
		synctest.Wait()
		if got := l.list(); len(got) != 1 || got[0] != "probe:transient" {
			t.Fatalf("sent %v, want one read probe and no order", got)
		}
		// The probe failed: the breaker is open again and the order fails fast, unsent.
		var open *scheduler.BreakerOpenError
		if res := p.wait(); !errors.As(res.err, &open) || open.Class != scheduler.ClassTransient {
			t.Fatalf("order after a failed probe: %v, want the transient breaker open", res.err)
		}
		l.mu.Lock()
		l.answer = scheduler.Outcome{Status: 200}
		l.mu.Unlock()
		clk.Advance(15 * time.Second) // half-open again: the next order waits for a read
		if res := order().wait(); res.err != nil {
			t.Fatalf("order after a good probe: %v", res.err)
		}
		if got := l.list(); len(got) != 3 || got[1] != "probe:transient" || got[2] != "order" {
			t.Fatalf("sent %v, want probe, probe, then the order", got)
		}
		s.Close()
	})
}

// TestHalfOpenCancelWaitsForReadProbe: a cancel is no probe either.
func TestHalfOpenCancelWaitsForReadProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s *scheduler.Scheduler
		l := &probeLog{answer: scheduler.Outcome{Status: 200}}
		s, clk := newScheduler(t, breakerConfig(), scheduler.WithProber(l.prober(&s, "b0")))
		for range 5 {
			do(s, "private", scheduler.Outcome{Status: 503})
		}
		clk.Advance(15 * time.Second)
		if _, err := s.Do(context.Background(), cancel("private", func(context.Context, int) scheduler.Outcome {
			l.add("cancel")
			return scheduler.Outcome{Status: 200}
		})); err != nil {
			t.Fatal(err)
		}
		if got := l.list(); len(got) != 2 || got[0] != "probe:transient" || got[1] != "cancel" {
			t.Fatalf("sent %v, want the read probe, then the cancel", got)
		}
		s.Close()
	})
}

// events parses buf's lines that carry an "event" field.
func events(t *testing.T, buf *bytes.Buffer, name string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		if ev["event"] == name {
			out = append(out, ev)
		}
	}
	return out
}

// TestRefusedAndGivenUpEvents: a request refused before sending logs request_refused with
// its reason; a retry that does not happen logs retry_given_up with why.
func TestRefusedAndGivenUpEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		s, clk := newScheduler(t, breakerConfig(), scheduler.WithLogger(zerolog.New(&buf)),
			scheduler.WithGate(gateFunc(func(context.Context, scheduler.Priority) error { return errHalted })))
		do(s, "private", scheduler.Outcome{Status: 401}) // opens the auth breaker
		_ = do(s, "private", scheduler.Outcome{Status: 200})
		if _, err := s.Do(context.Background(), newOrder("b0", succeed)); err == nil {
			t.Fatal("order through a closed gate")
		}
		refused := events(t, &buf, "request_refused")
		if len(refused) != 2 || refused[0]["reason"] != "breaker" || refused[1]["reason"] != "halted" ||
			refused[1]["method"] != "POST" || refused[0]["rate_limit_bucket"] != "private" {
			t.Fatalf("request_refused events %v, want breaker then halted", refused)
		}

		s.Close()

		// A 503 whose retry would end past the request's budget is given up.
		buf.Reset()
		s, clk = newScheduler(t, baseConfig(), scheduler.WithLogger(zerolog.New(&buf)))
		r := req("slow", "private", scheduler.PriorityAccount, 1, func(context.Context, int) scheduler.Outcome {
			clk.Advance(time.Second)
			return scheduler.Outcome{Status: 503, RetryAfter: time.Minute}
		})
		r.Budget = 2 * time.Second
		doAll(t, s, clk, r)
		given := events(t, &buf, "retry_given_up")
		if len(given) != 1 || given[0]["reason"] != "budget" || given[0]["endpoint"] != "/api/slow" {
			t.Fatalf("retry_given_up events %v, want one for /api/slow, reason budget", given)
		}
		s.Close()
	})
}

// TestClockOffsetEvents: the first offset is logged, then only moves beyond 100 ms.
func TestClockOffsetEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		s, _ := newScheduler(t, baseConfig(), scheduler.WithLogger(zerolog.New(&buf)))
		for _, d := range []time.Duration{30 * time.Millisecond, 90 * time.Millisecond, 250 * time.Millisecond, 200 * time.Millisecond} {
			s.SetClockOffset(d)
		}
		got := events(t, &buf, "clock_offset")
		if len(got) != 2 || got[0]["offset_ms"] != 30.0 || got[1]["offset_ms"] != 250.0 || got[1]["previous_offset_ms"] != 30.0 {
			t.Fatalf("clock_offset events %v, want 30 ms then 250 ms (from 30)", got)
		}
		s.Close()
	})
}

// TestAttemptEventWeightAndRetryAfter: a 429's event names its class, weight and Retry-After.
func TestAttemptEventWeightAndRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		s, clk := newScheduler(t, breakerConfig(), scheduler.WithLogger(zerolog.New(&buf)))
		doAll(t, s, clk, req("limited", "b2", scheduler.PriorityAccount, 3, func(context.Context, int) scheduler.Outcome {
			return scheduler.Outcome{Status: 429, RetryAfter: 1500 * time.Millisecond}
		}))
		lines := logLines(t, &buf)
		if len(lines) != 1 || lines[0]["failure_class"] != "rate_limit" || lines[0]["weight"] != 3.0 || lines[0]["retry_after_ms"] != 1500.0 {
			t.Fatalf("events %v, want one rate_limit attempt of weight 3 with retry_after_ms 1500", lines)
		}
		s.Close()
	})
}
