package scheduler

import (
	"context"
	"strconv"
	"time"
)

// Priority orders requests in the queue: strict between levels, FIFO within a level.
// Higher values go first.
type Priority int

const (
	// PriorityBackground is for exchange info, fees and other slow-moving reads.
	PriorityBackground Priority = iota
	// PriorityMarket is for market data reads (tickers, books, trades).
	PriorityMarket
	// PriorityAccount is for balances, positions and open-order reads.
	PriorityAccount
	// PriorityOrders is for new orders and amendments.
	PriorityOrders
	// PriorityCritical is for cancels and kill-switch flattening: first in the queue. It opens
	// no gate and no hold: what a request does decides those (Request.Write, Request.Cancel),
	// so a new order raised to critical is still refused by a closed gate.
	PriorityCritical
)

// NumPriorities is the number of priority levels.
const NumPriorities = int(PriorityCritical) + 1

var priorityNames = [...]string{"background", "market", "account", "orders", "critical"}

// String returns the lower-case name used in logs and configuration ("orders", ...).
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "priority(" + strconv.Itoa(int(p)) + ")"
	}
	return priorityNames[p]
}

// Class is the failure class of an attempt's outcome. It decides retries, backoff and which
// breaker counts the failure.
type Class int

const (
	// ClassNone means the attempt succeeded.
	ClassNone Class = iota
	// ClassAuth: 401/403, bad signature, timestamp outside the window, invalid or revoked key.
	// Never retried; opens the auth breaker at once.
	ClassAuth
	// ClassRateLimit: 429, 418, "too many requests" codes. Backpressure: wait for Retry-After
	// (else backoff with jitter), halve the bucket's concurrency, pause the bucket.
	ClassRateLimit
	// ClassTransient: timeouts, 5xx, connection resets on a read. Retried with backoff.
	ClassTransient
	// ClassValidation: other 4xx, filter failures, insufficient balance. Never retried.
	ClassValidation
	// ClassUnknown: a write whose effect is unknown (timeout, 5xx, "execution status unknown").
	// Never retried by the scheduler unless the request's RetrySafe proves the first try did not land.
	ClassUnknown
)

var classNames = [...]string{"ok", "auth", "rate_limit", "transient", "validation", "unknown"}

// String returns the snake_case name used in logs and metrics ("rate_limit", ...).
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "class(" + strconv.Itoa(int(c)) + ")"
	}
	return classNames[c]
}

// Cost is what one attempt consumes from a named limit window ("REQUEST_WEIGHT", "ORDERS").
type Cost struct {
	// Window names the window; it must be configured (or added with AddWindow).
	Window string
	// Amount is the cost, >= 0 and within the window's usable limit at the request's
	// priority. It is ignored when AmountAt is set.
	Amount int64
	// AmountAt, if set, returns the cost at now and overrides Amount: for a cost that depends
	// on when the exchange receives the call (Kraken charges a cancel by the order's age, +8
	// under 5s down to 0 after 300s, so a cancel that waits in the queue gets cheaper).
	//
	// The scheduler calls it when it considers an attempt for admission, with now on the
	// scheduler's clock (WithClock; not shifted by SetClockOffset), and charges what the call
	// that admits the attempt returned: the cost at admission, not at submission, and for
	// each attempt anew (a retry is charged at its own time). It may be called several times
	// per attempt (each time the scheduler looks at the queue while the attempt waits), with
	// the scheduler's lock held: it must be fast, must not block and must not call the
	// Scheduler, and is called from whatever goroutine looks. A value below 0 or above the
	// window's usable limit at the request's priority fails the request with
	// ErrInvalidRequest.
	//
	// The scheduler does not wake because a cost falls: a waiting attempt is looked at again
	// no later than when its cost at the last look would fit (or sooner, when a request comes
	// or goes), so a cost that falls meanwhile may go later than it could have.
	AmountAt func(now time.Time) int64
}

// amountAt returns the cost of c at now on the scheduler's clock.
func (c *Cost) amountAt(now time.Time) int64 {
	if c.AmountAt != nil {
		return c.AmountAt(now)
	}
	return c.Amount
}

// Usage is the exchange's own count for a window, as reported with an answer (for Binance the
// X-MBX-USED-WEIGHT-1M and X-MBX-ORDER-COUNT-* headers). The scheduler adopts it whenever it
// is higher than its own count.
type Usage struct {
	Window string
	Used   int64
}

