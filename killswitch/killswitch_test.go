package killswitch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/killswitch"
)

var (
	ctx = context.Background()
	t0  = time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC)
)

// fixture is a switch on a file in a temp dir, with a fake clock and its events in a channel.
type fixture struct {
	path   string
	clock  *clock.Fake
	sw     *killswitch.Switch
	events chan killswitch.Event
}

func newFixture(t *testing.T, prepare func(path string)) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "KILLSWITCH"), clock: clock.NewFake(t0), events: make(chan killswitch.Event, 16)}
	if prepare != nil {
		prepare(f.path)
	}
	sw, err := killswitch.File(f.path, killswitch.WithClock(f.clock))
	if err != nil {
		t.Fatal(err)
	}
	f.sw = sw
	sw.OnChange(func(ev killswitch.Event) { f.events <- ev })
	return f
}

// run starts the watcher and returns once it waits on the clock; the test's cleanup stops it.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.sw.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	f.clock.BlockUntil(1)
}

// next waits for the next event. The timeout only guards against a hang; tests never rely on it.
func (f *fixture) next(t *testing.T) killswitch.Event {
	t.Helper()
	select {
	case ev := <-f.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return killswitch.Event{}
	}
}

func (f *fixture) noEvent(t *testing.T) {
	t.Helper()
	select {
	case ev := <-f.events:
		t.Fatalf("unexpected event %v", ev)
	default:
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readReason(t *testing.T, path string) killswitch.Reason {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r killswitch.Reason
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("file content %q: %v", b, err)
	}
	return r
}

// TestStartState: a process that starts while the file exists starts halted, whatever is in it.
func TestStartState(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		halted  bool
		who     string
		why     string // prefix of the reason's Why
	}{
		{"no file", func(*testing.T, string) {}, false, "", ""},
		{"reason", func(t *testing.T, p string) {
			writeFile(t, p, `{"who":"alice","when":"2025-05-31T08:00:00Z","why":"exchange maintenance"}`)
		}, true, "alice", "exchange maintenance"},
		{"empty file", func(t *testing.T, p string) { writeFile(t, p, "") }, true, "unknown", "halt file exists without a reason"},
		{"whitespace", func(t *testing.T, p string) { writeFile(t, p, "\n  \n") }, true, "unknown", "halt file exists without a reason"},
		{"malformed JSON", func(t *testing.T, p string) { writeFile(t, p, `{"who":"alice","why":`) }, true, "unknown", "unreadable: "},
		{"plain text", func(t *testing.T, p string) { writeFile(t, p, "stop everything\n") }, true, "unknown", "unreadable: "},
		{"wrong JSON type", func(t *testing.T, p string) { writeFile(t, p, `["halt"]`) }, true, "unknown", "unreadable: "},
		{"huge", func(t *testing.T, p string) { writeFile(t, p, strings.Repeat("x", 1<<20)) }, true, "unknown", "unreadable: halt file larger"},
		{"a directory", func(t *testing.T, p string) {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}, true, "unknown", "unreadable: killswitch: file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(p string) { tc.prepare(t, p) })
			halted, r := f.sw.Halted()
			if halted != tc.halted {
				t.Fatalf("Halted = %v (%v), want %v", halted, r, tc.halted)
			}
			if r.Who != tc.who || !strings.HasPrefix(r.Why, tc.why) {
				t.Errorf("reason = %+v, want who %q, why %q...", r, tc.who, tc.why)
			}
			if len(r.Why) > 400 {
				t.Errorf("reason quotes too much of the file: %d bytes", len(r.Why))
			}
			err := f.sw.Check()
			if tc.halted != (err != nil) || tc.halted != errors.Is(err, killswitch.ErrHalted) {
				t.Errorf("Check = %v with halted %v", err, tc.halted)
			}
			// Running the watcher does not flip a halt it cannot read into running.
			f.run(t)
			f.clock.Advance(killswitch.DefaultPollInterval)
			f.clock.BlockUntil(1)
			if h, _ := f.sw.Halted(); h != tc.halted {
				t.Errorf("after a poll Halted = %v", h)
			}
		})
	}
}

