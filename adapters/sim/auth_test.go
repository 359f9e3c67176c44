package sim_test

import (
	"crypto/ed25519"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// The worked HMAC example of rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order".
const (
	docsAPIKey    = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	docsSecretKey = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
	docsPayload   = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
	docsSignature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
	docsQuery3    = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
	docsBody3     = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
	docsSig3      = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
	docsUnicode   = "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
	docsSigUni    = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
	docsTimestamp = 1499827319559
)

func TestSignHMACDocsExamples(t *testing.T) {
	for _, tc := range []struct{ name, payload, want string }{
		{"request body or query string", docsPayload, docsSignature},
		{"mixed query and body", docsQuery3 + docsBody3, docsSig3},
		{"non-ASCII symbol, percent-encoded", docsUnicode, docsSigUni},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sim.SignHMAC(docsSecretKey, tc.payload); got != tc.want {
				t.Fatalf("SignHMAC = %s, want %s", got, tc.want)
			}
		})
	}
}

// docsHarness is a simulator holding the docs' example key, an LTCBTC market the example
// order passes, and a clock at the example's timestamp.
func docsHarness(t *testing.T) *harness {
	return newHarnessAt(t, time.UnixMilli(docsTimestamp), func(c *sim.Config) {
		c.APIKey, c.APISecret = docsAPIKey, docsSecretKey
		c.Balances = map[string]string{"BTC": "10", "LTC": "0"}
		c.Symbols = []sim.Symbol{{Name: "LTCBTC", Base: "LTC", Quote: "BTC", Price: "0.20000",
			MinPrice: "0.00001", MaxPrice: "100", TickSize: "0.00001",
			MinQty: "0.001", MaxQty: "100000", StepSize: "0.001", MinNotional: "0.0001", MaxNotional: "9000"}}
	})
}

func TestAcceptsDocsSignedRequest(t *testing.T) {
	h := docsHarness(t)
	hdr := map[string]string{"X-MBX-APIKEY": docsAPIKey}
	for _, tc := range []struct{ name, query, body string }{
		{"example 1: request body", "", docsPayload + "&signature=" + docsSignature},
		{"example 2: query string", docsPayload + "&signature=" + docsSignature, ""},
		{"example 3: mixed", docsQuery3, docsBody3 + "&signature=" + docsSig3},
		{"signature is not case sensitive", docsPayload + "&signature=" + strings.ToUpper(docsSignature), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodPost, "/api/v3/order", tc.query, tc.body, hdr)
			if r.status != http.StatusOK {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			var o struct {
				Symbol, Status, Price, OrigQty string
			}
			r.json(t, &o)
			if o.Symbol != "LTCBTC" || o.Status != "NEW" || o.Price != "0.10000000" || o.OrigQty != "1.00000000" {
				t.Fatalf("order %s", r.body)
			}
		})
	}
	// 5001 ms later the same request is outside its recvWindow of 5000.
	h.clk.Advance(5001 * time.Millisecond)
	r := h.do(http.MethodPost, "/api/v3/order", "", docsPayload+"&signature="+docsSignature, hdr)
	wantCode(t, r, http.StatusBadRequest, -1021, "Timestamp for this request is outside of the recvWindow.")
}

// TestAcceptsDocsNonASCIISignedRequest sends rest-api.md's second HMAC example as its curl
// command does (symbol １２３４５６ percent-encoded in the query string, signature e1353ec6...):
// the signature over the percent-encoded payload is accepted, so the answer is about the
// symbol (-1121, the simulator lists no such symbol), not -1022.
func TestAcceptsDocsNonASCIISignedRequest(t *testing.T) {
	h := docsHarness(t)
	hdr := map[string]string{"X-MBX-APIKEY": docsAPIKey}
	r := h.do(http.MethodPost, "/api/v3/order", docsUnicode+"&signature="+docsSigUni, "", hdr)
	wantCode(t, r, http.StatusBadRequest, -1121, "Invalid symbol.")
	// The same request with one byte of the signed symbol changed is refused for its
	// signature: the check above did verify it.
	tampered := strings.Replace(docsUnicode, "%EF%BC%96", "%EF%BC%97", 1)
	r = h.do(http.MethodPost, "/api/v3/order", tampered+"&signature="+docsSigUni, "", hdr)
	wantCode(t, r, http.StatusBadRequest, -1022, "Signature for this request is not valid.")
}

