package scheduler

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrShed is returned for a request below orders priority that waited longer than its
	// max wait (degrade mode): the caller should skip this refresh, not queue forever.
	ErrShed = errors.New("scheduler: request shed")
	// ErrBudgetExhausted is returned when a request's time budget ends before it could be
	// sent or retried.
	ErrBudgetExhausted = errors.New("scheduler: request time budget exhausted")
	// ErrRetryBudget is returned when a retry was due but the global retry budget was spent.
	ErrRetryBudget = errors.New("scheduler: retry budget exhausted")
	// ErrUnknownOutcome matches (errors.Is) an *Error of ClassUnknown: a write that may or may
	// not have landed. Resolve it by querying, never by a blind resend.
	ErrUnknownOutcome = errors.New("scheduler: unknown outcome")
	// ErrClosed is returned by Do after Close.
	ErrClosed = errors.New("scheduler: closed")
	// ErrInvalidRequest wraps what is wrong with a request (an unknown bucket or window, a
	// missing Attempt, a cost no window could ever grant, a Cancel that is not a Write); the
	// message names the field.
	ErrInvalidRequest = errors.New("scheduler: invalid request")
)

// Error is a request's final failure: the class of its last attempt, the attempt's outcome
// and how many attempts were made. Its text is redacted (Redact), and so is the
// Outcome.Message of an Error the scheduler returns, so that it can be logged as it is.
type Error struct {
	Class    Class
	Outcome  Outcome
	Attempts int
	// Cause is a scheduler-side cause (ErrRetryBudget, ErrBudgetExhausted, RetrySafe's
	// error), if any.
	Cause error
}

// newError returns the final failure of a request, its exchange message redacted.
func newError(c Class, o Outcome, attempts int, cause error) *Error {
	o.Message = Redact(o.Message)
	return &Error{Class: c, Outcome: o, Attempts: attempts, Cause: cause}
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("scheduler: %s failure after %d attempt(s)", e.Class, e.Attempts)
	if e.Outcome.Status != 0 {
		msg += fmt.Sprintf(": http %d", e.Outcome.Status)
	}
	if e.Outcome.Code != 0 {
		msg += fmt.Sprintf(" code %d", e.Outcome.Code)
	}
	if e.Outcome.Message != "" {
		msg += ": " + Redact(e.Outcome.Message)
	}
	if e.Outcome.Err != nil {
		msg += ": " + Redact(e.Outcome.Err.Error())
	}
	if e.Cause != nil {
		msg += " (" + Redact(e.Cause.Error()) + ")"
	}
	return msg
}

// Unwrap exposes the scheduler-side cause and the transport error.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	if e.Outcome.Err != nil {
		errs = append(errs, e.Outcome.Err)
	}
	return errs
}

// Is makes errors.Is(err, ErrUnknownOutcome) true for an unknown-outcome failure.
func (e *Error) Is(target error) bool {
	return target == ErrUnknownOutcome && e.Class == ClassUnknown
}

// BreakerOpenError is returned without sending anything while the breaker of a failure class
// is open, or while a bucket is held by a Retry-After or a ban.
type BreakerOpenError struct {
	Class  Class
	Bucket string // set when the hold is a bucket's Retry-After or ban
	// Endpoint is set ("GET /api/v3/ticker/bookTicker") when the hold is one endpoint's, after
	// a run of malformed answers from it.
	Endpoint string
	Until    time.Time
	Reason   string
	// OrderLimit is set when the hold comes from an order-count limit (Outcome.OrderLimit):
	// it holds new orders only; cancels and reads pass it.
	OrderLimit bool
}

func (e *BreakerOpenError) Error() string {
	where := e.Class.String() + " breaker open"
	if e.Bucket != "" {
		where = "bucket " + e.Bucket + " held (" + e.Class.String() + ")"
	}
	if e.Endpoint != "" {
		where = "endpoint " + e.Endpoint + " held"
	}
	if e.OrderLimit {
		where += " for new orders (order-count limit)"
	}
	msg := "scheduler: " + where
	if !e.Until.IsZero() {
		msg += " until " + e.Until.UTC().Format(time.RFC3339Nano)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// GateClosedError is returned when the gate refused a write that is not a cancel (the kill
// switch is tripped). Nothing was sent by the attempt it refused.
type GateClosedError struct {
	Err error
}

func (e *GateClosedError) Error() string { return "scheduler: gate closed: " + e.Err.Error() }

func (e *GateClosedError) Unwrap() error { return e.Err }

// ClassOf returns the failure class of an error returned by Do: the class of an *Error, the
// class of an open breaker, ClassValidation for a closed gate or an invalid request (stop, do
// not retry), and ClassTransient for anything else.
func ClassOf(err error) Class {
	var e *Error
	var b *BreakerOpenError
	var g *GateClosedError
	switch {
	case err == nil:
		return ClassNone
	case errors.As(err, &e):
		return e.Class
	case errors.As(err, &b):
		return b.Class
	case errors.As(err, &g), errors.Is(err, ErrInvalidRequest):
		return ClassValidation
	}
	return ClassTransient
}
