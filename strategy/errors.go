package strategy

import (
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

// The errors a strategy meets from Orders and Market, so that a strategy imports only this
// package and adapters. Each is the very value the runtime's packages return (not a copy), so
// errors.Is matches whichever name you use. Any Place error other than ErrUnknownOutcome means
// no order is live for that intent: nothing was sent, or the exchange refused it (an
// insufficient balance, a rate-limit hold; the refused order comes back REJECTED and as an
// OrderUpdate). It is safe to place again on a later event.
var (
	// ErrHalted: the kill switch is tripped (an operator's `keel halt` or kill-switch file, a
	// fleet peer, or the runtime itself on an auth failure), and Place refused without sending
	// or journalling anything. It is not your strategy's fault: stop placing, or keep trying
	// on later events (a refusal costs nothing) so that quoting resumes with `keel resume`.
	// Cancel is never refused by the kill switch.
	ErrHalted = killswitch.ErrHalted

	// ErrUnknownOutcome: the exchange may or may not hold the order (a timeout or a 5xx, and
	// the queries by its client order id that followed could not tell). The order returned
	// with the error has its ClientOrderID, and its status as last known (UNKNOWN, unless an
	// update already told); the runtime settles it and an OrderUpdate reports the outcome
	// (acknowledged and live, filled, or REJECTED with an Err matching ErrNotPlaced). Until then count it as possibly live, and never place it again yourself:
	// that is how an order gets placed twice. Cancel by its ClientOrderID is allowed.
	ErrUnknownOutcome = scheduler.ErrUnknownOutcome

	// ErrShed: a low-priority request waited in the scheduler's queue longer than its max
	// wait (scheduler.default_max_wait) while higher-priority work held the request budget,
	// and was dropped without being sent: Market.Symbol and Market.Fees, and Place when the
	// symbol's rules are not cached yet. Skip it and try on a later event; placements and
	// cancels themselves are never shed.
	ErrShed = scheduler.ErrShed

	// ErrInvalidIntent is matched by every *ValidationError: Place refused the intent before
	// anything was sent or journalled.
	ErrInvalidIntent = orders.ErrInvalidIntent

	// ErrNotOpen: Cancel found the order already filled. Its fill reaches you (or already
	// did) as an OrderUpdate. An order the exchange does not know at all is
	// adapters.ErrOrderNotFound instead; one already cancelled or expired is success.
	ErrNotOpen = orders.ErrNotOpen

	// ErrNotPlaced is carried by OrderUpdate.Err when an order whose outcome was unknown (a
	// Place that returned ErrUnknownOutcome, or one in flight at a crash) proved never to
	// have reached the exchange: nothing is live for it, and you may place again.
	ErrNotPlaced = orders.ErrNotPlaced

	// ErrRepeatedRejection is matched by every *GuardError: the exchange refused the same
	// order of this strategy and symbol (same error code) more often than
	// orders.validation_guard.budget allows within its window, so Place refused without
	// sending. Repeated invalid requests get accounts banned: change the order (its size, its
	// price) or wait until GuardError.Until; the refusal doubles while the rejections go on.
	ErrRepeatedRejection = orders.ErrGuarded
)

// GuardError is Place's local refusal by the validation guard (see ErrRepeatedRejection):
// Code is the exchange's error code of the refusals, Until when an order of that kind may go
// again. Read it with errors.As.
type GuardError = orders.GuardError

// ValidationError is Place's refusal of an intent the exchange would refuse, before anything
// was sent: Field names what was wrong ("quantity", "price", "notional", ...), Filter the
// exchange filter that refused it (LOT_SIZE, PRICE_FILTER, NOTIONAL, or "" for a malformed
// intent) and Reason why. Amounts are rounded for you (price to the tick, quantity down to
// the step), so this means the intent itself is wrong for the symbol, typically a quantity
// or notional below the minimum: fix the strategy or its config rather than retry it as it is.
// Read it with errors.As; it matches ErrInvalidIntent.
type ValidationError = orders.ValidationError