// Outcome is what one attempt reports. The adapter fills it: it knows how to read the
// exchange's statuses and codes; the scheduler only knows the classes.
type Outcome struct {
	// Status is the HTTP status, 0 when no answer arrived.
	Status int
	// Class is the adapter's classification. When it is ClassNone the scheduler classifies
	// by HTTP status alone (Classify): only a 2xx without Err is a success; no status, a 1xx
	// or a 3xx is transient (for a write, an unknown outcome).
	Class Class
	// Code and Message are the exchange's error code and message, if any.
	Code    int
	Message string
	// RetryAfter is the exchange's Retry-After (0 if none). A retry is never sent earlier.
	RetryAfter time.Duration
	// Ban marks an IP ban (Binance 418; a 418 status counts as one): the bucket and the
	// rate_limit breaker are held for the whole RetryAfter, or, without one, for
	// BackoffConfig.BanPause, doubled on each repeated ban up to BanPauseCap.
	Ban bool
	// OrderLimit marks a rate-limit refusal by the exchange's order-count limit (Binance 429
	// -1015 "too many new orders", its ORDERS windows), as opposed to the IP-wide request
	// rate (429 -1003 on request weight) or a ban. The hold it starts stops only requests
	// that place orders (writes that are not Cancel): cancels and reads do not count against
	// an order-count limit, so they pass it. Without it a refusal holds everything of its
	// bucket, cancels included.
	OrderLimit bool
	// Usage carries the exchange's usage counters.
	Usage []Usage
	// RequestID is the exchange's or the transport's request id, for the log event.
	RequestID string
	// Err is the transport error, if any (timeout, connection reset, malformed answer).
	Err error
	// Malformed marks a 2xx whose body could not be read (bad JSON, missing fields, too
	// large): the exchange answered, so it is a fault of that endpoint, not an outage of the
	// platform. It is classified as transient (a write: unknown) and retried as such, but the
	// transient breaker, which holds every endpoint, does not count it; the endpoint's own
	// count does (Snapshot.Endpoints), holding that endpoint alone after a run of them.
	Malformed bool
}

// AttemptFunc performs one try of a request. attempt counts from 1. It must honour ctx, which
// ends at the request's time budget, with the caller's context, or when the attempt returns
// (it must not outlive the attempt).
type AttemptFunc func(ctx context.Context, attempt int) Outcome

// RetrySafeFunc is asked before a write whose outcome was unknown (or transient) is retried.
// It returns true only when it has proved that the previous try did not land (for orders: the
// exchange does not know the client order id). An error or false ends the request with the
// unknown outcome. It runs outside the scheduler's budget accounting; any calls it makes go
// through the scheduler as requests of their own.
type RetrySafeFunc func(ctx context.Context, last Outcome) (bool, error)

// Request describes one REST call to the scheduler. Adapters build them; the scheduler knows
// no exchange.
type Request struct {
	// Endpoint and Method name the call in logs and metrics ("/api/v3/order", "POST").
	Endpoint string
	Method   string
	// Bucket is the concurrency bucket ("orders", "account", "market"); it must be configured.
	Bucket string
	// Priority orders the request in the queue.
	Priority Priority
	// Costs are consumed from the named windows by every attempt; each window must be configured.
	Costs []Cost
	// Write marks a call that changes state at the exchange (orders, cancels). The gate is
	// asked before every attempt of a write that is not a Cancel, whatever its priority.
	Write bool
	// Cancel marks a call that reduces exposure: an order cancel, cancel-all. It must be a
	// Write. It passes a closed gate (a halted bot still cancels), the auth breaker while it
	// is open (one cancel in flight per bucket at a time, each failure still counted and
	// logged, so a revoked key is not hammered) and the holds of order-count limits
	// (Outcome.OrderLimit), which cancels do not count against. IP-wide holds (a 429 on
	// request weight, a 418 ban) still hold it, and it still pays its Costs.
	Cancel bool
	// IdempotencyKey is the client order id, logged with every attempt.
	IdempotencyKey string
	// Budget bounds the whole request, queueing and retries included. 0 means the configured default.
	Budget time.Duration
	// MaxWait bounds queueing for priorities below orders; past it the request is shed with
	// ErrShed. 0 means the configured default.
	MaxWait time.Duration
	// RetrySafe, if set, lets the scheduler retry a write after an unknown or transient outcome.
	RetrySafe RetrySafeFunc
	// Attempt performs one try.
	Attempt AttemptFunc
}

// Gate is asked before every attempt of every write that is not a cancel (Request.Write set,
// Request.Cancel not), whatever its priority; p is the request's priority, for the gate's
// information. The kill switch implements it. A non-nil error stops the request. Cancels and
// reads are never gated: a halted bot still cancels and still queries its orders.
type Gate interface {
	Allow(ctx context.Context, p Priority) error
}
