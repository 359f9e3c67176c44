package idempotency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The journal file's layout. A file without this exact format marker is not opened.
const (
	journalFormat  = "keel-journal"
	journalVersion = "2" // 2: entries carry a checksum (checksum.go)
	// journalVersion1 journals (bare JSON entries) are read, and marked version 2 when opened,
	// so a build that reads only version 1 refuses the file by its version instead of
	// calling its first checksummed entry corrupt.
	journalVersion1 = "1"
)

var (
	bucketMeta    = []byte("meta")    // format and version markers
	bucketEntries = []byte("entries") // key → Entry as JSON
	bucketCursors = []byte("cursors") // name → value
	keyFormat     = []byte("format")
	keyVersion    = []byte("version")
)

var (
	// ErrLocked is wrapped by OpenFile's error when another process holds the journal open.
	ErrLocked = errors.New("idempotency: journal locked by another process")
	// ErrVersion is wrapped by OpenFile's error for a journal written by an incompatible build.
	ErrVersion = errors.New("idempotency: unsupported journal version")
)

// JournalError says why a journal file cannot be used. OpenFile returns one for every failure;
// it wraps a sentinel (ErrCorrupt, ErrVersion, ErrLocked) when one applies, and the underlying
// error (an *fs.PathError, a bbolt error) when there is one.
type JournalError struct {
	Path    string
	Problem string // what is wrong, for the operator ("entry \"kl-a-…\": bad JSON")
	Kind    error  // ErrCorrupt, ErrVersion, ErrLocked or nil
	Err     error  // the cause, or nil
}

func (e *JournalError) Error() string {
	s := "idempotency: journal " + e.Path + ": " + e.Problem
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause, for errors.Is and errors.As.
func (e *JournalError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// FileStore is the default Store: the journal in one bbolt file. Every write is committed and
// fsynced before the method returns, so what a method reported written survives a crash or a
// power cut at any later instant. One process at a time may hold the file (a second OpenFile
// fails with ErrLocked). A FileStore is safe for concurrent use; writes are serialized, reads
// run in parallel with them. Its zero value is not usable; call OpenFile.
type FileStore struct {
	path    string
	db      *bbolt.DB
	now     func() time.Time
	created bool
}

var _ Store = (*FileStore)(nil)

// OpenFile opens the journal at path, creating it (and missing parent directories) when the
// file does not exist; Created then reports true. An existing file is checked before OpenFile returns: it must be a bbolt
// file with Keel's format marker and version, pass bbolt's consistency check, and every entry
// must decode to a known state. Anything else — an empty or truncated file, a foreign file, bad
// JSON, an unknown state, a newer version, a permission error — fails with a *JournalError
// naming the file and the problem, wrapping ErrCorrupt where the file is damaged. OpenFile never
// replaces a damaged journal with an empty one: that would forget orders that may be live.
//
// Options: WithClock, WithLockTimeout.
func OpenFile(path string, opts ...Option) (*FileStore, error) {
	o := buildOptions(opts)
	if path == "" {
		return nil, errors.New("idempotency: journal path is empty")
	}
	created := false
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if created, err = createJournal(path); err != nil {
			return nil, err
		}
		if st, err = os.Stat(path); err != nil {
			return nil, &JournalError{Path: path, Problem: "cannot stat", Err: err}
		}
	case err != nil:
		return nil, &JournalError{Path: path, Problem: "cannot stat", Err: err}
	case st.IsDir():
		return nil, &JournalError{Path: path, Problem: "is a directory, not a journal file"}
	case st.Size() == 0:
		return nil, &JournalError{Path: path, Problem: "file is empty (truncated?); a journal is never empty", Kind: ErrCorrupt}
	}

	db, err := openBolt(path, o.lockTimeout)
	if err != nil {
		return nil, err
	}
	if err := checkJournal(db, path, st.Size()); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := markCurrentVersion(db, path); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &FileStore{path: path, db: db, now: o.now, created: created}, nil
}

// Path returns the journal's file name.
func (s *FileStore) Path() string { return s.path }

// Created reports whether OpenFile created this journal because no file existed at Path. That
// is expected on a bot's first run, and a warning sign on any other: a journal that was
// deleted, moved, or is looked for at a changed path forgets the orders it held (start-up
// reconciliation then still adopts this bot's open orders, but not their strategies or the
// unknown outcomes). The runtime logs a warning naming Path when it is true.
func (s *FileStore) Created() bool { return s.created }

// createJournal makes a new journal at path and reports whether it did. It is built beside
// path and linked into place complete, so path never names a half-initialized journal (which a
// later start would have to tell from a truncated one). If another process creates path
// first, its journal is kept (and createJournal reports false).
func createJournal(path string) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, &JournalError{Path: path, Problem: "cannot create its directory", Err: err}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return false, &JournalError{Path: path, Problem: "cannot create", Err: err}
	}
	name := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(name)
	db, err := bbolt.Open(name, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return false, &JournalError{Path: path, Problem: "cannot create", Err: err}
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keyFormat, []byte(journalFormat)); err != nil {
			return err
		}
		if err := meta.Put(keyVersion, []byte(journalVersion)); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketEntries); err != nil {
			return err
		}
		_, err = tx.CreateBucket(bucketCursors)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, &JournalError{Path: path, Problem: "cannot initialize", Err: err}
	}
	created := true
	switch err := os.Link(name, path); {
	case errors.Is(err, fs.ErrExist):
		created = false
	case err != nil:
		// No hard links on this file system: rename (which could replace a journal another
		// process created in the same instant; OpenFile is not meant to race itself).
		if err := os.Rename(name, path); err != nil {
			return false, &JournalError{Path: path, Problem: "cannot create", Err: err}
		}
	}
	return created, syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return &JournalError{Path: dir, Problem: "cannot sync directory", Err: err}
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return &JournalError{Path: dir, Problem: "cannot sync directory", Err: err}
	}
	return nil
}

