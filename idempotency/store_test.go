package idempotency_test

import (
	"path/filepath"
	"testing"

	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/idempotency/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) idempotency.Store { return idempotency.NewMemoryStore() })
}

func TestFileStore(t *testing.T) {
	storetest.RunPersistent(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "journal.db")
		return func() (idempotency.Store, error) { return idempotency.OpenFile(path) }
	})
}
