package sim_test

import (
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/sim"
)

func TestSeveralAccounts(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(strings.NewReader(strings.Repeat("acct", 16)))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *sim.Config) {
		c.Accounts = []sim.Account{
			{APIKey: "hmac-key", HMACSecret: "hmac-secret", Balances: map[string]string{"USDT": "1000"}},
			{APIKey: "ed-key", Ed25519PublicKey: pub, Balances: map[string]string{"USDT": "2000"}},
		}
	})
	h.key, h.secret = "hmac-key", "hmac-secret"
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "ETHUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.1", "price", "3000"))
	if r.status != 200 || r.header.Get("X-MBX-ORDER-COUNT-10S") != "1" {
		t.Fatalf("hmac account: %d %s", r.status, r.body)
	}
	h.key, h.edKey = "ed-key", priv
	var open []orderJSON
	h.signed(http.MethodGet, "/api/v3/openOrders", nil).json(t, &open)
	if len(open) != 0 {
		t.Fatalf("the Ed25519 account sees the other's orders: %+v", open)
	}
	if f, _, _ := h.s.Balance("ed-key", "USDT"); f != "2000.00000000" {
		t.Fatalf("ed-key USDT %s", f)
	}
	// An HMAC signature does not open the Ed25519-only account.
	h.edKey = nil
	wantCode(t, h.signed(http.MethodGet, "/api/v3/account", nil), 400, -1022, "")
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sim.Config
		want string
	}{
		{"bad time scale", sim.Config{TimeScale: -1}, "TimeScale"},
		{"key with space", sim.Config{APIKey: "a b"}, "APIKey"},
		{"bad balance", sim.Config{Balances: map[string]string{"USDT": "-1"}}, "Balances[USDT]"},
		{"price off tick", sim.Config{Symbols: []sim.Symbol{{Name: "X", Base: "A", Quote: "B", Price: "1.005", TickSize: "0.01", StepSize: "1"}}}, "Price"},
		{"short ed25519 key", sim.Config{Ed25519PublicKey: ed25519.PublicKey{1, 2}}, "Ed25519PublicKey"},
		{"commission", sim.Config{CommissionRate: "2"}, "CommissionRate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sim.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want mention of %s", err, tc.want)
			}
		})
	}
}
