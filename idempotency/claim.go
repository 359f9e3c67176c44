package idempotency

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Ownership of journal entries in a fleet.
//
// Every instance of a fleet writes to one shared journal (RedisStore), and every key names the
// instance that made it. An entry belongs to that instance unless Entry.Owner names another:
// the instance that took it over when its maker was gone. Reconciliation settles only the
// entries an instance owns, so N instances starting together do not race on the same unknown
// outcomes; and it claims each one first (Claim), so two instances can never settle one
// entry, whatever they believe about each other.

// ErrClaimed is returned by Claim when the entry belongs to another instance than expected, or
// was touched too recently to be taken over.
var ErrClaimed = errors.New("idempotency: entry claimed by another instance")

// Shared is implemented by a Store that several instances use at once (RedisStore). Each
// instance marks itself alive while it runs; another instance takes over its entries only when
// it is not alive and its entries have not been touched for a while.
type Shared interface {
	Store
	// MarkAlive records that instance runs, for ttl.
	MarkAlive(ctx context.Context, instance string, ttl time.Duration) error
	// Alive reports whether instance marked itself alive within its last ttl.
	Alive(ctx context.Context, instance string) (bool, error)
}

// OwnerInstance returns the instance that owns the entry: Owner when set, else the instance
// its key names ("" for a key not in KeyGenerator's layout).
func (e Entry) OwnerInstance() string {
	if e.Owner != "" {
		return e.Owner
	}
	if p, ok := ParseKey(e.Key); ok {
		return p.Instance
	}
	return ""
}

// Claim makes instance to the owner of key's entry, atomically, if its owner is still from
// (OwnerInstance), and returns the entry as it was before the claim. A claim of one's own
// entry (from == to) always succeeds while nobody else took it; it stamps UpdatedAt, which
// keeps the entry from looking abandoned while it is being settled. Taking over another
// instance's entry (from != to) also needs the entry untouched since staleBefore: an owner
// that wrote it since is not gone. Otherwise Claim fails with ErrClaimed and changes nothing.
//
// Claim works on any Store (it is one Update); only a Shared store needs it.
func Claim(ctx context.Context, s Store, key, from, to string, staleBefore time.Time) (Entry, error) {
	var before Entry
	_, err := s.Update(ctx, key, func(e *Entry) error {
		before = *e
		switch owner := e.OwnerInstance(); {
		case owner != from:
			return fmt.Errorf("%w: %s is %s's, not %s's", ErrClaimed, key, owner, from)
		case from != to && !e.UpdatedAt.Before(staleBefore):
			return fmt.Errorf("%w: %s was touched at %s, after %s", ErrClaimed, key, e.UpdatedAt.Format(time.RFC3339Nano), staleBefore.Format(time.RFC3339Nano))
		}
		e.Owner = to
		return nil
	})
	if err != nil {
		return Entry{}, err
	}
	return before, nil
}