// openBolt opens the file, turning bbolt's errors and panics (a damaged file can make bbolt
// panic, or fault on a page past the end of a truncated file) into JournalErrors.
func openBolt(path string, lockTimeout time.Duration) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &JournalError{Path: path, Problem: fmt.Sprintf("damaged file (bbolt: %v)", r), Kind: ErrCorrupt}
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &JournalError{Path: path, Problem: fmt.Sprintf("locked by another process (waited %v)", lockTimeout), Kind: ErrLocked}
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, &JournalError{Path: path, Problem: "not a bbolt database, or its header is damaged", Kind: ErrCorrupt, Err: err}
	case strings.Contains(err.Error(), "file size too small"): // bbolt has no sentinel for it
		return nil, &JournalError{Path: path, Problem: "truncated inside the header", Kind: ErrCorrupt, Err: err}
	case errors.Is(err, fs.ErrPermission):
		return nil, &JournalError{Path: path, Problem: "cannot open (permission denied)", Err: err}
	default:
		return nil, &JournalError{Path: path, Problem: "cannot open", Err: err}
	}
}

// checkJournal verifies an opened file from its size to its last entry. size is the file's
// length on disk.
func checkJournal(db *bbolt.DB, path string, size int64) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &JournalError{Path: path, Problem: fmt.Sprintf("damaged page (bbolt: %v)", r), Kind: ErrCorrupt}
		}
	}()
	corrupt := func(format string, args ...any) error {
		return &JournalError{Path: path, Problem: fmt.Sprintf(format, args...), Kind: ErrCorrupt}
	}
	return db.View(func(tx *bbolt.Tx) error {
		if need := tx.Size(); size < need {
			return corrupt("truncated: the file has %d bytes, its header says %d", size, need)
		}
		var checkErr error
		for err := range tx.Check() { // drain it all: Check's goroutine blocks until read
			if checkErr == nil {
				checkErr = err
			}
		}
		if checkErr != nil {
			return corrupt("bbolt consistency check failed: %v", checkErr)
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return corrupt("not a Keel journal (no format marker)")
		}
		if f := meta.Get(keyFormat); !bytes.Equal(f, []byte(journalFormat)) {
			return corrupt("not a Keel journal (format marker %q)", clip(f))
		}
		if v := meta.Get(keyVersion); !bytes.Equal(v, []byte(journalVersion)) && !bytes.Equal(v, []byte(journalVersion1)) {
			return &JournalError{Path: path, Problem: fmt.Sprintf("journal version %q, this build reads version %s", clip(v), journalVersion), Kind: ErrVersion}
		}
		if tx.Bucket(bucketCursors) == nil {
			return corrupt("cursors bucket missing")
		}
		entries := tx.Bucket(bucketEntries)
		if entries == nil {
			return corrupt("entries bucket missing")
		}
		return entries.ForEach(func(k, v []byte) error {
			if _, err := decodeEntry(k, v); err != nil {
				return corrupt("%v", err)
			}
			return nil
		})
	})
}

// markCurrentVersion marks a checked version 1 journal as version 2 before anything writes a
// checksummed entry into it.
func markCurrentVersion(db *bbolt.DB, path string) error {
	current := false
	_ = db.View(func(tx *bbolt.Tx) error {
		current = bytes.Equal(tx.Bucket(bucketMeta).Get(keyVersion), []byte(journalVersion))
		return nil
	})
	if current {
		return nil // no write, no fsync: the common case
	}
	err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte(journalVersion)) })
	if err != nil {
		return &JournalError{Path: path, Problem: "cannot mark the journal version " + journalVersion, Err: err}
	}
	return nil
}

