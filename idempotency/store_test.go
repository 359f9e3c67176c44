package idempotency_test

import (
	"path/filepath"
	"testing"
	"time"

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

// TestStoreClock: stores stamp entries with the injected clock.
func TestStoreClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return at }
	fs, err := idempotency.OpenFile(filepath.Join(t.TempDir(), "j.db"), idempotency.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]idempotency.Store{"memory": idempotency.NewMemoryStore(idempotency.WithClock(now)), "file": fs} {
		t.Run(name, func(t *testing.T) {
			defer s.Close()
			if err := s.Reserve(ctx, idempotency.Entry{Key: "k"}); err != nil {
				t.Fatal(err)
			}
			at = at.Add(time.Minute)
			e, err := s.Update(ctx, "k", func(e *idempotency.Entry) error { e.State = idempotency.StateSent; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if !e.CreatedAt.Equal(at.Add(-time.Minute)) || !e.UpdatedAt.Equal(at) {
				t.Errorf("stamps = %v / %v, want the injected clock", e.CreatedAt, e.UpdatedAt)
			}
			_, err = s.Update(ctx, "k", func(e *idempotency.Entry) error { e.State = idempotency.StateReserved; return nil })
			if want := "idempotency: entry k cannot move from sent to reserved"; err == nil || err.Error() != want {
				t.Errorf("error = %v, want %q", err, want)
			}
		})
	}
}
