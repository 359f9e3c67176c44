package idempotency

import (
	"context"
	"sync"
	"time"
)

// MemoryStore is a Store that keeps the journal in memory: for tests and for bots that accept
// losing the journal with the process. It is safe for concurrent use. Its zero value is not
// usable; call NewMemoryStore.
type MemoryStore struct {
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]Entry  // guarded by mu; nil after Close
	cursors map[string]string // guarded by mu
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty in-memory journal. WithClock is the only option it uses.
func NewMemoryStore(opts ...Option) *MemoryStore {
	o := buildOptions(opts)
	return &MemoryStore{now: o.now, entries: map[string]Entry{}, cursors: map[string]string{}}
}

// Reserve implements Store.
func (m *MemoryStore) Reserve(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, err := prepareReserve(e, m.now())
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		return ErrClosed
	}
	if _, ok := m.entries[e.Key]; ok {
		return ErrKeyExists
	}
	m.entries[e.Key] = e
	return nil
}

// Update implements Store. fn runs with the store locked, so it must not call the store.
func (m *MemoryStore) Update(ctx context.Context, key string, fn func(*Entry) error) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		return Entry{}, ErrClosed
	}
	cur, ok := m.entries[key]
	if !ok {
		return Entry{}, ErrNotFound
	}
	next, err := applyUpdate(cur, m.now(), fn)
	if err != nil {
		return Entry{}, err
	}
	m.entries[key] = next
	return next, nil
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, key string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		return Entry{}, ErrClosed
	}
	e, ok := m.entries[key]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return e, nil
}

// List implements Store.
func (m *MemoryStore) List(ctx context.Context, states ...State) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.entries == nil {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	var out []Entry
	for _, e := range m.entries {
		if wantState(e.State, states) {
			out = append(out, e)
		}
	}
	m.mu.Unlock()
	sortEntries(out)
	return out, nil
}

// Cursor implements Store. An unset cursor is "".
func (m *MemoryStore) Cursor(ctx context.Context, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		return "", ErrClosed
	}
	return m.cursors[name], nil
}

// SetCursor implements Store.
func (m *MemoryStore) SetCursor(ctx context.Context, name, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if name == "" {
		return errEmptyCursorName
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		return ErrClosed
	}
	m.cursors[name] = value
	return nil
}

// Compact implements Store.
func (m *MemoryStore) Compact(ctx context.Context, cutoff time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		return 0, ErrClosed
	}
	n := 0
	for k, e := range m.entries {
		if compactable(e, cutoff) {
			delete(m.entries, k)
			n++
		}
	}
	return n, nil
}

// Close implements Store. The journal is dropped; later calls return ErrClosed.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries, m.cursors = nil, nil
	return nil
}
