package kraken

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/clock"
)

// NonceSource hands out the nonces of one API key. Kraken refuses a nonce that is not greater
// than the last one it accepted for the key (EAPI:Invalid nonce), so every process signing
// with the key must draw from one source: the local one for a single process, a shared one
// (a Redis allocator; see the package doc) for a fleet. Next must be safe for concurrent use
// and return a value greater than every value any holder of the key was ever given, in
// microseconds since the Unix epoch (never mix units: once a key has seen a nanosecond nonce,
// microsecond ones are refused for decades).
type NonceSource interface {
	Next(ctx context.Context) (uint64, error)
}

// SendLock orders one key's calls on the wire: the Client takes it before drawing a nonce and
// releases it once the request has been written to the connection (or failed to be), so a
// later nonce is never written before an earlier one. A fleet sharing a key shares the lock
// too (see the package doc).
type SendLock interface {
	// Lock waits for the lock until ctx ends; unlock releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}

// localLock is a SendLock for one process: a one-slot semaphore that honours ctx.
type localLock chan struct{}

func newLocalLock() localLock { return make(localLock, 1) }

func (l localLock) Lock(ctx context.Context) (func(), error) {
	select {
	case l <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-l }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// LocalNonce is the NonceSource of a single process: max(now in microseconds, last+1).
// Being time-derived, a restarted process continues above its predecessor's nonces as long
// as the host clock has not stepped back; with a high-water file it does even then: the file
// holds a mark ahead of every nonce handed out (written at most every nonceReserve of
// nonces), and a new LocalNonce starts above it.
type LocalNonce struct {
	clock clock.Clock
	file  string

	mu   sync.Mutex
	last uint64
	mark uint64 // persisted high-water mark; no nonce beyond it is handed out before it is raised
}

// nonceReserve is how far ahead of the last nonce the high-water mark is written: 10 s of
// microseconds, so the file is rewritten at most every 10 s under real time.
const nonceReserve = uint64(10 * time.Second / time.Microsecond)

// ErrNonceFile wraps a high-water file that cannot be read or written.
var ErrNonceFile = errors.New("kraken: nonce file")

// NewLocalNonce returns a LocalNonce on clk; file, if not empty, is its high-water file.
func NewLocalNonce(clk clock.Clock, file string) (*LocalNonce, error) {
	n := &LocalNonce{clock: clk, file: file}
	if file == "" {
		return n, nil
	}
	raw, err := os.ReadFile(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrNonceFile, err)
	default:
		v, perr := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64)
		if perr != nil {
			return nil, fmt.Errorf("%w: %s does not hold a number", ErrNonceFile, file)
		}
		n.last, n.mark = v, v
	}
	return n, nil
}

// Next returns max(now in microseconds, last+1).
func (n *LocalNonce) Next(context.Context) (uint64, error) {
	now := uint64(n.clock.Now().UnixMicro())
	n.mu.Lock()
	defer n.mu.Unlock()
	v := max(now, n.last+1)
	if n.file != "" && v > n.mark {
		mark := v + nonceReserve
		if err := writeAtomic(n.file, strconv.FormatUint(mark, 10)); err != nil {
			return 0, fmt.Errorf("%w: %v", ErrNonceFile, err)
		}
		n.mark = mark
	}
	n.last = v
	return v, nil
}

// writeAtomic replaces file with data through a temporary file and a rename.
func writeAtomic(file, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".nonce-*")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(data + "\n")
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), file)
}
