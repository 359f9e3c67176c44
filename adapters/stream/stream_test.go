package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/internal/syncbuf"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// TestLimiterSlidingWindow walks a fake clock: the third attempt in a window of two waits
// exactly until the first leaves the window.
func TestLimiterSlidingWindow(t *testing.T) {
	clk := clock.NewFake(t0)
	l := stream.NewLimiter(stream.LimiterConfig{Max: 2, Window: time.Minute}, clk)
	ctx := t.Context()
	for i := 0; i < 2; i++ {
		if err := l.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
	}
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	clk.BlockUntil(1)
	if next, _ := clk.NextDeadline(); !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("third attempt waits until %v, want %v", next, t0.Add(time.Minute))
	}
	clk.Set(t0.Add(time.Minute))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.InWindow() != 2 || l.Total() != 3 {
		t.Fatalf("in window %d, total %d", l.InWindow(), l.Total())
	}
}

// echoServer accepts WebSocket connections, counts them, and keeps each open until the client
// or the test closes it.
type echoServer struct {
	srv *httptest.Server
	// accepts counts handshakes that reached the server. It is counted before the server
	// answers the handshake, so a client that saw its connection come up is always counted.
	accepts atomic.Int64
	mu      sync.Mutex
	conns   []*websocket.Conn
}

