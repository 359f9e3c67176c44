package sim_test

import (
	"crypto/ed25519"
	"flag"
	"io"
	"math"
	"net/http"
	"reflect"
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
		{"negative time scale", sim.Config{TimeScale: -1}, "TimeScale: want a number > 0"},
		{"NaN time scale", sim.Config{TimeScale: math.NaN()}, "TimeScale: want a finite number"},
		{"infinite time scale", sim.Config{TimeScale: math.Inf(1)}, "TimeScale: want a finite number"},
		{"minus infinite time scale", sim.Config{TimeScale: math.Inf(-1)}, "TimeScale: want a finite number"},
		{"tiny time scale", sim.Config{TimeScale: 1e-9}, "TimeScale: want a number in"},
		{"huge time scale", sim.Config{TimeScale: 1e12}, "TimeScale: want a number in"},
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

// TestCommissionRates: GET /api/v3/account/commission answers rest-api.md's shape with the
// rate every fill is charged, and is a signed USER_DATA endpoint.
func TestCommissionRates(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.CommissionRate = "0.00075" })
	r := h.signed(http.MethodGet, "/api/v3/account/commission", vals("symbol", "ETHUSDT"))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got map[string]any
	r.json(t, &got)
	rates := func(maker string) map[string]any {
		return map[string]any{"maker": maker, "taker": maker, "buyer": "0.00000000", "seller": "0.00000000"}
	}
	want := map[string]any{
		"symbol":             "ETHUSDT",
		"standardCommission": rates("0.00075000"),
		"specialCommission":  rates("0.00000000"),
		"taxCommission":      rates("0.00000000"),
		"discount":           map[string]any{"enabledForAccount": false, "enabledForSymbol": false, "discountAsset": "BNB", "discount": "0.75000000"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("answer %s,\nwant %v", r.body, want)
	}
	wantCode(t, h.signed(http.MethodGet, "/api/v3/account/commission", nil), 400, -1102,
		"Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
	wantCode(t, h.signed(http.MethodGet, "/api/v3/account/commission", vals("symbol", "NOPE")), 400, -1121, "Invalid symbol.")
	wantCode(t, h.get("/api/v3/account/commission", "symbol=ETHUSDT"), 401, -2014, "API-key format invalid.")

	// The rate answered is the rate charged: a market buy pays it in the base asset.
	r = h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "ETHUSDT", "side", "BUY", "type", "MARKET", "quantity", "0.1"))
	var placed struct {
		Fills []struct{ Qty, Commission, CommissionAsset string }
	}
	r.json(t, &placed)
	if len(placed.Fills) != 1 || placed.Fills[0].Commission != "0.00007500" || placed.Fills[0].CommissionAsset != "ETH" {
		t.Fatalf("fills %+v", placed.Fills)
	}
}

// TestTradingDisabled: an account that may not trade says canTrade false, and its orders and
// cancels are refused with errors.md's message; switching it back restores both.
func TestTradingDisabled(t *testing.T) {
	h := newHarness(t, nil)
	r := h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"timeInForce", "GTC", "quantity", "0.001", "price", "50000", "newClientOrderId", "td-1"))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	canTrade := func() bool {
		var a struct {
			CanTrade bool `json:"canTrade"`
		}
		h.signed(http.MethodGet, "/api/v3/account", nil).json(t, &a)
		return a.CanTrade
	}
	if !canTrade() {
		t.Fatal("canTrade false before disabling")
	}
	if err := h.s.SetTradingDisabled(testKey, true); err != nil {
		t.Fatal(err)
	}
	if canTrade() {
		t.Fatal("canTrade true after disabling")
	}
	const msg = "This account may not place or cancel orders."
	wantCode(t, h.signed(http.MethodPost, "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "MARKET",
		"quantity", "0.001")), 400, -2010, msg)
	wantCode(t, h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "td-1")), 400, -2011, msg)
	wantCode(t, h.signed(http.MethodDelete, "/api/v3/openOrders", vals("symbol", "BTCUSDT")), 400, -2011, msg)
	if err := h.s.SetTradingDisabled(testKey, false); err != nil {
		t.Fatal(err)
	}
	if r := h.signed(http.MethodDelete, "/api/v3/order", vals("symbol", "BTCUSDT", "origClientOrderId", "td-1")); r.status != 200 || !canTrade() {
		t.Fatalf("after restoring: %d %s", r.status, r.body)
	}
	if err := h.s.SetTradingDisabled("no-such-key", true); err != sim.ErrUnknownKey {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestTimeScaleFlag: a bad --time-scale is refused while flags are parsed, with an error that
// names the flag and says what is wanted; good values pass through.
func TestTimeScaleFlag(t *testing.T) {
	parse := func(arg string) (float64, error) {
		fs := flag.NewFlagSet("keel sim", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		scale := sim.TimeScaleFlag(1)
		fs.Var(&scale, "time-scale", "time scale")
		err := fs.Parse([]string{"--time-scale", arg})
		return float64(scale), err
	}
	for _, bad := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity", "0", "-0", "-1", "1e-9", "1e300", "abc", ""} {
		_, err := parse(bad)
		if err == nil || !strings.Contains(err.Error(), "-time-scale") || !strings.Contains(err.Error(), "want a") {
			t.Errorf("--time-scale %q: err %v, want a refusal naming the flag", bad, err)
		}
	}
	for arg, want := range map[string]float64{"1": 1, "60": 60, "0.5": 0.5, " 120 ": 120} {
		if got, err := parse(arg); err != nil || got != want {
			t.Errorf("--time-scale %q: %v %v", arg, got, err)
		}
	}
	if err := sim.ValidateTimeScale("--time-scale", 0); err == nil || !strings.HasPrefix(err.Error(), "--time-scale: want a number > 0") {
		t.Errorf("ValidateTimeScale(0): %v", err)
	}
	if err := sim.ValidateTimeScale("sim.time_scale", math.NaN()); err == nil || !strings.HasPrefix(err.Error(), "sim.time_scale: ") {
		t.Errorf("ValidateTimeScale(NaN): %v", err)
	}
	if err := sim.ValidateTimeScale("x", 60); err != nil {
		t.Errorf("ValidateTimeScale(60): %v", err)
	}
	var zero sim.TimeScaleFlag
	if zero.String() != "0" || (*sim.TimeScaleFlag)(nil).String() != "0" {
		t.Error("String of the zero value")
	}
}
