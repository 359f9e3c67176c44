package orders

import (
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// The order state machine. An order's status only moves forward:
//
//	(none) → UNKNOWN → NEW → PARTIALLY_FILLED → FILLED
//	                    │          │
//	                    └──────────┴──────────→ CANCELED | EXPIRED
//	(none) | UNKNOWN → REJECTED
//
// with every forward jump allowed (a report can skip states: NEW → FILLED, UNKNOWN → CANCELED)
// and PARTIALLY_FILLED → PARTIALLY_FILLED when more is filled. The executed quantity never
// decreases. Reports arrive from three sources (Place's answer, Refresh's polling and the
// feed given to Apply) in any order, so a report that would move an order backwards is stale
// and dropped, not an error. Every accepted move produces one Event.

// rank orders statuses along the machine; finals share the top rank.
func rank(s adapters.OrderStatus) int {
	switch s {
	case "":
		return 0
	case adapters.StatusUnknown:
		return 1
	case adapters.StatusNew:
		return 2
	case adapters.StatusPartiallyFilled:
		return 3
	case adapters.StatusFilled, adapters.StatusCanceled, adapters.StatusExpired, adapters.StatusRejected:
		return 4
	}
	return -1
}

// CanTransition reports whether the state machine lets an order move from one status to
// another ("" is an order not seen yet). Staying put is allowed only for PARTIALLY_FILLED
// (more fills) and for UNKNOWN.
func CanTransition(from, to adapters.OrderStatus) bool {
	rf, rt := rank(from), rank(to)
	switch {
	case rf < 0 || rt <= 0:
		return false
	case from == to:
		return from == adapters.StatusPartiallyFilled || from == adapters.StatusUnknown
	case to == adapters.StatusRejected:
		// The exchange rejects an order when it arrives, never after it rested.
		return from == "" || from == adapters.StatusUnknown
	case to == adapters.StatusUnknown:
		return from == ""
	}
	return rt > rf
}

// Source says where the report behind an Event came from.
type Source string

const (
	SourcePlace     Source = "place"     // Place's own answer or resolution
	SourceCancel    Source = "cancel"    // Cancel's or CancelAll's answer
	SourceRefresh   Source = "refresh"   // Refresh's polling
	SourceFeed      Source = "feed"      // an update given to Apply (the user-data stream)
	SourceReconcile Source = "reconcile" // start-up reconciliation
)

// Event is one accepted move of an order's state: what the runtime fans out to the owning
// strategy. Events of one order are delivered in the order the moves were accepted.
type Event struct {
	// Strategy owns the order ("" for an order adopted from the exchange without a journal
	// entry naming its strategy).
	Strategy string
	// Order is the order after the move.
	Order adapters.Order
	// Previous is the status before the move ("" when the manager had not seen the order).
	Previous adapters.OrderStatus
	// Filled and FilledQuote are the base and quote quantities executed by this move alone.
	Filled, FilledQuote decimal.Decimal
	// Fills are the account's trades behind this move, when the manager fetched them
	// (reconciliation and Refresh do; Place and Apply report quantities only).
	Fills []adapters.Fill
	// Err says why for REJECTED (the exchange's refusal, or ErrNotPlaced) and UNKNOWN
	// (an *UnknownOutcomeError).
	Err error
	// Source is where the report came from.
	Source Source
}

// advance applies a fresh report next to the known order prev and returns the order to keep
// and whether it moved. A stale or illegal report leaves prev as it is (moved false); a
// report that changes nothing but fills in fields (an exchange order id) is merged quietly.
func advance(prev, next adapters.Order) (adapters.Order, Event, bool) {
	if !CanTransition(prev.Status, next.Status) {
		return merge(prev, next), Event{}, false
	}
	if prev.Status != "" && next.ExecutedQty.Cmp(prev.ExecutedQty) < 0 {
		return merge(prev, next), Event{}, false // stale: fills never go back
	}
	if prev.Status == next.Status && next.ExecutedQty.Cmp(prev.ExecutedQty) == 0 {
		return merge(prev, next), Event{}, false
	}
	cur := merge(prev, next)
	cur.Status = next.Status
	if next.Status != adapters.StatusUnknown {
		cur.ExecutedQty, cur.CumulativeQuote = next.ExecutedQty, next.CumulativeQuote
	}
	ev := Event{
		Order: cur, Previous: prev.Status,
		Filled:      cur.ExecutedQty.Sub(prev.ExecutedQty),
		FilledQuote: cur.CumulativeQuote.Sub(prev.CumulativeQuote),
	}
	return cur, ev, true
}

// merge keeps prev's identity and fills in what next knows that prev did not.
func merge(prev, next adapters.Order) adapters.Order {
	if prev.Status == "" {
		return next
	}
	cur := prev
	if cur.ExchangeOrderID == "" {
		cur.ExchangeOrderID = next.ExchangeOrderID
	}
	if cur.CreatedAt.IsZero() {
		cur.CreatedAt = next.CreatedAt
	}
	if next.UpdatedAt.After(cur.UpdatedAt) {
		cur.UpdatedAt = next.UpdatedAt
	}
	return cur
}
