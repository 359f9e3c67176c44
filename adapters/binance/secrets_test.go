package binance_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// leaks reports which secret-ish strings appear in s.
func leaks(s string, secrets ...string) []string {
	var out []string
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			out = append(out, x)
		}
	}
	if strings.Contains(s, "signature=") {
		out = append(out, "signature=")
	}
	return out
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	edHex := hex.EncodeToString(edSeed)
	cfgs := []binance.Config{
		{APIKey: hmacKey, APISecret: hmacSecret},
		{APIKey: edKey, Ed25519PrivateKey: binance.Secret(edHex)},
	}
	for _, cfg := range cfgs {
		js, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c, err := binance.New(cfg, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range []string{
			fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg),
			fmt.Sprintf("%v", &cfg), fmt.Sprintf("%+v", cfg.APISecret), fmt.Sprintf("%q", cfg.APISecret), fmt.Sprintf("%x", cfg.APISecret),
			fmt.Sprintf("%#v", cfg.Ed25519PrivateKey), string(js),
			fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
		} {
			if l := leaks(out, hmacKey, hmacSecret, edKey, edHex); len(l) > 0 {
				t.Errorf("%q leaks %v", out, l)
			}
		}
	}
}

// TestErrorsAndLogsNeverCarrySecrets drives failures (bad signature, auth refusal, dead
// transport) and checks neither the errors nor the scheduler's log carry the key, the secret
// or a signature.
func TestErrorsAndLogsNeverCarrySecrets(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	var errs []error

	wrong := newClientOn(t, f.sim, fixtureOpts{cfg: func(c *binance.Config) { c.APISecret = "wrong-" + hmacSecret }})
	_, err := wrong.client.Balances(ctx)
	if scheduler.ClassOf(err) != scheduler.ClassAuth {
		t.Fatalf("bad signature: %v", err)
	}
	errs = append(errs, err)

	// A port nothing listens on: the transport error must not carry the signed URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	gone := newClientOn(t, f.sim, fixtureOpts{cfg: func(c *binance.Config) { c.BaseURL = dead; c.Timeout = time.Second }})
	_, err = gone.client.OpenOrders(ctx, "BTCUSDT")
	if err == nil {
		t.Fatal("a dead endpoint answered")
	}
	errs = append(errs, err)

	for _, e := range errs {
		for _, s := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if l := leaks(s, hmacKey, hmacSecret, "wrong-"+hmacSecret); len(l) > 0 {
				t.Errorf("error %q leaks %v", s, l)
			}
		}
	}
	for _, logs := range []string{f.logs.String(), wrong.logs.String(), gone.logs.String()} {
		if l := leaks(logs, hmacKey, hmacSecret); len(l) > 0 {
			t.Errorf("log leaks %v:\n%s", l, logs)
		}
	}
	if wrong.logs.String() == "" {
		t.Fatal("the scheduler logged nothing; the check above proved nothing")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name, key string
		cfg       binance.Config
	}{
		{"bad url", "base_url", binance.Config{BaseURL: "ftp://x"}},
		{"url with query", "base_url", binance.Config{BaseURL: "https://api.binance.com?x=1"}},
		{"recv window too big", "recv_window", binance.Config{RecvWindow: 60001}},
		{"recv window negative", "recv_window", binance.Config{RecvWindow: -1}},
		{"negative timeout", "timeout", binance.Config{Timeout: -time.Second}},
		{"two keys", "api_secret", binance.Config{APIKey: "k", APISecret: "s", Ed25519PrivateKey: "x"}},
		{"secret without key", "api_key", binance.Config{APISecret: "s"}},
		{"key without secret", "api_secret", binance.Config{APIKey: "k"}},
		{"bad ed25519", "ed25519_private_key", binance.Config{APIKey: "k", Ed25519PrivateKey: "TOPSECRETnotakey"}},
		{"missing key file", "ed25519_private_key_file", binance.Config{APIKey: "k", Ed25519PrivateKeyFile: "/nonexistent/keel.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if !errors.Is(err, binance.ErrConfig) || !strings.Contains(err.Error(), tt.key+":") {
				t.Fatalf("got %v, want an error naming %s", err, tt.key)
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Fatalf("error leaks the key: %v", err)
			}
		})
	}
	for _, ok := range []binance.Config{
		{},
		{APIKey: "k", APISecret: "s", RecvWindow: 60000},
		{APIKey: "k", Ed25519PrivateKey: binance.Secret(hex.EncodeToString(edSeed))},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}

func TestPublicOnlyClientRefusesSignedCalls(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{cfg: func(c *binance.Config) { c.APIKey, c.APISecret = "", "" }})
	ctx := testCtx(t)
	if _, err := f.client.Ticker(ctx, "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.Balances(ctx)
	if !errors.Is(err, binance.ErrNoCredentials) || scheduler.ClassOf(err) != scheduler.ClassAuth {
		t.Fatalf("got %v", err)
	}
	if n := f.sim.Stats().Endpoints["GET /api/v3/account"].Requests; n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}