// decodeEntry decodes a stored entry and checks it is one a Store could have written.
func decodeEntry(k, v []byte) (Entry, error) {
	var e Entry
	if v == nil {
		return e, fmt.Errorf("entry %q: a nested bucket, not an entry", clip(k))
	}
	js, err := entryJSON(k, v)
	if err != nil {
		return e, err
	}
	if err := json.Unmarshal(js, &e); err != nil {
		return e, fmt.Errorf("entry %q: bad JSON: %v", clip(k), err)
	}
	if e.Key != string(k) {
		return e, fmt.Errorf("entry %q: holds key %q", clip(k), clip([]byte(e.Key)))
	}
	if !e.State.Valid() {
		return e, fmt.Errorf("entry %q: unknown state %q", clip(k), clip([]byte(e.State)))
	}
	return e, nil
}

// clip shortens a value quoted in an error, so a damaged file cannot flood a log line.
func clip(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// wrap turns an error from a bbolt call into the store's vocabulary. Errors from this package
// (sentinels, *TransitionError) and from the caller's fn pass through unchanged.
func (s *FileStore) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	case errors.Is(err, berrors.ErrTxClosed):
		return ErrClosed
	}
	return err
}

// corruptEntry reports an entry that stopped decoding after OpenFile checked it.
func (s *FileStore) corruptEntry(err error) error {
	return &JournalError{Path: s.path, Problem: err.Error(), Kind: ErrCorrupt}
}

// Reserve implements Store.
func (s *FileStore) Reserve(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, err := prepareReserve(e, s.now())
	if err != nil {
		return err
	}
	v, err := encodeEntry(e)
	if err != nil {
		return fmt.Errorf("idempotency: entry %s: %w", e.Key, err)
	}
	return s.wrap(s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		if b.Get([]byte(e.Key)) != nil {
			return ErrKeyExists
		}
		return b.Put([]byte(e.Key), v)
	}))
}

// Update implements Store. Updates of all keys are serialized; fn must not call the store.
func (s *FileStore) Update(ctx context.Context, key string, fn func(*Entry) error) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		v := b.Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		cur, err := decodeEntry([]byte(key), v)
		if err != nil {
			return s.corruptEntry(err)
		}
		next, err := applyUpdate(cur, s.now(), fn)
		if err != nil {
			return err
		}
		nv, err := encodeEntry(next)
		if err != nil {
			return fmt.Errorf("idempotency: entry %s: %w", key, err)
		}
		out = next
		return b.Put([]byte(key), nv)
	})
	if err != nil {
		return Entry{}, s.wrap(err)
	}
	return out, nil
}

// Get implements Store.
func (s *FileStore) Get(ctx context.Context, key string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketEntries).Get([]byte(key))
		if v == nil {
			return ErrNotFound
		}
		e, err := decodeEntry([]byte(key), v)
		if err != nil {
			return s.corruptEntry(err)
		}
		out = e
		return nil
	})
	return out, s.wrap(err)
}

// List implements Store. It reads every entry (the journal is kept small by Compact).
func (s *FileStore) List(ctx context.Context, states ...State) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketEntries).ForEach(func(k, v []byte) error {
			e, err := decodeEntry(k, v)
			if err != nil {
				return s.corruptEntry(err)
			}
			if wantState(e.State, states) {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, s.wrap(err)
	}
	sortEntries(out)
	return out, nil
}

// Cursor implements Store. An unset cursor is "".
func (s *FileStore) Cursor(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var out string
	err := s.db.View(func(tx *bbolt.Tx) error {
		out = string(tx.Bucket(bucketCursors).Get([]byte(name)))
		return nil
	})
	return out, s.wrap(err)
}

// SetCursor implements Store.
func (s *FileStore) SetCursor(ctx context.Context, name, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" {
		return errEmptyCursorName
	}
	return s.wrap(s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketCursors).Put([]byte(name), []byte(value))
	}))
}

// Compact implements Store. The file does not shrink; bbolt reuses the freed pages.
func (s *FileStore) Compact(ctx context.Context, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(k, v)
			if err != nil {
				return s.corruptEntry(err)
			}
			if compactable(e, cutoff) {
				doomed = append(doomed, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Deleting while a ForEach walks the bucket can skip keys, so delete afterwards.
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	if err != nil {
		return 0, s.wrap(err)
	}
	return n, nil
}

// Close implements Store: it releases the file and its lock. Every write was already durable.
func (s *FileStore) Close() error {
	if err := s.db.Close(); err != nil {
		return &JournalError{Path: s.path, Problem: "close", Err: err}
	}
	return nil
}
