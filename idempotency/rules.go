package idempotency

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The rules every Store enforces, in one place so each implementation applies them the same way.

var (
	// ErrClosed is returned by a store's methods after Close.
	ErrClosed = errors.New("idempotency: store closed")
	// ErrInvalidEntry is returned for an entry a store refuses to write (no key, unknown state,
	// a changed key).
	ErrInvalidEntry = errors.New("idempotency: invalid entry")
)

// prepareReserve checks an entry given to Reserve and fills its defaults: state reserved,
// CreatedAt and UpdatedAt now when zero.
func prepareReserve(e Entry, now time.Time) (Entry, error) {
	if e.Key == "" {
		return Entry{}, fmt.Errorf("%w: empty key", ErrInvalidEntry)
	}
	if e.State == "" {
		e.State = StateReserved
	}
	if e.State != StateReserved {
		return Entry{}, fmt.Errorf("%w: entry %s: Reserve needs state %s, got %q", ErrInvalidEntry, e.Key, StateReserved, e.State)
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	if e.UpdatedAt.IsZero() {
		e.UpdatedAt = e.CreatedAt
	}
	return e, nil
}

// applyUpdate runs fn on a copy of cur and checks the result: same key, a known state, a move
// CanMove allows. UpdatedAt is stamped with now unless fn set it itself.
func applyUpdate(cur Entry, now time.Time, fn func(*Entry) error) (Entry, error) {
	next := cur // Entry holds only values, so this is a deep copy
	if err := fn(&next); err != nil {
		return Entry{}, err
	}
	if next.Key != cur.Key {
		return Entry{}, fmt.Errorf("%w: entry %s: update changed the key to %q", ErrInvalidEntry, cur.Key, next.Key)
	}
	if !next.State.Valid() {
		return Entry{}, fmt.Errorf("%w: entry %s: unknown state %q", ErrInvalidEntry, cur.Key, next.State)
	}
	if !CanMove(cur.State, next.State) {
		return Entry{}, &TransitionError{Key: cur.Key, From: cur.State, To: next.State}
	}
	if next.UpdatedAt.Equal(cur.UpdatedAt) {
		next.UpdatedAt = now
	}
	return next, nil
}

// wantState reports whether s passes a List filter (an empty filter passes everything).
func wantState(s State, filter []State) bool {
	return len(filter) == 0 || slices.Contains(filter, s)
}

// compactable reports whether Compact(cutoff) deletes e.
func compactable(e Entry, cutoff time.Time) bool {
	return e.State == StateResolved && e.UpdatedAt.Before(cutoff)
}

// sortEntries puts entries in List's order: oldest CreatedAt first, ties by key.
func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
}

var errEmptyCursorName = fmt.Errorf("%w: empty cursor name", ErrInvalidEntry)