func TestTripAndResumeByMethod(t *testing.T) {
	f := newFixture(t, nil)
	f.clock.Advance(time.Minute)
	if err := f.sw.Trip(ctx, killswitch.Reason{Who: "alice", Why: "fat finger"}); err != nil {
		t.Fatal(err)
	}
	ev := f.next(t)
	if !ev.Halted || ev.Reason.Why != "fat finger" || ev.Source != "trip" {
		t.Errorf("event = %+v", ev)
	}
	host, _ := os.Hostname()
	want := killswitch.Reason{Who: "alice", Why: "fat finger", When: t0.Add(time.Minute), Host: host, PID: os.Getpid()}
	if got := readReason(t, f.path); !got.When.Equal(want.When) || got.Who != want.Who || got.Why != want.Why || got.Host != want.Host || got.PID != want.PID {
		t.Errorf("file reason = %+v, want %+v", got, want)
	}
	err := f.sw.Check()
	var he *killswitch.HaltedError
	if !errors.As(err, &he) || he.Reason.Why != "fat finger" || !errors.Is(err, killswitch.ErrHalted) {
		t.Fatalf("Check = %v", err)
	}
	if !strings.Contains(err.Error(), "killswitch: trading halted: fat finger (by alice on ") {
		t.Errorf("Check message = %q", err)
	}

	// Tripping again keeps the first reason and reports nothing new.
	if err := f.sw.Trip(ctx, killswitch.Reason{Who: "bob", Why: "second opinion"}); err != nil {
		t.Fatal(err)
	}
	if r := readReason(t, f.path); r.Who != "alice" {
		t.Errorf("second Trip replaced the reason: %+v", r)
	}
	if _, r := f.sw.Halted(); r.Who != "alice" {
		t.Errorf("second Trip changed the reason in force: %+v", r)
	}
	f.noEvent(t)

	if err := f.sw.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := f.next(t); ev.Halted || ev.Source != "resume" {
		t.Errorf("event = %+v", ev)
	}
	if _, err := os.Stat(f.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file still there after Resume: %v", err)
	}
	if err := f.sw.Check(); err != nil {
		t.Errorf("Check after Resume = %v", err)
	}
	if err := f.sw.Resume(ctx); err != nil {
		t.Errorf("second Resume: %v", err)
	}
	f.noEvent(t)
}

func TestTripFillsReason(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.sw.TripAuto(ctx, "auth failure: -2015 invalid API key"); err != nil {
		t.Fatal(err)
	}
	r := readReason(t, f.path)
	if r.Who != "auto" || r.Why != "auth failure: -2015 invalid API key" || !r.When.Equal(t0) || r.PID != os.Getpid() {
		t.Errorf("auto reason = %+v", r)
	}
	if err := f.sw.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.sw.Trip(ctx, killswitch.Reason{}); err != nil {
		t.Fatal(err)
	}
	if r := readReason(t, f.path); r.Who == "" || r.Why != "no reason given" {
		t.Errorf("defaults not filled: %+v", r)
	}
}

