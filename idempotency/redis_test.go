package idempotency_test

import (
	"strconv"
	"testing"

	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/idempotency/storetest"
	"github.com/keelbot/keel/internal/fleet/fleettest"
)

// TestFleetRedisStore runs the conformance suite, durability included (a store reopened on the
// same prefix sees the journal), against a real Redis.
func TestFleetRedisStore(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	n := 0
	storetest.RunPersistent(t, func(t *testing.T) storetest.Opener {
		n++
		p := prefix + strconv.Itoa(n) + ":"
		return func() (idempotency.Store, error) { return idempotency.NewRedisStore(rdb, p), nil }
	})
}

// TestFleetRedisStoreReadsEntriesWithoutSendBy: entries a fleet journalled before Entry.SendBy
// existed read with a zero SendBy, which the order path treats as "deadline unknown".
func TestFleetRedisStoreReadsEntriesWithoutSendBy(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	old := `{"key":"kl-a-0000","intent":{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"1","price":"60000"},` +
		`"state":"unknown","attempts":1,"created_at":"2025-06-01T10:00:00Z","updated_at":"2025-06-01T10:00:01Z"}`
	if err := rdb.Set(t.Context(), prefix+"j:e:kl-a-0000", old, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.SAdd(t.Context(), prefix+"j:keys", "kl-a-0000").Err(); err != nil {
		t.Fatal(err)
	}
	s := idempotency.NewRedisStore(rdb, prefix)
	all, err := s.List(t.Context(), idempotency.StateUnknown)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || !all[0].SendBy.IsZero() || all[0].UpdatedAt.IsZero() {
		t.Fatalf("old entries read as %+v, want one unknown entry with a zero SendBy", all)
	}
}
