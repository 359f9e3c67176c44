package idempotency_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keelbot/keel/idempotency"
)

// rawEntry reads an entry's stored bytes behind the store's back.
func rawEntry(t *testing.T, path, key string) []byte {
	t.Helper()
	var out []byte
	editBolt(t, path, func(tx *bbolt.Tx) error {
		out = bytes.Clone(tx.Bucket([]byte("entries")).Get([]byte(key)))
		return nil
	})
	return out
}

// TestDamagedEntryIsRefusedByName: damage inside one record that leaves its JSON valid (a
// flipped digit of a price, a state rewritten) passes bbolt's checks and would be traded on;
// the entry's checksum refuses it, naming the entry, and the file is left as it was.
func TestDamagedEntryIsRefusedByName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(v []byte) []byte
		problem string
	}{
		{"a digit flipped", func(v []byte) []byte {
			return bytes.Replace(v, []byte(`"quantity":"1"`), []byte(`"quantity":"7"`), 1)
		}, `entry "kl-a-0001": checksum mismatch`},
		{"the state rewritten", func(v []byte) []byte {
			return bytes.Replace(v, []byte(`"state":"reserved"`), []byte(`"state":"resolved"`), 1)
		}, `entry "kl-a-0001": checksum mismatch`},
		{"the checksum damaged", func(v []byte) []byte {
			v = bytes.Clone(v)
			v[8] = 'z'
			return v
		}, `entry "kl-a-0001": damaged checksum header`},
		{"the header damaged", func(v []byte) []byte {
			v = bytes.Clone(v)
			v[0] = 'C'
			return v
		}, `entry "kl-a-0001": neither a checksummed record nor JSON`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.db")
			writeJournal(t, path, 3)
			v := rawEntry(t, path, "kl-a-0001")
			if !bytes.HasPrefix(v, []byte("crc32c:")) {
				t.Fatalf("a new entry is stored without a checksum: %q", v)
			}
			damaged := tc.damage(v)
			if bytes.Equal(damaged, v) {
				t.Fatal("the damage changed nothing")
			}
			editBolt(t, path, putEntry("kl-a-0001", string(damaged)))
			before := snapshot(t, path)
			s, err := idempotency.OpenFile(path, idempotency.WithLockTimeout(100*time.Millisecond))
			if err == nil {
				_ = s.Close()
				t.Fatal("OpenFile accepted a damaged entry")
			}
			checkOpenError(t, err, path, idempotency.ErrCorrupt, tc.problem)
			if !bytes.Equal(before, snapshot(t, path)) {
				t.Error("OpenFile changed the damaged journal")
			}
		})
	}
}

// TestVersion1JournalStillOpens: a journal written before entries had checksums (the fixture
// was written by that build) opens with every entry and cursor; it is marked version 2, an
// entry updated gains a checksum, the others are read as they are.
func TestVersion1JournalStillOpens(t *testing.T) {
	fixture, err := os.ReadFile("testdata/journal-v1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	if err := os.WriteFile(path, fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	if v := rawEntry(t, path, "kl-a-0001"); !bytes.HasPrefix(v, []byte("{")) {
		t.Fatalf("the fixture is not a version 1 journal: %q", v)
	}
	s, err := idempotency.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.List(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("List: %d entries, %v; want 3", len(all), err)
	}
	if e, err := s.Get(ctx, "kl-a-0002"); err != nil || e.State != idempotency.StateSent || e.Intent.Price != "30000" {
		t.Fatalf("Get: %+v, %v", e, err)
	}
	if c, err := s.Cursor(ctx, "trades/BTCUSDT"); err != nil || c != "7" {
		t.Fatalf("Cursor: %q, %v", c, err)
	}
	if _, err := s.Update(ctx, "kl-a-0002", func(e *idempotency.Entry) error { e.State = idempotency.StateAcked; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v := rawEntry(t, path, "kl-a-0002"); !bytes.HasPrefix(v, []byte("crc32c:")) {
		t.Errorf("an updated entry has no checksum: %q", v)
	}
	var version string
	editBolt(t, path, func(tx *bbolt.Tx) error {
		version = string(tx.Bucket([]byte("meta")).Get([]byte("version")))
		return nil
	})
	if version != "2" {
		t.Errorf("version after open = %q, want 2", version)
	}
	s, err = idempotency.OpenFile(path)
	if err != nil {
		t.Fatalf("reopening the upgraded journal: %v", err)
	}
	defer s.Close()
	if e, err := s.Get(ctx, "kl-a-0002"); err != nil || e.State != idempotency.StateAcked {
		t.Fatalf("after reopen: %+v, %v", e, err)
	}
	if e, err := s.Get(ctx, "kl-a-0001"); err != nil || !strings.HasPrefix(e.Key, "kl-a-") {
		t.Fatalf("a version 1 entry after reopen: %+v, %v", e, err)
	}
}
