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

	"github.com/keelbot/keel/adapters/sim"
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

// TestSimHelp: `keel sim --help` (and `keel help sim`) exits 0 and documents each flag the
// issue fixes by name with its default, which operators and the README rely on.
func TestSimHelp(t *testing.T) {
	want := map[string]string{
		"listen":     `(default "127.0.0.1:8600")`,
		"seed":       "(default 1)",
		"time-scale": "(default 1)",
		"api-key":    `(default "` + sim.DefaultAPIKey + `")`,
		"api-secret": `(default "` + sim.DefaultAPISecret + `")`,
	}
	for _, args := range [][]string{{"sim", "--help"}, {"sim", "-h"}, {"help", "sim"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var errw bytes.Buffer
			if code := dispatch(args, &errw); code != 0 {
				t.Fatalf("exit %d, want 0: %s", code, errw.String())
			}
			flags := flagHelp(errw.String())
			for name, def := range want {
				if !strings.Contains(flags[name], def) {
					t.Errorf("--%s: help %q, want it to give %s", name, flags[name], def)
				}
			}
		})
	}
}

// flagHelp splits flag.PrintDefaults output into each flag's text, by name: a flag's entry
// starts with "  -name" and its description lines follow, indented.
func flagHelp(out string) map[string]string {
	flags := map[string]string{}
	name := ""
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "  -"); ok {
			name, _, _ = strings.Cut(rest, " ")
		} else if !strings.HasPrefix(line, "    ") {
			name = ""
		}
		if name != "" {
			flags[name] += line + "\n"
		}
	}
	return flags
}

// TestSimReplay runs `keel sim --replay` on the shipped sample: the price starts at the
// file's first open and the candles served are the file's; a bad file is a usage error
// naming the line.
func TestSimReplay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- simMain(ctx, []string{"--listen", "127.0.0.1:0", "--time-scale", "600",
			"--replay", "../../examples/backtest/BTCUSDT-1m-2024-05-04.csv"}, &out, ready)
	}()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("keel sim --replay: %v\n%s", err, out.String())
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	get := func(path string, v any) {
		t.Helper()
		res, err := (&http.Client{Transport: tr}).Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var px struct{ Price string }
	get("/api/v3/ticker/price?symbol=BTCUSDT", &px)
	if px.Price != "63500.00000000" && px.Price != "63502.80000000" && px.Price != "63486.17000000" && px.Price != "63514.68000000" {
		t.Fatalf("price %s: not the first candle's", px.Price)
	}
	tr.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"candles":1440`) {
		t.Fatalf("no replay line: %s", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("1714824000000,10,9,8,9,1,1714824059999,1,1,0,0,0\n"), 0o600)
	var errw bytes.Buffer
	if code := dispatch([]string{"sim", "--replay", bad}, &errw); code != 2 || !strings.Contains(errw.String(), "line 1") {
		t.Fatalf("bad file: exit %d, %q", code, errw.String())
	}
	if code := dispatch([]string{"sim", "--replay", "../../examples/backtest/BTCUSDT-1m-2024-05-04.csv", "--replay-symbol", "NOPE"}, &errw); code != 2 {
		t.Fatalf("unknown symbol: exit %d, %q", code, errw.String())
	}
}

// TestKeelBacktest runs the README's first-run command: `keel backtest` on the shipped sample
// with the example's config, from the module root as a user would.
func TestKeelBacktest(t *testing.T) {
	wd, _ := os.Getwd()
	if err := os.Chdir("../.."); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var out, errb bytes.Buffer
	if err := backtestMain([]string{"--config", "examples/macross/bt.yaml", "--from", "2024-05-04", "--to", "2024-05-04T06:00:00Z"}, &out, &errb); err != nil {
		t.Fatalf("keel backtest: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "backtest BTCUSDT 1m: 360 candles") || !strings.Contains(out.String(), "would hit a rate limit live") {
		t.Fatalf("report:\n%s", out.String())
	}
	if code := dispatch([]string{"backtest", "--from", "nope"}, &errb); code != 2 {
		t.Fatalf("bad --from: exit %d", code)
	}
}
