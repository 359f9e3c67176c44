package idempotency

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// InspectFile reads the unresolved entries of the journal file at path without writing to it,
// for an operator's check beside a live bot (`keel doctor`). It takes bbolt's shared lock for
// the length of one read, giving up after lockTimeout when a bot holds the file
// (errors.Is(err, ErrLocked)); a missing file is an *os.PathError (errors.Is fs.ErrNotExist).
func InspectFile(path string, lockTimeout time.Duration) ([]Entry, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &JournalError{Path: path, Problem: fmt.Sprintf("locked by another process (waited %v)", lockTimeout), Kind: ErrLocked}
	case err != nil:
		return nil, &JournalError{Path: path, Problem: "cannot open read-only", Err: err}
	}
	defer db.Close()
	var out []Entry
	err = db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(k, v)
			if err != nil {
				return &JournalError{Path: path, Problem: "damaged entry", Kind: ErrCorrupt, Err: err}
			}
			if e.State.Unresolved() {
				out = append(out, e)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sortEntries(out)
	return out, nil
}