func TestEd25519RoundTrip(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(strings.NewReader(strings.Repeat("keel-sim-ed25519-seed-0123456789", 4)))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *sim.Config) { c.APISecret, c.Ed25519PublicKey = "", pub })
	h.edKey = priv
	r := h.signed(http.MethodGet, "/api/v3/account", nil)
	if r.status != http.StatusOK {
		t.Fatalf("Ed25519 GET: %d %s", r.status, r.body)
	}
	r = h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "50000"))
	if r.status != http.StatusOK {
		t.Fatalf("Ed25519 POST: %d %s", r.status, r.body)
	}
	// Ed25519 signatures are case-sensitive: the same signature with its case flipped fails.
	p := vals("timestamp", h.ms()).Encode()
	sig := sim.SignEd25519(priv, p)
	flipped := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 32
		case r >= 'A' && r <= 'Z':
			return r + 32
		}
		return r
	}, sig)
	r = h.do(http.MethodGet, "/api/v3/account", p+"&signature="+url.QueryEscape(flipped), "", map[string]string{"X-MBX-APIKEY": testKey})
	wantCode(t, r, http.StatusBadRequest, -1022, "Signature for this request is not valid.")
}

func TestTimingSecurity(t *testing.T) {
	h := newHarness(t, nil)
	now := h.clk.Now()
	ms := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	us := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMicro(), 10) }
	for _, tc := range []struct {
		name, ts, recv string
		code           int
		msg            string
	}{
		{"now", ms(0), "", 0, ""},
		{"exactly recvWindow old", ms(-5000 * time.Millisecond), "", 0, ""},
		{"one ms past default recvWindow", ms(-5001 * time.Millisecond), "", -1021, "Timestamp for this request is outside of the recvWindow."},
		{"999 ms ahead", ms(999 * time.Millisecond), "", 0, ""},
		{"1000 ms ahead", ms(time.Second), "", -1021, "Timestamp for this request was 1000ms ahead of the server's time."},
		{"max recvWindow", ms(-60 * time.Second), "60000", 0, ""},
		{"recvWindow over max", ms(0), "60001", -1130, "Data sent for parameter 'recvWindow' is not valid."},
		{"fractional recvWindow keeps microseconds", us(-6000346 * time.Microsecond), "6000.346", 0, ""},
		{"fractional recvWindow one microsecond short", us(-6000347 * time.Microsecond), "6000.346", -1021, ""},
		{"recvWindow with four decimals", ms(0), "6000.3461", -1111, "Parameter 'recvWindow' has too much precision."},
		{"microsecond timestamp", us(-time.Microsecond), "", 0, ""},
		{"malformed timestamp", "12ab", "", -1100, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vals("timestamp", tc.ts)
			if tc.recv != "" {
				v.Set("recvWindow", tc.recv)
			}
			r := h.signed(http.MethodGet, "/api/v3/account", v)
			if tc.code == 0 {
				if r.status != http.StatusOK {
					t.Fatalf("got %d %s", r.status, r.body)
				}
				return
			}
			if r.code() != tc.code || (tc.msg != "" && r.msg() != tc.msg) {
				t.Fatalf("got %s, want %d %q", r.body, tc.code, tc.msg)
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	h := newHarness(t, nil)
	p := vals("timestamp", h.ms()).Encode()
	good := p + "&signature=" + sim.SignHMAC(testSecret, p)
	for _, tc := range []struct {
		name, key, query string
		status, code     int
		msg              string
	}{
		{"no API key", "", good, 401, -2014, "API-key format invalid."},
		{"malformed API key", "bad key", good, 401, -2014, "API-key format invalid."},
		{"unknown API key", "nope", good, 401, -2015, "Invalid API-key, IP, or permissions for action."},
		{"bad signature", testKey, p + "&signature=" + strings.Repeat("0", 64), 400, -1022, "Signature for this request is not valid."},
		{"no signature", testKey, p, 400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."},
		{"no timestamp", testKey, "signature=" + sim.SignHMAC(testSecret, ""), 400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.key != "" {
				hdr["X-MBX-APIKEY"] = tc.key
			}
			r := h.do(http.MethodGet, "/api/v3/account", tc.query, "", hdr)
			wantCode(t, r, tc.status, tc.code, tc.msg)
		})
	}
	if st := h.s.Stats(); st.Total.AuthFailures != 6 || st.Endpoints["GET /api/v3/account"].AuthFailures != 6 {
		t.Fatalf("auth failures in stats: %+v", st.Total)
	}
}

func TestKeyDisabledAfterRepeatedFailuresAndRestored(t *testing.T) {
	h := newHarness(t, nil)
	bad := func() resp {
		p := vals("timestamp", h.ms()).Encode()
		return h.do(http.MethodGet, "/api/v3/account", p+"&signature="+strings.Repeat("a", 64), "", map[string]string{"X-MBX-APIKEY": testKey})
	}
	for i := 0; i < 9; i++ {
		wantCode(t, bad(), 400, -1022, "")
		h.clk.Advance(time.Second)
	}
	if r := h.signed(http.MethodGet, "/api/v3/account", nil); r.status != 200 {
		t.Fatalf("9 failures must not disable the key: %d %s", r.status, r.body)
	}
	wantCode(t, bad(), 400, -1022, "") // the 10th within a minute
	r := h.signed(http.MethodGet, "/api/v3/account", nil)
	wantCode(t, r, http.StatusUnauthorized, -2015, "Invalid API-key, IP, or permissions for action.")
	if !h.s.KeyDisabled(testKey) {
		t.Fatal("KeyDisabled = false")
	}
	// Public endpoints still work; the key stays disabled as time passes.
	h.clk.Advance(time.Hour)
	if r := h.get("/api/v3/ping", ""); r.status != 200 {
		t.Fatalf("ping: %d", r.status)
	}
	wantCode(t, h.signed(http.MethodGet, "/api/v3/account", nil), 401, -2015, "")
	r = h.do(http.MethodPost, "/sim/keys/restore", "", `{"api_key":"`+testKey+`"}`, nil)
	if r.status != 200 {
		t.Fatalf("restore: %d %s", r.status, r.body)
	}
	if r := h.signed(http.MethodGet, "/api/v3/account", nil); r.status != 200 {
		t.Fatalf("after restore: %d %s", r.status, r.body)
	}
}

func TestFailuresSpreadOverMoreThanAMinuteDoNotDisable(t *testing.T) {
	h := newHarness(t, nil)
	for i := 0; i < 20; i++ {
		p := vals("timestamp", h.ms()).Encode()
		h.do(http.MethodGet, "/api/v3/account", p+"&signature="+strings.Repeat("b", 64), "", map[string]string{"X-MBX-APIKEY": testKey})
		h.clk.Advance(7 * time.Second) // 9 per minute at most
	}
	if r := h.signed(http.MethodGet, "/api/v3/account", nil); r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestRevokeAndRestoreKey(t *testing.T) {
	h := newHarness(t, nil)
	if r := h.do(http.MethodPost, "/sim/keys/revoke", "", `{"api_key":"`+testKey+`"}`, nil); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantCode(t, h.signed(http.MethodGet, "/api/v3/openOrders", nil), 401, -2015, "")
	if r := h.do(http.MethodPost, "/sim/keys/revoke", "", `{"api_key":"other"}`, nil); r.status != 404 {
		t.Fatalf("unknown key: %d", r.status)
	}
	h.do(http.MethodPost, "/sim/keys/restore", "", `{"api_key":"`+testKey+`"}`, nil)
	if r := h.signed(http.MethodGet, "/api/v3/openOrders", nil); r.status != 200 {
		t.Fatalf("after restore: %d %s", r.status, r.body)
	}
}
