package killswitch_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/killswitch"
)

// memBackend is a hand-written Backend: the seam a fleet backend (Redis) plugs into.
type memBackend struct {
	mu      sync.Mutex
	st      killswitch.Status
	loadErr error
	// When hold is set, Load reads the state, then waits for release before returning it.
	hold    bool
	loading chan struct{}
	release chan struct{}
}

func (m *memBackend) Load(ctx context.Context) (killswitch.Status, error) {
	m.mu.Lock()
	st, err, hold := m.st, m.loadErr, m.hold
	m.hold = false
	m.mu.Unlock()
	if hold {
		m.loading <- struct{}{}
		<-m.release
	}
	return st, err
}

func (m *memBackend) Trip(ctx context.Context, r killswitch.Reason) (killswitch.Reason, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.st.Halted {
		m.st = killswitch.Status{Halted: true, Reason: r}
	}
	return m.st.Reason, nil
}

func (m *memBackend) Resume(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = killswitch.Status{}
	return nil
}

func (m *memBackend) String() string { return "memory" }

func (m *memBackend) set(fn func(m *memBackend)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(m)
}

func runSwitch(t *testing.T, sw *killswitch.Switch, fc *clock.Fake) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sw.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	fc.BlockUntil(1)
}

// TestStaleReadIgnored: a poll that read "running" just before this process tripped must not
// resume it when it lands after the trip.
func TestStaleReadIgnored(t *testing.T) {
	b := &memBackend{loading: make(chan struct{}), release: make(chan struct{})}
	fc := clock.NewFake(t0)
	sw := killswitch.NewWithBackend(b, killswitch.WithClock(fc))
	runSwitch(t, sw, fc)

	b.set(func(m *memBackend) { m.hold = true })
	fc.Advance(killswitch.DefaultPollInterval)
	<-b.loading // the watcher has read "running" and not yet applied it
	if err := sw.Trip(ctx, killswitch.Reason{Who: "t", Why: "race"}); err != nil {
		t.Fatal(err)
	}
	close(b.release)
	fc.BlockUntil(1) // the watcher applied (or dropped) its stale read
	if h, _ := sw.Halted(); !h {
		t.Fatal("a stale read resumed a fresh trip")
	}
}

// TestLoadErrorHalts: a backend that cannot be read halts (fail closed), is logged once while
// the error stays the same, and releases the halt when it reads "running" again.
func TestLoadErrorHalts(t *testing.T) {
	b := &memBackend{}
	fc := clock.NewFake(t0)
	var logs bytes.Buffer
	var mu sync.Mutex
	sw := killswitch.NewWithBackend(b, killswitch.WithClock(fc), killswitch.WithLogger(zerolog.New(syncWriter{&mu, &logs})))
	events := make(chan killswitch.Event, 8)
	sw.OnChange(func(ev killswitch.Event) { events <- ev })
	runSwitch(t, sw, fc)

	b.set(func(m *memBackend) { m.loadErr = errors.New("connection refused") })
	for range 3 {
		fc.Advance(killswitch.DefaultPollInterval)
		fc.BlockUntil(1)
	}
	ev := <-events
	if !ev.Halted || ev.Reason.Why != "unreadable: connection refused" || ev.Source != "memory" {
		t.Fatalf("event = %+v", ev)
	}
	mu.Lock()
	n := strings.Count(logs.String(), "connection refused")
	mu.Unlock()
	if n != 1 {
		t.Errorf("the error was logged %d times, want once:\n%s", n, logs.String())
	}
	b.set(func(m *memBackend) { m.loadErr = nil })
	fc.Advance(killswitch.DefaultPollInterval)
	if ev := <-events; ev.Halted {
		t.Fatalf("event = %+v", ev)
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
