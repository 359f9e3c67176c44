package orders

import (
	"context"
	"errors"
	"fmt"

	"github.com/keelbot/keel/idempotency"
)

// A fleet's instances share one journal (an idempotency.Shared store) and one account, so each
// sees the others' entries in the journal and their orders on the exchange and in the user-data
// stream. Each instance settles and follows only its own: the entries it owns
// (idempotency.Entry.OwnerInstance) and the orders whose keys carry its instance tag. An
// instance that is gone (not alive, and none of its unsettled entries touched for
// Config.TakeoverAfter) is taken over by the next Reconcile of another one, entry by entry
// with idempotency.Claim, which is atomic: two instances never settle one entry.

// adoptableLocked reports whether an order of this bot that the manager does not track is
// this instance's to take on: with a journal of one's own, every key with the bot's prefix;
// in a fleet, keys with this instance's tag (unless another instance took them over) and keys
// of instances this one took over.
// requires that m.mu is held.
func (m *Manager) adoptableLocked(key string) bool {
	if !m.keys.Owns(key) {
		return false
	}
	if m.shared == nil {
		return true
	}
	p, ok := idempotency.ParseKey(key)
	if !ok {
		return false
	}
	return p.Instance == m.instance && !m.foreign[key] || m.takenOver[p.Instance]
}

// adoptable is adoptableLocked for callers that do not hold m.mu.
func (m *Manager) adoptable(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.adoptableLocked(key)
}

// split is what claimEntries decided about the journal's unsettled entries.
type split struct {
	// mine are the entries this instance settles, as they were before it claimed them (so a
	// claim's stamp does not make an old entry look recent).
	mine []idempotency.Entry
	// others counts the entries left to other instances that are alive or were active lately.
	others int
	// takenOver counts the entries taken over from instances that are gone.
	takenOver int
}

// claimEntries picks, from a shared journal's live entries, those this instance settles, and
// claims each one (see idempotency.Claim): its own, and those of instances that are gone. An
// instance is gone when it is not alive and none of its entries was touched for
// Config.TakeoverAfter; its entries are claimed in the journal's order, and an instance that
// loses the race for one of them leaves the rest to the winner, so one instance takes over
// all of a gone one's entries. Entries with no instance in their key are this instance's. It
// returns the errors that leave one of its own entries undecided.
func (m *Manager) claimEntries(ctx context.Context, entries []idempotency.Entry) (split, error) {
	if m.shared == nil {
		return split{mine: entries}, nil
	}
	staleFrom := m.clock.Now().Add(-m.cfg.TakeoverAfter)
	gone := map[string]bool{}
	lost := map[string]bool{} // gone instances another instance is taking over
	for _, e := range entries {
		owner := e.OwnerInstance()
		if k, ok := idempotency.ParseKey(e.Key); ok && owner != k.Instance && owner != m.instance {
			// Another instance already claimed one of k.Instance's entries (perhaps just
			// before this list was read): it is taking that instance over, all of it.
			lost[k.Instance] = true
		}
		if owner == "" || owner == m.instance {
			continue
		}
		if g, seen := gone[owner]; seen {
			gone[owner] = g && e.UpdatedAt.Before(staleFrom)
			continue
		}
		alive, err := m.shared.Alive(ctx, owner)
		if err != nil {
			// Not knowing is not "gone": leave its entries alone this time.
			m.log.Warn().Err(err).Str("instance", owner).Msg("orders: reconcile: cannot tell whether an instance is alive; leaving its entries to it")
			alive = true
		}
		gone[owner] = !alive && e.UpdatedAt.Before(staleFrom)
	}

	var (
		sp   split
		errs []error
	)
	for _, e := range entries {
		owner := e.OwnerInstance()
		if owner == "" || owner == m.instance {
			before, err := idempotency.Claim(ctx, m.shared, e.Key, m.instance, m.instance, staleFrom)
			switch {
			case err == nil:
				sp.mine = append(sp.mine, before)
			case errors.Is(err, idempotency.ErrClaimed), errors.Is(err, idempotency.ErrNotFound):
				// Taken over meanwhile by an instance that thought this one gone, or compacted.
				m.markForeign(e.Key)
				sp.others++
			default:
				errs = append(errs, fmt.Errorf("orders: reconcile %s: claim: %w", e.Key, err))
			}
			continue
		}
		if !gone[owner] || lost[owner] {
			sp.others++
			continue
		}
		before, err := idempotency.Claim(ctx, m.shared, e.Key, owner, m.instance, staleFrom)
		if err != nil {
			// Another instance got there first (or the journal failed us): it is taking over.
			if !errors.Is(err, idempotency.ErrClaimed) {
				m.log.Warn().Err(err).Str("idempotency_key", e.Key).Str("from_instance", owner).
					Msg("orders: reconcile: could not take over an entry; leaving the instance's entries")
			}
			lost[owner] = true
			sp.others++
			continue
		}
		sp.mine = append(sp.mine, before)
		sp.takenOver++
		m.log.Warn().Str("idempotency_key", e.Key).Str("from_instance", owner).Time("untouched_since", e.UpdatedAt).
			Msg("orders: reconcile: taking over an entry of an instance that is gone")
	}
	m.mu.Lock()
	for owner, g := range gone {
		if g && !lost[owner] {
			m.takenOver[owner] = true
		}
	}
	m.mu.Unlock()
	return sp, errors.Join(errs...)
}

// markForeign records that another instance took over an entry with this instance's tag.
func (m *Manager) markForeign(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.foreign[key] = true
}

// owns reports whether a journal entry is this instance's to settle without a claim: every
// entry with a journal of one's own; in a fleet, its own and those of instances taken over.
func (m *Manager) owns(e idempotency.Entry) bool {
	if m.shared == nil {
		return true
	}
	owner := e.OwnerInstance()
	m.mu.Lock()
	defer m.mu.Unlock()
	return owner == "" || owner == m.instance && !m.foreign[e.Key] || m.takenOver[owner]
}
