package idempotency_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keelbot/keel/idempotency"
)

var ctx = context.Background()

// writeJournal creates a journal at path holding n entries and one cursor.
func writeJournal(t *testing.T, path string, n int) {
	t.Helper()
	s, err := idempotency.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		e := idempotency.Entry{Key: fmt.Sprintf("kl-a-%04d", i), Intent: idempotency.IntentRecord{
			Symbol: "BTCUSDT", Side: "BUY", Type: "LIMIT", Quantity: "1", Price: strings.Repeat("9", 40),
		}}
		if err := s.Reserve(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetCursor(ctx, "trades/BTCUSDT", "7"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// editBolt changes a journal behind the store's back, as a bug or a person could.
func editBolt(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func putEntry(key, value string) func(tx *bbolt.Tx) error {
	return func(tx *bbolt.Tx) error { return tx.Bucket([]byte("entries")).Put([]byte(key), []byte(value)) }
}

func TestOpenFileCreates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "nested", "journal.db")
	s, err := idempotency.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q", s.Path())
	}
	if !s.Created() {
		t.Error("Created() = false for a journal OpenFile had to create")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("journal not created: %v", err)
	}
	// Nothing left beside it from the create-then-link dance.
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	s, err = idempotency.OpenFile(path)
	if err != nil {
		t.Fatalf("reopen of a fresh journal: %v", err)
	}
	if s.Created() {
		t.Error("Created() = true for a journal that existed")
	}
	_ = s.Close()
}

// TestOpenFileBad is the corrupt-journal half of the design: each damaged or unusable file
// stops start-up with an error naming the file and the problem, and the file is left as it was.
func TestOpenFileBad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		kind    error  // sentinel the error must wrap (nil: none required)
		problem string // must appear in the message
	}{
		{"empty file", func(t *testing.T, path string) {
			mustWrite(t, path, nil)
		}, idempotency.ErrCorrupt, "empty"},
		{"not a bbolt file", func(t *testing.T, path string) {
			mustWrite(t, path, bytes.Repeat([]byte("this is not a journal\n"), 1000))
		}, idempotency.ErrCorrupt, "not a bbolt database"},
		{"short garbage", func(t *testing.T, path string) {
			mustWrite(t, path, []byte("{}"))
		}, idempotency.ErrCorrupt, ""},
		{"truncated", func(t *testing.T, path string) {
			writeJournal(t, path, 400)
			truncateTo(t, path, 0.5)
		}, idempotency.ErrCorrupt, "truncated"},
		{"truncated inside the header", func(t *testing.T, path string) {
			writeJournal(t, path, 400)
			if err := os.Truncate(path, 5000); err != nil {
				t.Fatal(err)
			}
		}, idempotency.ErrCorrupt, ""},
		{"damaged data pages", func(t *testing.T, path string) {
			writeJournal(t, path, 400)
			scribble(t, path)
		}, idempotency.ErrCorrupt, ""},
		{"bad JSON in an entry", func(t *testing.T, path string) {
			writeJournal(t, path, 3)
			editBolt(t, path, putEntry("kl-a-0001", `{"key":"kl-a-0001","state":`))
		}, idempotency.ErrCorrupt, `entry "kl-a-0001": bad JSON`},
		{"unknown state", func(t *testing.T, path string) {
			writeJournal(t, path, 3)
			editBolt(t, path, putEntry("kl-a-0002", `{"key":"kl-a-0002","state":"exploded"}`))
		}, idempotency.ErrCorrupt, `entry "kl-a-0002": unknown state "exploded"`},
		{"entry under another key", func(t *testing.T, path string) {
			writeJournal(t, path, 3)
			editBolt(t, path, putEntry("kl-a-0002", `{"key":"kl-a-0009","state":"sent"}`))
		}, idempotency.ErrCorrupt, `holds key "kl-a-0009"`},
		{"newer version", func(t *testing.T, path string) {
			writeJournal(t, path, 1)
			editBolt(t, path, func(tx *bbolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("3")) })
		}, idempotency.ErrVersion, `journal version "3"`},
		{"foreign bbolt file", func(t *testing.T, path string) {
			editBolt(t, path, func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("something")); return err })
		}, idempotency.ErrCorrupt, "not a Keel journal"},
		{"entries bucket missing", func(t *testing.T, path string) {
			writeJournal(t, path, 1)
			editBolt(t, path, func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("entries")) })
		}, idempotency.ErrCorrupt, "entries bucket missing"},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, nil, "is a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.db")
			tc.prepare(t, path)
			before := snapshot(t, path)
			s, err := idempotency.OpenFile(path, idempotency.WithLockTimeout(100*time.Millisecond))
			if err == nil {
				_ = s.Close()
				t.Fatal("OpenFile succeeded on a bad journal")
			}
			checkOpenError(t, err, path, tc.kind, tc.problem)
			if after := snapshot(t, path); !bytes.Equal(before, after) {
				t.Error("OpenFile changed the bad journal")
			}
		})
	}
}