// TestWatchFile: a file created or deleted by someone else takes effect within one poll
// interval (250 ms by default), walked on the fake clock.
func TestWatchFile(t *testing.T) {
	f := newFixture(t, nil)
	f.run(t)
	poll := killswitch.DefaultPollInterval

	writeFile(t, f.path, `{"who":"ops","why":"manual halt"}`)
	f.clock.Advance(poll - time.Millisecond)
	if h, _ := f.sw.Halted(); h {
		t.Fatal("halted before the poll")
	}
	f.noEvent(t)
	f.clock.Advance(time.Millisecond) // 250 ms after the file appeared at the latest
	ev := f.next(t)
	if !ev.Halted || ev.Reason.Who != "ops" || ev.Source != "file "+f.path {
		t.Fatalf("event = %+v", ev)
	}
	if h, _ := f.sw.Halted(); !h {
		t.Fatal("not halted after the event")
	}

	// A rewritten reason is adopted without an event.
	f.clock.BlockUntil(1)
	writeFile(t, f.path, `{"who":"ops","why":"still halted, new reason"}`)
	f.clock.Advance(poll)
	f.clock.BlockUntil(1)
	if _, r := f.sw.Halted(); r.Why != "still halted, new reason" {
		t.Errorf("reason = %+v", r)
	}
	f.noEvent(t)

	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(poll)
	if ev := f.next(t); ev.Halted {
		t.Fatalf("event = %+v", ev)
	}
	if err := f.sw.Check(); err != nil {
		t.Errorf("Check after the file went = %v", err)
	}
}

func TestWatchHonoursPollInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "KILLSWITCH")
	fc := clock.NewFake(t0)
	sw, err := killswitch.New(killswitch.Config{File: path, PollInterval: 100 * time.Millisecond}, killswitch.WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = sw.Run(ctx) }()
	defer func() { cancel(); <-done }()
	fc.BlockUntil(1)
	if d, _ := fc.NextDeadline(); d.Sub(t0) != 100*time.Millisecond {
		t.Errorf("watcher waits %v, want 100ms", d.Sub(t0))
	}
}

func TestSignal(t *testing.T) {
	f := newFixture(t, nil)
	stop := f.sw.TripOnSignal(ctx) // SIGUSR1 is registered when this returns
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	ev := f.next(t)
	if !ev.Halted || ev.Reason.Who != "signal" || ev.Reason.Why != "received SIGUSR1" {
		t.Fatalf("event = %+v", ev)
	}
	if r := readReason(t, f.path); r.Why != "received SIGUSR1" {
		t.Errorf("file reason = %+v", r)
	}
	stop()
	stop() // idempotent
}

func TestSignalStopsWithContext(t *testing.T) {
	f := newFixture(t, nil)
	cctx, cancel := context.WithCancel(ctx)
	stop := f.sw.TripOnSignal(cctx, syscall.SIGUSR2)
	cancel()
	stop() // returns once the goroutine is gone (goleak checks the rest)
}

// TestTripNotRecorded: when the file cannot be written, this process halts anyway and stays
// halted (the watcher sees no file) until Resume is called here.
func TestTripNotRecorded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "KILLSWITCH")
	fc := clock.NewFake(t0)
	var logs bytes.Buffer
	sw, err := killswitch.File(path, killswitch.WithClock(fc), killswitch.WithLogger(zerolog.New(&logs)))
	if err != nil {
		t.Fatal(err)
	}
	err = sw.Trip(ctx, killswitch.Reason{Who: "t", Why: "w"})
	if err == nil || !strings.Contains(err.Error(), "halted this process only") {
		t.Fatalf("Trip = %v", err)
	}
	halted, r := sw.Halted()
	if !halted || !strings.Contains(r.Why, "not recorded") {
		t.Fatalf("Halted = %v, %+v", halted, r)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = sw.Run(ctx) }()
	fc.BlockUntil(1)
	fc.Advance(time.Second)
	fc.BlockUntil(1)
	cancel()
	<-done
	if h, _ := sw.Halted(); !h {
		t.Fatal("the watcher resumed a halt it could not see")
	}
	if err := sw.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, _ := sw.Halted(); h {
		t.Fatal("Resume did not clear a local halt")
	}
}