func newEchoServer(t *testing.T) *echoServer {
	e := &echoServer{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.accepts.Add(1)
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		e.mu.Lock()
		e.conns = append(e.conns, c)
		e.mu.Unlock()
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"hello":1}`))
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(func() {
		e.mu.Lock()
		for _, c := range e.conns {
			c.CloseNow()
		}
		e.mu.Unlock()
		e.srv.Close()
	})
	return e
}

// TestReconnectIsSingleflight: many concurrent Reconnect calls cause one reconnect. The backoff
// runs on a fake clock, so the new connection cannot come up (and accept a second Reconnect)
// until every call has been made.
func TestReconnectIsSingleflight(t *testing.T) {
	e := newEchoServer(t)
	clk := clock.NewFake(t0)
	states := make(chan stream.State, 100)
	c := stream.New(stream.Config{URL: "ws" + e.srv.URL[4:], Seed: 1, Clock: clk, PingInterval: -1,
		ReadTimeout: 1000 * time.Hour, BackoffBase: time.Hour, BackoffCap: time.Hour},
		stream.Handler{OnState: func(s stream.State) { states <- s }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	next := func(want stream.State) {
		t.Helper()
		select {
		case s := <-states:
			if s.Up != want.Up || s.Connects != want.Connects {
				t.Fatalf("state %+v, want up=%v connects=%d", s, want.Up, want.Connects)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no state change to up=%v connects=%d", want.Up, want.Connects)
		}
	}
	clk.BlockUntil(1) // the first attempt's jitter
	clk.Advance(time.Hour)
	next(stream.State{Up: true, Connects: 1})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c.Reconnect() }()
	}
	wg.Wait()
	next(stream.State{Up: false, Connects: 1})
	clk.BlockUntil(1) // Run waits out its jitter on the fake clock
	clk.Advance(time.Hour)
	next(stream.State{Up: true, Connects: 2})
	if st := c.Stats(); st.Reconnects != 1 || st.Attempts != 2 || e.accepts.Load() != 2 {
		t.Fatalf("stats %+v, accepts %d", st, e.accepts.Load())
	}
}

// TestReadDeadlineDropsSilentConnection: a connection that delivers nothing past ReadTimeout
// (on the fake clock) is dropped and redialled.
func TestReadDeadlineDropsSilentConnection(t *testing.T) {
	e := newEchoServer(t)
	clk := clock.NewFake(t0)
	states := make(chan stream.State, 100)
	c := stream.New(stream.Config{URL: "ws" + e.srv.URL[4:], Seed: 2, Clock: clk, ReadTimeout: 40 * time.Second,
		PingInterval: -1, BackoffBase: time.Nanosecond}, stream.Handler{OnState: func(s stream.State) { states <- s }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var s stream.State
	for !s.Up {
		s = <-states
	}
	for s.Up {
		clk.BlockUntil(1) // the watchdog's next check (after a drop: the redial's backoff or watchdog)
		clk.Advance(10 * time.Second)
		select {
		case s = <-states:
		default:
		}
	}
	if s.Err == nil || s.Err.Error() != stream.ErrReadTimeout.Error() {
		t.Fatalf("dropped with %v, want the read deadline", s.Err)
	}
}

// countingLimiter is a hand-written AttemptLimiter that records how many connections the
// server had accepted each time it was asked, and refuses the first fail calls with an error
// of its own (a fleet store out of reach).
type countingLimiter struct {
	e    *echoServer
	fail int

	mu      sync.Mutex
	asked   []int64 // the server's accepts at each Wait
	granted int
}

func (l *countingLimiter) Wait(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, l.e.accepts.Load())
	if len(l.asked) <= l.fail {
		return errors.New("fleet limiter: store unreachable")
	}
	l.granted++
	return ctx.Err()
}

func (l *countingLimiter) snapshot() ([]int64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int64(nil), l.asked...), l.granted
}

// TestCustomLimiterConsultedBeforeEachDial: a plugged-in AttemptLimiter is asked before every
// dial, the first and every redial; while it answers with an error nothing is dialled.
func TestCustomLimiterConsultedBeforeEachDial(t *testing.T) {
	e := newEchoServer(t)
	lim := &countingLimiter{e: e, fail: 2}
	states := make(chan stream.State, 100)
	c := stream.New(stream.Config{URL: "ws" + e.srv.URL[4:], Seed: 4, Limiter: lim, PingInterval: -1,
		BackoffBase: time.Nanosecond, BackoffCap: time.Nanosecond},
		stream.Handler{OnState: func(s stream.State) { states <- s }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitState := func(up bool, connects int64) {
		t.Helper()
		for {
			select {
			case s := <-states:
				if s.Up == up && s.Connects == connects {
					return
				}
			case <-ctx.Done():
				t.Fatalf("no state up=%v connects=%d", up, connects)
			}
		}
	}
	waitState(true, 1)
	c.Reconnect() // the connection drops: the Conn redials
	waitState(false, 1)
	waitState(true, 2)

	asked, granted := lim.snapshot()
	want := []int64{0, 0, 0, 1} // two refusals, then one grant before each of the two dials
	if len(asked) != len(want) || granted != 2 {
		t.Fatalf("limiter asked with accepts %v (granted %d), want %v", asked, granted, want)
	}
	for i := range want {
		if asked[i] != want[i] {
			t.Fatalf("limiter asked with accepts %v, want %v: a dial happened without asking", asked, want)
		}
	}
	if st := c.Stats(); st.Attempts != 2 || st.LimiterErrors != 2 || e.accepts.Load() != 2 {
		t.Fatalf("stats %+v, accepts %d", st, e.accepts.Load())
	}
}

// TestNilLimiterTakesDefault: a nil *Limiter in the interface field is no limiter at all, so
// the Conn builds its own instead of calling a nil pointer.
func TestNilLimiterTakesDefault(t *testing.T) {
	e := newEchoServer(t)
	var none *stream.Limiter
	states := make(chan stream.State, 10)
	c := stream.New(stream.Config{URL: "ws" + e.srv.URL[4:], Seed: 5, Limiter: none, PingInterval: -1,
		BackoffBase: time.Nanosecond}, stream.Handler{OnState: func(s stream.State) { states <- s }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case s := <-states:
		if !s.Up {
			t.Fatalf("state %+v", s)
		}
	case <-ctx.Done():
		t.Fatal("never connected")
	}
}

// TestBackoffGrowsAndResetsAfterHealthyConnection walks a Conn's waits on a fake clock: each
// failed dial doubles the range of the next wait (rand(0, base·2^n)), and a connection that
// delivered a message resets it, so a stream that was healthy for a while comes back fast
// while a dead endpoint is not hammered. Every wait after an attempt is logged
// (stream_reconnect) with the very delay waited and why the attempt before it ended; the
// connection's coming up and going down are logged too.
func TestBackoffGrowsAndResetsAfterHealthyConnection(t *testing.T) {
	const healthy = 7 // the dial that connects and delivers; every other dial is refused
	var dials atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dials.Add(1) != healthy {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"hello":1}`))
		_ = c.Close(websocket.StatusNormalClosure, "bye")
	}))
	defer srv.Close()

	const base = time.Second
	clk := clock.NewFake(t0)
	states := make(chan stream.State, 10)
	var logs syncbuf.Buffer
	c := stream.New(stream.Config{URL: "ws" + srv.URL[4:], Name: "s1", Seed: 3, Clock: clk, PingInterval: -1,
		ReadTimeout: 1000 * time.Hour, StableAfter: 1000 * time.Hour, BackoffBase: base, BackoffCap: time.Hour,
		Log: zerolog.New(&logs)},
		stream.Handler{OnState: func(s stream.State) { states <- s }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// wait returns the wait Run parked on before the next dial, and lets it pass.
	wait := func() time.Duration {
		t.Helper()
		clk.BlockUntil(1)
		at, _ := clk.NextDeadline()
		d := at.Sub(clk.Now())
		clk.Set(at)
		return d
	}
	var grown time.Duration
	var waited []time.Duration
	for n := range healthy { // before dial n+1, after n failures
		d := wait()
		waited = append(waited, d)
		if ceil := base << n; d <= 0 || d >= ceil {
			t.Fatalf("wait before dial %d = %v, want in (0, %v) after %d failures", n+1, d, ceil, n)
		}
		grown = max(grown, d)
	}
	if grown < 4*base {
		t.Fatalf("longest wait after six failures %v: the backoff did not grow", grown)
	}
	for _, up := range []bool{true, false} {
		select {
		case s := <-states:
			if s.Up != up {
				t.Fatalf("state %+v, want up=%v", s, up)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("dial %d: no state change to up=%v", healthy, up)
		}
	}
	afterDrop := wait()
	if afterDrop >= base {
		t.Fatalf("wait after a connection that delivered = %v, want reset to under %v", afterDrop, base)
	}
	// The log: a reconnect per wait after a failed dial (attempt n+1 after n failures, its
	// delay exactly the wait), then the connection up and down, then a first attempt again.
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		events = append(events, ev)
	}
	if len(events) < healthy+2 { // more: the next dial may have failed already
		t.Fatalf("%d log events, want at least %d:\n%s", len(events), healthy+2, logs.String())
	}
	for n := 1; n < healthy; n++ {
		ev := events[n-1]
		if ev["event"] != stream.EventReconnect || ev["stream"] != "s1" || ev["attempt"] != float64(n+1) ||
			ev["delay_ms"] != float64(waited[n].Milliseconds()) || !strings.Contains(ev["error_message"].(string), "503") {
			t.Fatalf("event %d: %v, want stream_reconnect attempt %d after %v, naming the refused dial", n, ev, n+1, waited[n])
		}
	}
	up, down, again := events[healthy-1], events[healthy], events[healthy+1]
	if up["event"] != stream.EventConnect || up["connects"] != 1.0 || up["attempt"] != float64(healthy) || up["limiter_wait_ms"] != 0.0 {
		t.Fatalf("connect event %v, want the first connection at attempt %d", up, healthy)
	}
	if down["event"] != stream.EventDrop || down["connects"] != 1.0 || down["level"] != "warn" || down["error_message"] == "" {
		t.Fatalf("drop event %v, want the first connection's drop at warn with why", down)
	}
	if again["event"] != stream.EventReconnect || again["attempt"] != 1.0 || again["delay_ms"] != float64(afterDrop.Milliseconds()) {
		t.Fatalf("reconnect after the drop %v, want attempt 1 after %v", again, afterDrop)
	}
	if d := wait(); d >= 2*base {
		t.Fatalf("wait after the next failure = %v, want under %v", d, 2*base)
	}
	if got := c.Stats(); got.Attempts < healthy+1 || got.Connects != 1 {
		t.Fatalf("stats %+v, want at least %d attempts and 1 connection", got, healthy+1)
	}
}

// TestMessagesArriveWholeThroughTheReusedBuffer: the Conn reads every message into one buffer
// per connection; each reaches OnMessage whole and alone, whether it is longer than the last
// (the buffer grows), shorter (nothing of the last is left over) or larger than the buffer a
// connection keeps between messages.
func TestMessagesArriveWholeThroughTheReusedBuffer(t *testing.T) {
	sizes := []int{300 << 10, 10, 100 << 10, 5, 0, 2000, 1}
	var sent [][]byte
	for i, n := range sizes {
		sent = append(sent, []byte(strings.Repeat(string(rune('a'+i)), n)))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for _, m := range sent {
			if err := c.Write(r.Context(), websocket.MessageText, m); err != nil {
				return
			}
		}
		_, _, _ = c.Read(r.Context()) // until the client goes
	}))
	defer srv.Close()
	got := make(chan []byte, len(sent))
	c := stream.New(stream.Config{URL: "ws" + srv.URL[4:], Seed: 1, PingInterval: -1, BackoffBase: time.Millisecond},
		stream.Handler{OnMessage: func(msg []byte) error {
			got <- append([]byte(nil), msg...) // msg is the Conn's buffer: a copy outlives the call
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i, want := range sent {
		select {
		case m := <-got:
			if string(m) != string(want) {
				t.Fatalf("message %d: %d bytes starting %.10q, want %d bytes of %q", i, len(m), m, len(want), rune('a'+i))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("message %d of %d never arrived", i, len(sent))
		}
	}
}
