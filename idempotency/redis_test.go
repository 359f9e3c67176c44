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