// TestAtomicWrites: readers never see half a reason, and concurrent trips agree on one.
func TestAtomicWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "KILLSWITCH")
	const switches = 8
	var sws []*killswitch.Switch
	for range switches {
		sw, err := killswitch.File(path)
		if err != nil {
			t.Fatal(err)
		}
		sws = append(sws, sw)
	}
	reader := killswitch.NewFileBackend(path)
	stopRead := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stopRead:
				return
			default:
			}
			st, err := reader.Load(ctx)
			if err != nil || strings.HasPrefix(st.Reason.Why, "unreadable") || (st.Halted && st.Reason.Why == "halt file exists without a reason") {
				t.Errorf("reader saw a partial file: %+v, %v", st, err)
				return
			}
		}
	}()
	for round := range 30 {
		var wg sync.WaitGroup
		for i, sw := range sws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := sw.Trip(ctx, killswitch.Reason{Who: "s" + string(rune('0'+i)), Why: "race"}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		// All agree on the one reason in the file.
		inFile := readReason(t, path)
		for _, sw := range sws {
			if _, r := sw.Halted(); r.Who != inFile.Who {
				t.Fatalf("round %d: a switch holds reason by %q, the file by %q", round, r.Who, inFile.Who)
			}
		}
		if err := sws[round%switches].Resume(ctx); err != nil {
			t.Fatal(err)
		}
		for _, sw := range sws { // the others learn of the resume by reading (as Run does)
			_ = sw.Resume(ctx)
		}
	}
	close(stopRead)
	<-readerDone
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestSubscribers: events arrive in order, a subscriber may call the switch, and an
// unsubscribed one hears nothing more.
func TestSubscribers(t *testing.T) {
	f := newFixture(t, nil)
	var (
		mu  sync.Mutex
		log []string
	)
	record := func(who string) func(killswitch.Event) {
		return func(ev killswitch.Event) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, who+":"+ev.String()[:7])
		}
	}
	f.sw.OnChange(record("a"))
	unsubB := f.sw.OnChange(record("b"))
	// A subscriber that resumes on every halt: its own Trip inside a callback must not deadlock.
	var once sync.Once
	f.sw.OnChange(func(ev killswitch.Event) {
		if ev.Halted {
			once.Do(func() {
				if err := f.sw.Resume(ctx); err != nil {
					t.Error(err)
				}
			})
		}
	})
	if err := f.sw.Trip(ctx, killswitch.Reason{Why: "x"}); err != nil {
		t.Fatal(err)
	}
	unsubB()
	if err := f.sw.Trip(ctx, killswitch.Reason{Why: "y"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(log, " ")
	mu.Unlock()
	want := "a:halted: b:halted: a:not hal b:not hal a:halted:"
	if got != want {
		t.Errorf("deliveries = %q, want %q", got, want)
	}
	for range 3 {
		f.next(t) // the fixture's own subscriber saw all three
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  killswitch.Config
		want string // error substring; "" = valid
	}{
		{"zero is defaults", killswitch.Config{}, ""},
		{"set", killswitch.Config{File: "/var/run/keel/KILLSWITCH", CancelOnTrip: true, PollInterval: time.Second}, ""},
		{"poll too slow", killswitch.Config{PollInterval: 2 * time.Second}, "killswitch.poll_interval 2s"},
		{"poll negative", killswitch.Config{PollInterval: -time.Second}, "killswitch.poll_interval -1s"},
		{"poll spinning", killswitch.Config{PollInterval: time.Millisecond}, "killswitch.poll_interval 1ms"},
		{"file is a dir", killswitch.Config{File: "/var/run/"}, "killswitch.file \"/var/run/\": names a directory"},
		{"file spaces", killswitch.Config{File: " KILLSWITCH"}, "killswitch.file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			if _, nerr := killswitch.New(tc.cfg); (nerr == nil) != (err == nil) {
				t.Errorf("New and Validate disagree: %v vs %v", nerr, err)
			}
		})
	}
	d := killswitch.Config{}.WithDefaults()
	if d.File != "./KILLSWITCH" || d.PollInterval != 250*time.Millisecond || d.CancelOnTrip {
		t.Errorf("defaults = %+v", d)
	}
}
