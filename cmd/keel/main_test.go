package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/keelbot/keel/internal/syncbuf"
)

type syncBuffer = syncbuf.Buffer

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSimServesAndStops(t *testing.T) {
	dir := t.TempDir()
	pub, _, err := ed25519.GenerateKey(strings.NewReader(strings.Repeat("x", 64)))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	keyFile := filepath.Join(dir, "ed.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- simMain(ctx, []string{"--listen", "127.0.0.1:0", "--seed", "3", "--time-scale", "60",
			"--api-key", "K", "--api-secret", "S", "--ed25519-public-key-file", keyFile}, &out, ready)
	}()
	base := <-ready
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	res, err := (&http.Client{Transport: tr}).Get(base + "/api/v3/exchangeInfo")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		RateLimits []struct {
			RateLimitType, Interval string
			IntervalNum             int
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if info.RateLimits[0].Interval != "SECOND" || info.RateLimits[0].IntervalNum != 1 {
		t.Fatalf("--time-scale 60 not applied: %+v", info.RateLimits)
	}
	tr.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var first struct{ Message, Addr, URL string }
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Message != "keel sim ready" || first.URL != base ||
		!strings.HasPrefix(first.Addr, "127.0.0.1:") {
		t.Fatalf("ready line %q (%v)", lines[0], err)
	}
}

func TestDispatch(t *testing.T) {
	var buf bytes.Buffer
	if code := dispatch([]string{"nope"}, &buf); code != 2 || !strings.Contains(buf.String(), "unknown command") {
		t.Fatalf("unknown: %d %q", code, buf.String())
	}
	buf.Reset()
	if code := dispatch(nil, &buf); code != 2 || !strings.Contains(buf.String(), "sim") {
		t.Fatalf("no args: %d %q", code, buf.String())
	}
	if code := dispatch([]string{"sim", "--time-scale", "0"}, io.Discard); code != 2 {
		t.Fatalf("bad flag value: %d", code)
	}
	if code := dispatch([]string{"sim", "--no-such-flag"}, io.Discard); code != 2 {
		t.Fatalf("bad flag: %d", code)
	}
}

// TestSimRefusesABadTimeScale: NaN, infinite, zero and negative scales are usage errors that
// name the flag.
func TestSimRefusesABadTimeScale(t *testing.T) {
	for _, v := range []string{"NaN", "+Inf", "0", "-3", "fast"} {
		var errw bytes.Buffer
		if code := dispatch([]string{"sim", "--time-scale", v}, &errw); code != 2 || !strings.Contains(errw.String(), "time-scale") {
			t.Errorf("--time-scale %s: exit %d, %q", v, code, errw.String())
		}
	}
}
