package killswitch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxReasonSize bounds what Load reads, so a huge file put in the switch's place cannot
// flood memory or logs.
const maxReasonSize = 64 << 10

// FileBackend keeps the switch in one file: trading is halted while the file exists, and its
// JSON content is the Reason. Operators may create it by hand (even empty: `touch KILLSWITCH`
// halts) and delete it to resume. It is safe for concurrent use, also across processes: the
// file appears complete (written beside it, then linked into place) and a second Trip keeps the
// first reason.
type FileBackend struct {
	path string
}

var _ Backend = (*FileBackend)(nil)

// NewFileBackend returns the backend for the file at path. Nothing is read until Load.
func NewFileBackend(path string) *FileBackend { return &FileBackend{path: path} }

// Path returns the file's name.
func (f *FileBackend) Path() string { return f.path }

// String implements Backend.
func (f *FileBackend) String() string { return "file " + f.path }

// Load implements Backend. A file that is empty, too large or not a JSON reason still halts,
// with a reason that says so ("unreadable: ..."); only a missing file means running.
func (f *FileBackend) Load(ctx context.Context) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, err
	}
	fh, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("killswitch: %s: %w", f, err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return Status{}, fmt.Errorf("killswitch: %s: %w", f, err)
	}
	if st.IsDir() {
		return Status{}, fmt.Errorf("killswitch: %s: is a directory", f)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxReasonSize+1))
	if err != nil {
		return Status{}, fmt.Errorf("killswitch: %s: %w", f, err)
	}
	unreadable := func(why string) (Status, error) {
		return Status{Halted: true, Reason: Reason{Who: "unknown", When: st.ModTime(), Why: why}}, nil
	}
	switch {
	case len(bytes.TrimSpace(b)) == 0:
		return unreadable("halt file exists without a reason")
	case len(b) > maxReasonSize:
		return unreadable(fmt.Sprintf("unreadable: halt file larger than %d bytes", maxReasonSize))
	}
	var r Reason
	if err := json.Unmarshal(b, &r); err != nil {
		return unreadable("unreadable: halt file is not a JSON reason: " + err.Error())
	}
	if r.When.IsZero() {
		r.When = st.ModTime()
	}
	return Status{Halted: true, Reason: r}, nil
}

// Trip implements Backend. The reason is written to a temporary file beside the switch,
// fsynced, and hard-linked into place, which fails if the switch exists: a concurrent or
// earlier halt keeps its reason, and no reader ever sees half a file.
func (f *FileBackend) Trip(ctx context.Context, r Reason) (Reason, error) {
	if err := ctx.Err(); err != nil {
		return Reason{}, err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Reason{}, fmt.Errorf("killswitch: %s: %w", f, err)
	}
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return Reason{}, fmt.Errorf("killswitch: %s: %w", f, err)
	}
	name := tmp.Name()
	defer os.Remove(name)
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644) // operators read it; a reason is not a secret
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Reason{}, fmt.Errorf("killswitch: %s: writing the reason: %w", f, err)
	}
	for range 3 { // the file may vanish between a failed link and the read of its reason
		err = os.Link(name, f.path)
		switch {
		case err == nil:
			return r, syncDir(dir)
		case errors.Is(err, fs.ErrExist):
			if st, lerr := f.Load(ctx); lerr != nil {
				return Reason{}, lerr
			} else if st.Halted {
				return st.Reason, nil
			}
		default:
			// No hard links on this file system: rename, which can replace a reason written
			// in the same instant by another process, but never leaves half a file.
			if _, serr := os.Lstat(f.path); serr == nil {
				if st, lerr := f.Load(ctx); lerr == nil && st.Halted {
					return st.Reason, nil
				}
			}
			if err := os.Rename(name, f.path); err != nil {
				return Reason{}, fmt.Errorf("killswitch: %s: %w", f, err)
			}
			return r, syncDir(dir)
		}
	}
	return Reason{}, fmt.Errorf("killswitch: %s: the file keeps appearing and disappearing", f)
}

// Resume implements Backend: it deletes the file.
func (f *FileBackend) Resume(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("killswitch: %s: %w", f, err)
	}
	return syncDir(filepath.Dir(f.path))
}

// syncDir makes a created or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("killswitch: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("killswitch: sync %s: %w", dir, err)
	}
	return nil
}
