package bybit_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/sim"
)

// leaks reports which of the secrets appear in s.
func leaks(s string, secrets ...string) []string {
	var out []string
	for _, x := range secrets {
		if x != "" && strings.Contains(s, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestConfigAndClientNeverPrintSecrets(t *testing.T) {
	cfg := bybit.Config{APIKey: testKey, APISecret: testSecret}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	for _, out := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%s", cfg),
		fmt.Sprintf("%v", &cfg), fmt.Sprintf("%+v", cfg.APISecret), fmt.Sprintf("%q", cfg.APISecret), fmt.Sprintf("%x", cfg.APISecret),
		fmt.Sprintf("%#v", cfg.APIKey), string(js), fmt.Sprint(f.client), fmt.Sprintf("%+v", f.client), fmt.Sprintf("%#v", f.client),
	} {
		if l := leaks(out, testKey, testSecret); len(l) > 0 {
			t.Errorf("%q leaks %v", out, l)
		}
	}
	// Validate names the key, never the value.
	bad := bybit.Config{APIKey: "key with space", APISecret: testSecret}
	if err := bad.Validate(); err == nil || len(leaks(err.Error(), "key with space", testSecret)) > 0 {
		t.Fatalf("Validate: %v", err)
	}
}

// TestErrorsAndLogsNeverCarrySecrets drives failures — a wrong secret (10004), a revoked key
// (10003), a dead exchange — and checks no error text and no scheduler log line carries the
// key or the secret.
func TestErrorsAndLogsNeverCarrySecrets(t *testing.T) {
	ctx := testCtx(t)
	s := startSim(t, sim.Config{})
	wrong := newClientOn(t, s, fixtureOpts{cfg: func(c *bybit.Config) { c.APISecret = "keel-wrong-secret-value" }})
	_, err1 := wrong.client.Balances(ctx)
	if !strings.Contains(err1.Error(), "origin_string[REDACTED]") {
		t.Fatalf("wrong secret: %v, want 10004 with its origin string dropped", err1)
	}
	f := newClientOn(t, s, fixtureOpts{})
	if err := s.RevokeKey(testKey); err != nil {
		t.Fatal(err)
	}
	_, err2 := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: dec("0.001"), Price: dec("50000"), ClientOrderID: "secret-test-1"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	d := newClientOn(t, s, fixtureOpts{cfg: func(c *bybit.Config) { c.BaseURL = dead; c.Timeout = time.Second }})
	_, err3 := d.client.Balances(ctx)
	for i, err := range []error{err1, err2, err3} {
		if err == nil {
			t.Fatalf("failure %d: no error", i)
		}
		if l := leaks(fmt.Sprintf("%v %+v", err, err), testKey, testSecret, "keel-wrong-secret-value"); len(l) > 0 {
			t.Errorf("error %q leaks %v", err, l)
		}
	}
	for _, logs := range []string{wrong.logs.String(), f.logs.String(), d.logs.String()} {
		if l := leaks(logs, testKey, testSecret, "keel-wrong-secret-value"); len(l) > 0 {
			t.Errorf("scheduler log leaks %v", l)
		}
	}
}
