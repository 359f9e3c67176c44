package sim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
)

// start is the instant the fake clock starts at in most tests: mid-window, so fixed windows
// are easy to reason about (12:00:30 UTC).
var start = time.Date(2026, 5, 4, 12, 0, 30, 0, time.UTC)

const (
	testKey    = "test-key"
	testSecret = "test-secret"
)

// harness is a simulator on loopback with a fake clock and a plain, self-signing client.
type harness struct {
	t      *testing.T
	s      *sim.Server
	clk    *clock.Fake
	base   string
	client *http.Client
	key    string
	secret string
	edKey  ed25519.PrivateKey
}

func newHarness(t *testing.T, mutate func(*sim.Config)) *harness {
	t.Helper()
	return newHarnessAt(t, start, mutate)
}

// newHarnessAt is newHarness with the fake clock starting at at.
func newHarnessAt(t *testing.T, at time.Time, mutate func(*sim.Config)) *harness {
	t.Helper()
	clk := clock.NewFake(at)
	cfg := sim.Config{Seed: 7, Clock: clk, APIKey: testKey, APISecret: testSecret}
	if mutate != nil {
		mutate(&cfg)
	}
	s := listen(t, cfg)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections) // runs before listen's Close
	return &harness{t: t, s: s, clk: clk, base: s.URL(), client: &http.Client{Transport: tr, Timeout: 10 * time.Second},
		key: testKey, secret: testSecret}
}

// listen starts a simulator of cfg on a loopback port and closes it when the test ends.
func listen(t *testing.T, cfg sim.Config) *sim.Server {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// resp is a decoded answer.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// code is the Binance error code of the answer, 0 when none.
func (r resp) code() int {
	var e struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Code
}

func (r resp) msg() string {
	var e struct {
		Msg string `json:"msg"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Msg
}

func (r resp) weight() int {
	n, _ := strconv.Atoi(r.header.Get("X-MBX-USED-WEIGHT-1M"))
	return n
}

// do sends a request with a raw query string and raw body.
func (h *harness) do(method, path, query, body string, hdr map[string]string) resp {
	h.t.Helper()
	u := h.base + path
	if query != "" {
		u += "?" + query
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, u, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (h *harness) get(path, query string) resp { return h.do(http.MethodGet, path, query, "", nil) }

// ms is the fake clock's time in milliseconds.
func (h *harness) ms() string { return strconv.FormatInt(h.clk.Now().UnixMilli(), 10) }

// signed sends a signed request: params (already encoded, without timestamp) get a timestamp
// and an HMAC signature; GET sends them in the query, other methods in the body.
func (h *harness) signed(method, path string, params url.Values) resp {
	h.t.Helper()
	if params == nil {
		params = url.Values{}
	}
	if params.Get("timestamp") == "" {
		params.Set("timestamp", h.ms())
	}
	payload := params.Encode()
	sig := sim.SignHMAC(h.secret, payload)
	if h.edKey != nil {
		sig = url.QueryEscape(sim.SignEd25519(h.edKey, payload))
	}
	hdr := map[string]string{"X-MBX-APIKEY": h.key}
	if method == http.MethodGet {
		return h.do(method, path, payload+"&signature="+sig, "", hdr)
	}
	return h.do(method, path, "", payload+"&signature="+sig, hdr)
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func wantCode(t *testing.T, r resp, status, code int, msg string) {
	t.Helper()
	if r.status != status || r.code() != code || (msg != "" && r.msg() != msg) {
		t.Fatalf("got %d %s, want %d code %d %q", r.status, r.body, status, code, msg)
	}
}
