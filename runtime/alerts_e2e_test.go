package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/killswitch"
)

// hookServer is a webhook endpoint that records the JSON messages it gets.
type hookServer struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []map[string]any
	got  chan struct{}
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{got: make(chan struct{}, 100)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("webhook body %q: %v", b, err)
		}
		h.mu.Lock()
		h.msgs = append(h.msgs, m)
		h.mu.Unlock()
		h.got <- struct{}{}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) wait(t *testing.T, n int, within time.Duration) []map[string]any {
	t.Helper()
	for range n {
		select {
		case <-h.got:
		case <-time.After(within):
			t.Fatalf("want %d webhook calls, got %d", n, len(h.all()))
		}
	}
	return h.all()
}

func (h *hookServer) all() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.msgs...)
}

// quiet asserts no further call arrives for d.
func (h *hookServer) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-h.got:
		t.Fatalf("an extra webhook call: %v", h.all())
	case <-time.After(d):
	}
}

// TestKillSwitchTripPagesOnce: a trip in a running bot is exactly one webhook call, with the
// reason and who.
func TestKillSwitchTripPagesOnce(t *testing.T) {
	hook := newHookServer(t)
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_NOTIFY_WEBHOOK_URL="+hook.URL+"/page"), "probe")
	defer b.app.RequireStop()
	if err := b.sw.Trip(context.Background(), killswitch.Reason{Who: "alice", Why: "exchange maintenance"}); err != nil {
		t.Fatal(err)
	}
	msgs := hook.wait(t, 1, 10*time.Second)
	fields, _ := msgs[0]["fields"].(map[string]any)
	if msgs[0]["kind"] != "kill_switch_tripped" || fields["reason"] != "exchange maintenance" || fields["who"] != "alice" ||
		!strings.Contains(fmt.Sprint(msgs[0]["text"]), "kill switch tripped") {
		t.Fatalf("the page: %v", msgs[0])
	}
	hook.quiet(t, 500*time.Millisecond)
}

// TestTripStormIsOnePageAndASummary: twenty trips (each resumed) within the update interval
// are one page at once and one summary when the interval ends.
func TestTripStormIsOnePageAndASummary(t *testing.T) {
	hook := newHookServer(t)
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_NOTIFY_WEBHOOK_URL="+hook.URL, "KEEL_NOTIFY_UPDATE_INTERVAL=3s"), "probe")
	defer b.app.RequireStop()
	ctx := context.Background()
	start := time.Now()
	for i := range 20 {
		if err := b.sw.Trip(ctx, killswitch.Reason{Who: "storm", Why: fmt.Sprintf("trip %d", i+1)}); err != nil {
			t.Fatal(err)
		}
		if err := b.sw.Resume(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Skipf("the 20 trips took %s, longer than the test's update interval allows to judge", took)
	}
	msgs := hook.wait(t, 2, 10*time.Second)
	if msgs[0]["update"] == true || !strings.Contains(fmt.Sprint(msgs[0]["summary"]), "trip 1") {
		t.Fatalf("the page: %v", msgs[0])
	}
	if msgs[1]["update"] != true || msgs[1]["count"] != float64(39) || msgs[1]["resolved"] != true {
		t.Fatalf("the summary: %v, want an update counting the 39 other events, the latest a resume", msgs[1])
	}
	hook.quiet(t, time.Second)
}

// TestHungWebhookNeverDelaysAnOrder: with the webhook server never answering, a trip pages
// into the void, and an order placed after the resume goes out at once.
func TestHungWebhookNeverDelaysAnOrder(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hung.Close()
	defer close(release)
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_NOTIFY_WEBHOOK_URL="+hung.URL, "KEEL_NOTIFY_UPDATE_INTERVAL=100ms"), "probe")
	defer b.app.RequireStop()
	ctx := context.Background()
	for range 5 { // pages and updates pile up behind the hung call
		if err := b.sw.Trip(ctx, killswitch.Reason{Who: "test", Why: "hung webhook"}); err != nil {
			t.Fatal(err)
		}
		if err := b.sw.Resume(ctx); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := b.probes["probe"].env.Orders.Place(ctx, buyIntent()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("an order took %s with the webhook hung", took)
	}
}