func TestOpenFilePermissionDenied(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	writeJournal(t, path, 1)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := idempotency.OpenFile(path)
	checkOpenError(t, err, path, fs.ErrPermission, "permission denied")
	if errors.Is(err, idempotency.ErrCorrupt) {
		t.Error("a permission error is not corruption")
	}
}

// TestOpenFileUnreadable: a journal path that cannot be read stops start-up with an error
// naming the file, and nothing is created in its place. These cases are unreadable for root
// too (CI runs as root, where TestOpenFilePermissionDenied skips).
func TestOpenFileUnreadable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		path    func(t *testing.T, dir string) string
		problem string
	}{
		{"parent is a regular file", func(t *testing.T, dir string) string {
			parent := filepath.Join(dir, "state")
			mustWrite(t, parent, []byte("not a directory"))
			return filepath.Join(parent, "journal.db")
		}, "not a directory"},
		{"symlink loop", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "journal.db")
			if err := os.Symlink(path, path); err != nil {
				t.Fatal(err)
			}
			return path
		}, "too many levels of symbolic links"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.path(t, dir)
			s, err := idempotency.OpenFile(path)
			if err == nil {
				_ = s.Close()
				t.Fatal("OpenFile succeeded on an unreadable journal path")
			}
			checkOpenError(t, err, path, nil, tc.problem)
			if errors.Is(err, idempotency.ErrCorrupt) {
				t.Error("an unreadable path is not corruption")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
				t.Errorf("OpenFile left files beside the journal: %v", left)
			}
		})
	}
}

// TestOpenFileReadsEntriesWithoutSendBy: entries journalled before Entry.SendBy existed open
// and read with a zero SendBy, which the order path treats as "deadline unknown".
func TestOpenFileReadsEntriesWithoutSendBy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	writeJournal(t, path, 1)
	old := `{"key":"kl-a-0000","intent":{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","quantity":"1","price":"60000"},` +
		`"state":"sent","attempts":1,"created_at":"2025-06-01T10:00:00Z","updated_at":"2025-06-01T10:00:01Z"}`
	editBolt(t, path, putEntry("kl-a-0000", old))
	s, err := idempotency.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Get(ctx, "kl-a-0000")
	if err != nil {
		t.Fatal(err)
	}
	if e.State != idempotency.StateSent || !e.SendBy.IsZero() || e.UpdatedAt.IsZero() {
		t.Fatalf("old entry read as %+v, want sent with a zero SendBy", e)
	}
}

func TestOpenFileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	first, err := idempotency.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	// bbolt's flock is per open file, so a second open in this process stands in for a
	// second process.
	_, err = idempotency.OpenFile(path, idempotency.WithLockTimeout(100*time.Millisecond))
	checkOpenError(t, err, path, idempotency.ErrLocked, "locked by another process")
}

func checkOpenError(t *testing.T, err error, path string, kind error, problem string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "idempotency: journal "+path+": ") {
		t.Errorf("error does not name the file: %q", msg)
	}
	if !strings.Contains(msg, problem) {
		t.Errorf("error %q does not say %q", msg, problem)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", msg, kind)
	}
	var je *idempotency.JournalError
	if !errors.As(err, &je) || je.Path != path {
		t.Errorf("error is not a *JournalError for %s: %#v", path, err)
	}
	t.Log(msg)
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncateTo(t *testing.T, path string, frac float64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(st.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

// scribble overwrites every page after the two meta pages with a repeating pattern, leaving
// the headers intact so only a look at the data finds the damage.
func scribble(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	for i := 2 * page; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	mustWrite(t, path, b)
}

func snapshot(t *testing.T, path string) []byte {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.IsDir() {
		return []byte("dir")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
