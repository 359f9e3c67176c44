package scheduler_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// TestPolicyTable walks docs/architecture.md's policy table row by row.
func TestPolicyTable(t *testing.T) {
	ok := scheduler.Outcome{Status: 200}
	timeout := scheduler.Outcome{Err: context.DeadlineExceeded}
	tests := []struct {
		name      string
		write     bool
		retrySafe scheduler.RetrySafeFunc
		outcomes  []scheduler.Outcome
		attempts  int
		class     scheduler.Class // of the returned error; ClassNone for success
		is        error           // errors.Is target, if any
		authHook  int
	}{
		{name: "success", outcomes: []scheduler.Outcome{ok}, attempts: 1},
		{name: "auth 401 is not retried and trips the hook", outcomes: []scheduler.Outcome{{Status: 401, Code: -2015, Message: "Invalid API-key"}}, attempts: 1, class: scheduler.ClassAuth, authHook: 1},
		{name: "auth 403", outcomes: []scheduler.Outcome{{Status: 403}}, attempts: 1, class: scheduler.ClassAuth, authHook: 1},
		{name: "auth set by the adapter on a 400", outcomes: []scheduler.Outcome{{Status: 400, Code: -1022, Class: scheduler.ClassAuth}}, attempts: 1, class: scheduler.ClassAuth, authHook: 1},
		{name: "validation 400 is not retried", outcomes: []scheduler.Outcome{{Status: 400, Code: -1013}}, attempts: 1, class: scheduler.ClassValidation},
		{name: "validation write", write: true, outcomes: []scheduler.Outcome{{Status: 400, Code: -2010}}, attempts: 1, class: scheduler.ClassValidation},
		{name: "rate_limit 429 retried twice", outcomes: []scheduler.Outcome{{Status: 429}}, attempts: 3, class: scheduler.ClassRateLimit},
		{name: "rate_limit then success", outcomes: []scheduler.Outcome{{Status: 429, RetryAfter: time.Second}, ok}, attempts: 2},
		{name: "rate_limit write is retried (rejected, not executed)", write: true, outcomes: []scheduler.Outcome{{Status: 429}, ok}, attempts: 2},
		{name: "rate_limit set by the adapter on a 400", outcomes: []scheduler.Outcome{{Status: 400, Code: -1003, Class: scheduler.ClassRateLimit}, ok}, attempts: 2},
		{name: "transient read 503 retried twice", outcomes: []scheduler.Outcome{{Status: 503}}, attempts: 3, class: scheduler.ClassTransient},
		{name: "transient read timeout then success", outcomes: []scheduler.Outcome{timeout, ok}, attempts: 2},
		{name: "transient write is an unknown outcome, not retried", write: true, outcomes: []scheduler.Outcome{{Status: 503}, ok}, attempts: 1, class: scheduler.ClassUnknown, is: scheduler.ErrUnknownOutcome},
		{name: "timeout of a write is unknown", write: true, outcomes: []scheduler.Outcome{timeout, ok}, attempts: 1, class: scheduler.ClassUnknown, is: context.DeadlineExceeded},
		{name: "unknown write retried when RetrySafe proves absence", write: true,
			retrySafe: func(context.Context, scheduler.Outcome) (bool, error) { return true, nil },
			outcomes:  []scheduler.Outcome{{Status: 503}, ok}, attempts: 2},
		{name: "unknown write not retried when RetrySafe cannot prove absence", write: true,
			retrySafe: func(context.Context, scheduler.Outcome) (bool, error) { return false, nil },
			outcomes:  []scheduler.Outcome{{Status: 503}, ok}, attempts: 1, class: scheduler.ClassUnknown, is: scheduler.ErrUnknownOutcome},
		{name: "RetrySafe error ends the request", write: true,
			retrySafe: func(context.Context, scheduler.Outcome) (bool, error) { return false, io.ErrUnexpectedEOF },
			outcomes:  []scheduler.Outcome{{Status: 503}, ok}, attempts: 1, class: scheduler.ClassUnknown, is: io.ErrUnexpectedEOF},
		{name: "a write answered with no status and no error is an unknown outcome, not retried", write: true, outcomes: []scheduler.Outcome{{}, ok}, attempts: 1, class: scheduler.ClassUnknown, is: scheduler.ErrUnknownOutcome},
		{name: "a read answered with a 3xx is retried as transient", outcomes: []scheduler.Outcome{{Status: 302}, ok}, attempts: 2},
		{name: "unknown set by the adapter on a write", write: true, outcomes: []scheduler.Outcome{{Status: 200, Class: scheduler.ClassUnknown, Code: -1007}}, attempts: 1, class: scheduler.ClassUnknown, is: scheduler.ErrUnknownOutcome},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hooks := 0
				s, clk := newScheduler(t, baseConfig(), scheduler.WithAuthFailureHook(func(scheduler.Outcome) { hooks++ }))
				rec := &recorder{clk: clk}
				r := req("x", "private", scheduler.PriorityOrders, 1, rec.scripted("x", tt.outcomes...))
				r.Write, r.RetrySafe = tt.write, tt.retrySafe
				res := doAll(t, s, clk, r)[0]
				if got := len(rec.snapshot()); got != tt.attempts {
					t.Errorf("attempts = %d, want %d", got, tt.attempts)
				}
				if got := scheduler.ClassOf(res.err); got != tt.class {
					t.Errorf("ClassOf(%v) = %v, want %v", res.err, got, tt.class)
				}
				var e *scheduler.Error
				if tt.class != scheduler.ClassNone {
					if !errors.As(res.err, &e) || e.Attempts != tt.attempts {
						t.Errorf("err = %#v, want *Error with %d attempts", res.err, tt.attempts)
					}
				}
				if tt.is != nil && !errors.Is(res.err, tt.is) {
					t.Errorf("errors.Is(%v, %v) = false", res.err, tt.is)
				}
				if hooks != tt.authHook {
					t.Errorf("auth hook called %d times, want %d", hooks, tt.authHook)
				}
				s.Close()
			})
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		o     scheduler.Outcome
		write bool
		want  scheduler.Class
	}{
		{"200 read", scheduler.Outcome{Status: 200}, false, scheduler.ClassNone},
		{"201 write", scheduler.Outcome{Status: 201}, true, scheduler.ClassNone},
		{"no status, no error, read: nothing proves it succeeded", scheduler.Outcome{}, false, scheduler.ClassTransient},
		{"no status, no error, write: may have landed", scheduler.Outcome{}, true, scheduler.ClassUnknown},
		{"100 read", scheduler.Outcome{Status: 100}, false, scheduler.ClassTransient},
		{"101 write", scheduler.Outcome{Status: 101}, true, scheduler.ClassUnknown},
		{"302 read", scheduler.Outcome{Status: 302}, false, scheduler.ClassTransient},
		{"307 write", scheduler.Outcome{Status: 307}, true, scheduler.ClassUnknown},
		{"200 with a transport error (malformed answer), read", scheduler.Outcome{Status: 200, Err: io.ErrUnexpectedEOF}, false, scheduler.ClassTransient},
		{"200 with a transport error, write", scheduler.Outcome{Status: 200, Err: io.ErrUnexpectedEOF}, true, scheduler.ClassUnknown},
		{"429", scheduler.Outcome{Status: 429}, false, scheduler.ClassRateLimit},
		{"418 ban write", scheduler.Outcome{Status: 418, Ban: true}, true, scheduler.ClassRateLimit},
		{"ban marked without a status", scheduler.Outcome{Ban: true}, false, scheduler.ClassRateLimit},
		{"401", scheduler.Outcome{Status: 401}, false, scheduler.ClassAuth},
		{"403 write", scheduler.Outcome{Status: 403}, true, scheduler.ClassAuth},
		{"500 read", scheduler.Outcome{Status: 500}, false, scheduler.ClassTransient},
		{"504 write", scheduler.Outcome{Status: 504}, true, scheduler.ClassUnknown},
		{"transport error, read", scheduler.Outcome{Err: io.EOF}, false, scheduler.ClassTransient},
		{"transport error, write", scheduler.Outcome{Err: io.EOF}, true, scheduler.ClassUnknown},
		{"404", scheduler.Outcome{Status: 404}, false, scheduler.ClassValidation},
		{"adapter's rate_limit on a 400", scheduler.Outcome{Status: 400, Class: scheduler.ClassRateLimit}, false, scheduler.ClassRateLimit},
		{"adapter's transient on a 400, write", scheduler.Outcome{Status: 400, Class: scheduler.ClassTransient}, true, scheduler.ClassUnknown},
		{"adapter's unknown on a read", scheduler.Outcome{Status: 200, Class: scheduler.ClassUnknown}, false, scheduler.ClassTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scheduler.Classify(tt.o, tt.write); got != tt.want {
				t.Errorf("Classify(%+v, write=%v) = %v, want %v", tt.o, tt.write, got, tt.want)
			}
		})
	}
}
