package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
)

// recorder is a sink that keeps what it got.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
	got  chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 100)} }

func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Send(_ context.Context, m Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

func (r *recorder) wait(t *testing.T, n int) []Message {
	t.Helper()
	for range n {
		select {
		case <-r.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("want %d messages, got %d", n, len(r.all()))
		}
	}
	return r.all()
}

func (r *recorder) all() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// TestIncidentIsOnePagePlusASummary: twenty trips (and resumes) of the kill switch within a
// minute are one page at once and one update when the interval ends, counting the rest.
func TestIncidentIsOnePagePlusASummary(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := newRecorder()
	n := New(Config{Bot: "t1 sim", UpdateInterval: time.Minute}, []Sink{rec}, clk, jitter.New(1), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	for i := range 20 {
		n.Notify(Event{Kind: KindKillSwitch, Incident: "kill_switch", Severity: Critical,
			Summary: fmt.Sprintf("kill switch tripped: trip %d", i+1), Fields: map[string]string{"who": "test"}})
		n.Notify(Event{Kind: KindResumed, Incident: "kill_switch", Severity: Info, Summary: "trading resumed", Resolved: true})
	}
	msgs := rec.wait(t, 1)
	if msgs[0].Update || !strings.Contains(msgs[0].Summary, "trip 1") || msgs[0].Bot != "t1 sim" {
		t.Fatalf("the page: %+v, want the first trip", msgs[0])
	}
	// Everything else waits for the update: nothing more before the interval ends.
	advance := func(d time.Duration) { clk.BlockUntil(1); clk.Advance(d) } // Run's timer is set
	advance(30 * time.Second)
	select {
	case <-rec.got:
		t.Fatalf("a message before the interval ended: %+v", rec.all())
	case <-time.After(50 * time.Millisecond):
	}
	for range 10 {
		advance(6 * time.Second)
	}
	msgs = rec.wait(t, 1)
	up := msgs[1]
	if !up.Update || up.Count != 39 || !up.Resolved || !strings.Contains(up.Text(), "39 more events") {
		t.Fatalf("the update: %+v (%s), want 39 more events, the latest a resume", up, up.Text())
	}
	advance(2 * time.Minute)
	select {
	case <-rec.got:
		t.Fatalf("a third message: %+v", rec.all())
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	<-done
}

// TestNotifyNeverBlocks: with nobody delivering and the queue full, Notify returns at once.
func TestNotifyNeverBlocks(t *testing.T) {
	n := New(Config{QueueSize: 1}, []Sink{newRecorder()}, nil, nil, nil)
	start := time.Now()
	for range 1000 {
		n.Notify(Event{Kind: KindBan, Summary: "banned"})
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("1000 Notify calls took %s with a full queue", took)
	}
}

// TestSinksSpeakTheirFormats posts one message through each built-in at a test server.
func TestSinksSpeakTheirFormats(t *testing.T) {
	type got struct{ path, body string }
	ch := make(chan got, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- got{r.URL.Path, string(b)}
	}))
	defer srv.Close()
	m := Message{Event: Event{Kind: KindKillSwitch, Severity: Critical, Summary: "kill switch tripped: auth failure",
		Fields: map[string]string{"who": "auto"}}, Bot: "t1 binance"}

	wh, _ := Webhook(srv.URL+"/hook", nil)
	sl, _ := Slack(srv.URL+"/services/T0/B0/XXXX", nil)
	tg, _ := Telegram(srv.URL, "123:ABCDEF", "42", nil)
	for _, s := range []Sink{wh, sl, tg} {
		if err := s.Send(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
	}
	var hook struct {
		Kind, Summary, Text, Bot string
		Fields                   map[string]string
	}
	g := <-ch
	if err := json.Unmarshal([]byte(g.body), &hook); err != nil || g.path != "/hook" || hook.Kind != KindKillSwitch ||
		hook.Fields["who"] != "auto" || !strings.Contains(hook.Text, "[CRITICAL] t1 binance: kill switch tripped") {
		t.Fatalf("webhook got %s %s (%v)", g.path, g.body, err)
	}
	g = <-ch
	var slack map[string]string
	if json.Unmarshal([]byte(g.body), &slack); g.path != "/services/T0/B0/XXXX" || !strings.Contains(slack["text"], "who: auto") || len(slack) != 1 {
		t.Fatalf("slack got %s %s", g.path, g.body)
	}
	g = <-ch
	var tele map[string]string
	if json.Unmarshal([]byte(g.body), &tele); g.path != "/bot123:ABCDEF/sendMessage" || tele["chat_id"] != "42" || !strings.Contains(tele["text"], "auth failure") {
		t.Fatalf("telegram got %s %s", g.path, g.body)
	}
	for _, s := range []Sink{sl, tg} {
		if strings.Contains(s.Name(), "XXXX") || strings.Contains(s.Name(), "ABCDEF") {
			t.Fatalf("a sink's name holds its credential: %s", s.Name())
		}
	}
}

// TestFailedDeliveryIsRetriedAndSecretsStayOut: a sink answering 500 gets the message again
// after a backoff; one that cannot be reached is given up on with a log line that never holds
// the token in its URL.
func TestFailedDeliveryIsRetriedAndSecretsStayOut(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "try later", 500)
		}
	}))
	defer srv.Close()
	wh, _ := Webhook(srv.URL, nil)
	dead, _ := Telegram("http://127.0.0.1:1", "999:SECRETTOKEN", "7", nil)
	var mu sync.Mutex
	var logs []string
	gaveUp := make(chan struct{}, 1)
	logf := func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
		gaveUp <- struct{}{}
	}
	n := New(Config{BackoffBase: time.Millisecond, BackoffCap: 5 * time.Millisecond, Attempts: 3}, []Sink{wh, dead}, nil, jitter.New(2), logf)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	n.Notify(Event{Kind: KindStoreDown, Summary: "journal unavailable"})
	select {
	case <-gaveUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the unreachable sink was never given up on")
	}
	for deadline := time.Now().Add(5 * time.Second); calls.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the webhook got %d tries, want 3 (two 500s, then success)", calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) != 1 || strings.Contains(logs[0], "SECRETTOKEN") || !strings.Contains(logs[0], "telegram 127.0.0.1:1: giving up after 3 tries") {
		t.Fatalf("logs %q: want one give-up line for telegram without its token", logs)
	}
}
