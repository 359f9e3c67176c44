package orders

import (
	"errors"
	"fmt"

	"github.com/keelbot/keel/scheduler"
)

var (
	// ErrInvalidIntent is matched (errors.Is) by every *ValidationError: the intent was refused
	// before anything was sent.
	ErrInvalidIntent = errors.New("orders: invalid intent")
	// ErrNotPlaced is carried by the event of an order that provably never reached the
	// exchange (reconciliation found its key absent): nothing is live for that intent.
	ErrNotPlaced = errors.New("orders: order was never placed")
	// ErrNotOpen is returned by Cancel for an order that had already filled.
	ErrNotOpen = errors.New("orders: order is not open")
)

// ValidationError says why an intent was refused before anything was sent: which field, which
// exchange filter (PRICE_FILTER, LOT_SIZE, NOTIONAL, or "" for a malformed intent) and why.
// It matches ErrInvalidIntent, and scheduler.ClassOf reads it as scheduler.ClassValidation.
type ValidationError struct {
	Symbol string
	Field  string // "symbol", "side", "type", "time_in_force", "quantity", "price", "notional"
	Filter string // the exchange filter that refused it, "" if none applies
	Reason string
}

func (e *ValidationError) Error() string {
	msg := "orders: invalid intent"
	if e.Symbol != "" {
		msg += " for " + e.Symbol
	}
	msg += ": " + e.Field
	if e.Filter != "" {
		msg += " (" + e.Filter + ")"
	}
	return msg + ": " + e.Reason
}

// Unwrap makes the error match ErrInvalidIntent and carry the validation class for
// scheduler.ClassOf, the way adapters report failures found before sending.
func (e *ValidationError) Unwrap() []error {
	return []error{ErrInvalidIntent, &scheduler.Error{Class: scheduler.ClassValidation}}
}

func invalid(symbol, field, filter, format string, args ...any) *ValidationError {
	return &ValidationError{Symbol: symbol, Field: field, Filter: filter, Reason: fmt.Sprintf(format, args...)}
}

// UnknownOutcomeError is returned by Place when the exchange may or may not hold the order and
// querying it by its client order id could not tell. The intent keeps its key and stays
// "unknown" in the journal; Refresh and Reconcile settle it, and an Event reports the result.
// Never place the intent again yourself. It matches scheduler.ErrUnknownOutcome.
type UnknownOutcomeError struct {
	ClientOrderID string
	Symbol        string
	// Err is the placement's failure; Query the last failure of the queries that followed.
	Err, Query error
}

func (e *UnknownOutcomeError) Error() string {
	msg := fmt.Sprintf("orders: outcome of %s on %s unknown: %v", e.ClientOrderID, e.Symbol, e.Err)
	if e.Query != nil {
		msg += fmt.Sprintf("; query: %v", e.Query)
	}
	return msg
}

// Is matches scheduler.ErrUnknownOutcome.
func (e *UnknownOutcomeError) Is(target error) bool { return target == scheduler.ErrUnknownOutcome }

// Unwrap exposes the placement's and the query's failures, behind the unknown class so that
// scheduler.ClassOf reads scheduler.ClassUnknown.
func (e *UnknownOutcomeError) Unwrap() []error {
	errs := []error{&scheduler.Error{Class: scheduler.ClassUnknown}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Query != nil {
		errs = append(errs, e.Query)
	}
	return errs
}
