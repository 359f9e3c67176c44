package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// State is where a journal entry is in its lifecycle:
//
//	reserved → sent → acked | rejected | unknown → resolved
//
// reserved: a key is assigned to an intent; nothing has been sent. sent: the request is about
// to leave (durably recorded before it does). acked: the exchange holds the order. rejected: the
// exchange refused it, or it provably never arrived. unknown: it may or may not have landed.
// resolved: nothing more will happen to it (final exchange state reached, or abandoned).
type State string

const (
	StateReserved State = "reserved"
	StateSent     State = "sent"
	StateAcked    State = "acked"
	StateRejected State = "rejected"
	StateUnknown  State = "unknown"
	StateResolved State = "resolved"
)

// transitions lists, for each state, the states an entry may move to.
var transitions = map[State][]State{
	StateReserved: {StateSent, StateRejected, StateResolved},
	StateSent:     {StateAcked, StateRejected, StateUnknown, StateResolved},
	// unknown → sent: reconciliation proved the first try absent and resends with the same key.
	StateUnknown:  {StateAcked, StateRejected, StateSent, StateResolved},
	StateAcked:    {StateResolved},
	StateRejected: {StateResolved},
	StateResolved: {},
}

// CanMove reports whether an entry may go from one state to another. Staying in the same state
// is always allowed (an update of other fields).
func CanMove(from, to State) bool {
	if from == to {
		return true
	}
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Unresolved reports whether reconciliation must look at an entry in this state on start-up:
// reserved, sent and unknown entries have no proven outcome yet.
func (s State) Unresolved() bool {
	return s == StateReserved || s == StateSent || s == StateUnknown
}

// IntentRecord is the journal's serialized form of an orders.Intent (strategy.Intent is the
// same type): the order as validated and rounded by the orders manager, amounts as decimal
// strings (this package does no arithmetic on them), and the strategy that owns it. The
// orders package converts in both directions, in one place. The JSON names are the journal's
// on-disk format: renaming one makes existing journals unreadable.
type IntentRecord struct {
	Symbol      string `json:"symbol"`
	Side        string `json:"side"`
	Type        string `json:"type"`
	TimeInForce string `json:"time_in_force,omitempty"`
	Quantity    string `json:"quantity"`
	Price       string `json:"price,omitempty"`
	Strategy    string `json:"strategy,omitempty"`
}

// Entry is one intent's journal record.
type Entry struct {
	Key             string       `json:"key"`
	Intent          IntentRecord `json:"intent"`
	State           State        `json:"state"`
	ExchangeOrderID string       `json:"exchange_order_id,omitempty"`
	// OrderStatus is the last exchange order status seen ("NEW", "FILLED", ...).
	OrderStatus string `json:"order_status,omitempty"`
	// Note says why the entry is in its state ("rejected: -1013 Filter failure: LOT_SIZE").
	Note     string `json:"note,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// Owner is the instance that settles the entry when it is not the one its key names: set
	// by Claim when an instance takes over the entries of one that is gone. See OwnerInstance.
	Owner string `json:"owner,omitempty"`
	// SendBy is, once the entry was sent, the latest instant at which a try of its request
	// could still be signed: the placement's deadline, journalled with the move to sent (each
	// resend journals its own). The exchange accepts a signed request until its timestamp
	// plus its recvWindow, so "not found" proves the order absent only after SendBy plus
	// recvWindow plus clock skew. UpdatedAt cannot serve: a request waits in the scheduler's
	// queue (behind the order window, a 429 pause) for up to its budget after the entry is
	// marked sent. Zero on entries never sent and on entries journalled before the field
	// existed; a reader must then assume the longest budget a placement could have had.
	SendBy    time.Time `json:"send_by,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

var (
	// ErrNotFound is returned for a key the journal does not hold.
	ErrNotFound = errors.New("idempotency: entry not found")
	// ErrKeyExists is returned by Reserve for a key that is already journalled.
	ErrKeyExists = errors.New("idempotency: key already reserved")
	// ErrCorrupt is wrapped by errors about a journal that cannot be read; start-up must stop.
	ErrCorrupt = errors.New("idempotency: journal corrupt")
)

// TransitionError is returned by Update for a move the lifecycle does not allow.
type TransitionError struct {
	Key      string
	From, To State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("idempotency: entry %s cannot move from %s to %s", e.Key, e.From, e.To)
}

// Store is the order journal. Every write is durable when the method returns (for the file
// store: fsynced), so an entry marked sent before a request leaves survives a crash at any
// instant. Implementations are safe for concurrent use by one process; the Redis store also
// across processes.
type Store interface {
	// Reserve records a new entry in StateReserved. ErrKeyExists if the key is journalled.
	// e.State must be empty or StateReserved and e.Key non-empty (else ErrInvalidEntry); a zero
	// CreatedAt is stamped with the store's clock, a zero UpdatedAt with CreatedAt.
	Reserve(ctx context.Context, e Entry) error
	// Update applies fn to the entry atomically and stores the result. A state change must be
	// allowed by CanMove, else a *TransitionError and nothing is written. ErrNotFound for an
	// unknown key. An error from fn aborts the update and is returned. fn gets a copy and may
	// run while the store holds a lock, so it must be quick and must not call the store.
	// UpdatedAt is stamped with the store's clock unless fn sets it; changing Key or setting an
	// unknown state fails with ErrInvalidEntry.
	Update(ctx context.Context, key string, fn func(*Entry) error) (Entry, error)
	// Get returns one entry, or ErrNotFound.
	Get(ctx context.Context, key string) (Entry, error)
	// List returns every entry whose state is one of states (all entries when none is given),
	// oldest first.
	List(ctx context.Context, states ...State) ([]Entry, error)
	// Cursor and SetCursor keep small named positions (e.g. the last trade id applied per
	// symbol), so reconciliation knows what happened while the process was down. An unset
	// cursor reads as "" (no error); SetCursor needs a non-empty name.
	Cursor(ctx context.Context, name string) (string, error)
	SetCursor(ctx context.Context, name, value string) error
	// Compact deletes resolved entries last updated before cutoff and returns how many.
	Compact(ctx context.Context, cutoff time.Time) (int, error)
	// Close flushes and releases the store. Later calls return ErrClosed; a second Close is a
	// no-op.
	Close() error
}
