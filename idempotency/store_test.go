package idempotency_test

import (
	"encoding/json"
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

// oldEntry is an entry as journals on disk hold it, written before the journal's intent type
// was renamed IntentRecord: every intent field set, under the JSON names of the format.
const oldEntry = `{"key":"kl-a-0000","intent":{"symbol":"BTCUSDT","side":"SELL","type":"LIMIT","time_in_force":"IOC",` +
	`"quantity":"0.00100000","price":"60000.01","strategy":"mm"},"state":"acked","exchange_order_id":"42",` +
	`"order_status":"NEW","attempts":1,"created_at":"2025-06-01T10:00:00Z","updated_at":"2025-06-01T10:00:01Z"}`

var oldIntent = idempotency.IntentRecord{Symbol: "BTCUSDT", Side: "SELL", Type: "LIMIT", TimeInForce: "IOC",
	Quantity: "0.00100000", Price: "60000.01", Strategy: "mm"}

// TestJournalledIntentsStillOpen: a journal written before the rename opens, and its entry
// reads back with every intent field, so a bot upgraded over a live journal still knows what
// it has in flight.
func TestJournalledIntentsStillOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	writeJournal(t, path, 1)
	editBolt(t, path, putEntry("kl-a-0000", oldEntry))
	s, err := idempotency.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Get(ctx, "kl-a-0000")
	if err != nil {
		t.Fatal(err)
	}
	if e.Intent != oldIntent || e.State != idempotency.StateAcked || e.ExchangeOrderID != "42" {
		t.Fatalf("old entry read as %+v, want intent %+v", e, oldIntent)
	}
}

// TestIntentRecordKeepsItsJSONNames: what is journalled now uses the format's names, so a
// journal can also go back to a bot built before the rename.
func TestIntentRecordKeepsItsJSONNames(t *testing.T) {
	got, err := json.Marshal(oldIntent)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"symbol":"BTCUSDT","side":"SELL","type":"LIMIT","time_in_force":"IOC","quantity":"0.00100000","price":"60000.01","strategy":"mm"}`
	if string(got) != want {
		t.Fatalf("IntentRecord encodes as\n%s\nwant\n%s", got, want)
	}
}
