package scheduler_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/scheduler"
)

// On the real clock the attempt's context is the scheduler's own (its deadline kept by the
// dispatcher, not a timer per attempt): these tests hold it to context.WithDeadline's contract.

func newRealScheduler(t *testing.T) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(scheduler.Config{
		Windows: []scheduler.WindowConfig{{Name: "W", Limit: 1000, Interval: time.Minute}},
		Buckets: []scheduler.BucketConfig{{Name: "b", MaxConcurrency: 10}},
	}, scheduler.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// patience bounds how long a test waits for something that must happen long before it.
const patience = 10 * time.Second

func readRequest(budget time.Duration, attempt func(ctx context.Context) scheduler.Outcome) *scheduler.Request {
	return &scheduler.Request{
		Endpoint: "/api/v3/account", Method: "GET", Bucket: "b", Priority: scheduler.PriorityAccount,
		Costs: []scheduler.Cost{{Window: "W", Amount: 1}}, Budget: budget,
		Attempt: func(ctx context.Context, _ int) scheduler.Outcome { return attempt(ctx) },
	}
}

func TestHungAttemptIsCutAtItsBudget(t *testing.T) {
	s := newRealScheduler(t)
	const budget = 200 * time.Millisecond
	start := time.Now()
	var deadline, began time.Time
	var err error
	_, doErr := s.Do(context.Background(), readRequest(budget, func(ctx context.Context) scheduler.Outcome {
		began = time.Now()
		var ok bool
		if deadline, ok = ctx.Deadline(); !ok {
			t.Error("the attempt's context has no deadline")
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(patience):
			t.Error("the attempt's context did not end at the request's budget")
		}
		return scheduler.Outcome{Err: err}
	}))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("attempt's ctx.Err() = %v, want context.DeadlineExceeded", err)
	}
	// The budget starts in the queue: after the call began, before the attempt did.
	if deadline.Before(start.Add(budget)) || deadline.After(began.Add(budget)) {
		t.Fatalf("deadline %v after the call, attempt began %v after it: want the budget %v from the queueing", deadline.Sub(start), began.Sub(start), budget)
	}
	if doErr == nil {
		t.Fatal("Do succeeded though its only attempt ran out of budget")
	}
}

func TestAttemptContextEndsWithTheCallersAndWhenTheAttemptReturns(t *testing.T) {
	s := newRealScheduler(t)
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	var err error
	var value any
	s.Do(ctx, readRequest(time.Minute, func(actx context.Context) scheduler.Outcome {
		value = actx.Value(key{})
		cancel()
		select {
		case <-actx.Done():
			err = actx.Err()
		case <-time.After(patience):
			t.Error("the attempt's context did not end with the caller's")
		}
		return scheduler.Outcome{Err: err}
	}))
	if value != "v" {
		t.Fatalf("the attempt's context carries %v, want the caller's value", value)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("attempt's ctx.Err() = %v after the caller cancelled, want context.Canceled", err)
	}

	var kept context.Context
	if _, err := s.Do(context.Background(), readRequest(time.Minute, func(actx context.Context) scheduler.Outcome {
		kept = actx
		return scheduler.Outcome{Status: 200}
	})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kept.Done():
	default:
		t.Fatal("the attempt's context is still live after Do returned")
	}
	if !errors.Is(kept.Err(), context.Canceled) {
		t.Fatalf("after Do: ctx.Err() = %v, want context.Canceled", kept.Err())
	}
}

// Contexts derived from the attempt's (an adapter's own timeout, context.AfterFunc) end with
// it, and a stopped AfterFunc does not run.
func TestContextsDerivedFromTheAttemptsEndWithIt(t *testing.T) {
	s := newRealScheduler(t)
	var derived context.Context
	ran, stoppedRan := make(chan struct{}), make(chan struct{}, 1)
	s.Do(context.Background(), readRequest(100*time.Millisecond, func(actx context.Context) scheduler.Outcome {
		var cancel context.CancelFunc
		derived, cancel = context.WithTimeout(actx, time.Hour)
		t.Cleanup(cancel)
		context.AfterFunc(actx, func() { close(ran) })
		stop := context.AfterFunc(actx, func() { stoppedRan <- struct{}{} })
		if !stop() {
			t.Error("stopping an AfterFunc before the context ended reported false")
		}
		<-actx.Done()
		return scheduler.Outcome{Err: actx.Err()}
	}))
	select {
	case <-derived.Done():
	case <-time.After(patience):
		t.Fatal("a context derived from the attempt's did not end with it")
	}
	if !errors.Is(derived.Err(), context.DeadlineExceeded) {
		t.Fatalf("derived ctx.Err() = %v, want context.DeadlineExceeded", derived.Err())
	}
	select {
	case <-ran:
	case <-time.After(patience):
		t.Fatal("an AfterFunc on the attempt's context never ran")
	}
	select {
	case <-stoppedRan:
		t.Fatal("a stopped AfterFunc ran")
	default:
	}
}

// An attempt still in flight when the scheduler closes keeps its deadline.
func TestAttemptInFlightAtCloseKeepsItsDeadline(t *testing.T) {
	s := newRealScheduler(t)
	started, ended := make(chan struct{}), make(chan error, 1)
	go s.Do(context.Background(), readRequest(300*time.Millisecond, func(actx context.Context) scheduler.Outcome {
		close(started)
		select {
		case <-actx.Done():
			ended <- actx.Err()
		case <-time.After(patience):
			ended <- errors.New("no end")
		}
		return scheduler.Outcome{Err: actx.Err()}
	}))
	<-started
	s.Close()
	if err := <-ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an attempt in flight at Close: ctx.Err() = %v, want context.DeadlineExceeded at its budget", err)
	}
}

// The caller's context may end at any moment, the grant's included: the attempt's context then
// ends with it (run under -race: its registration with the parent and the parent's end race).
func TestAttemptContextEndsWithAParentEndingAnyMoment(t *testing.T) {
	s := newRealScheduler(t)
	for range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		s.Do(ctx, readRequest(time.Minute, func(actx context.Context) scheduler.Outcome {
			select {
			case <-actx.Done():
			case <-time.After(patience):
				t.Error("the attempt's context outlived its parent")
			}
			return scheduler.Outcome{Err: actx.Err()}
		}))
	}
}
