package runtime_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/adapters/sim"
)

// A running bot whose exchange redirects its order placement to another listener (a
// compromised edge or proxy) never follows it: the other listener sees no request, so neither
// the API key nor the signed order body leaves the exchange's host; the placement fails with
// an error naming the target, and the operator reads it in the log.
func TestRedirectNeverCarriesCredentialsAway(t *testing.T) {
	t.Parallel() // the placement's unknown outcome waits out its acceptance window
	var mu sync.Mutex
	var stolen []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		stolen = append(stolen, r.Method+" "+r.URL.String()+" key="+r.Header.Get("X-MBX-APIKEY")+" body="+string(body))
		mu.Unlock()
	}))
	defer thief.Close()

	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false"), "probe")
	defer b.app.RequireStop()
	f := sim.Faults{RedirectTo: thief.URL, Paths: []string{"/api/v3/order"}, Methods: []string{http.MethodPost}}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	b.sim.SetFaults(f)
	_, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent())
	if err == nil {
		t.Fatal("a placement answered with a redirect succeeded")
	}
	mu.Lock()
	got := append([]string(nil), stolen...)
	mu.Unlock()
	if len(got) != 0 {
		t.Fatalf("the redirect was followed; the other listener received %v", got)
	}
	if !errors.Is(err, rest.ErrRedirect) && !strings.Contains(b.logs.String(), "redirect refused") {
		t.Fatalf("neither the error nor the log names the refused redirect: %v", err)
	}
	if !strings.Contains(b.logs.String(), thief.URL+"/api/v3/order") {
		t.Fatalf("the log does not name the redirect's target %s", thief.URL)
	}
}
