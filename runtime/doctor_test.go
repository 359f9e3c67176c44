package runtime_test

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/runtime"
)

// doctorRig is a simulator on loopback and a bot config pointing at it, as an operator
// would write one for the real exchange.
type doctorRig struct {
	srv  *sim.Server
	dir  string
	env  []string
	yaml string
}

func newDoctorRig(t *testing.T, dialect string) *doctorRig {
	t.Helper()
	srv, err := sim.New(sim.Config{Dialect: dialect, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0") // an admin address no bot answers on
	if err != nil {
		t.Fatal(err)
	}
	admin := l.Addr().String()
	_ = l.Close()
	r := &doctorRig{srv: srv, dir: dir}
	r.yaml = "exchange:\n  name: " + dialect + "\n  base_url: " + srv.URL() + "\n"
	r.env = []string{"KEEL_EXCHANGE_API_KEY=" + sim.DefaultAPIKey, "KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"),
		"KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"), "KEEL_ADMIN_LISTEN=" + admin}
	switch dialect {
	case "binance":
		r.yaml += "  stream_url: ws://" + srv.Addr().String() + "\n  ws_api_url: ws://" + srv.Addr().String() + "/ws-api/v3\n"
		r.env = append(r.env, "KEEL_EXCHANGE_API_SECRET="+sim.DefaultAPISecret)
	case "kraken":
		r.env = append(r.env, "KEEL_EXCHANGE_API_SECRET="+krakenSecret())
	case "bybit":
		r.env = append(r.env, "KEEL_EXCHANGE_API_SECRET="+sim.DefaultAPISecret)
	}
	return r
}

func (r *doctorRig) run(t *testing.T, env ...string) runtime.DoctorReport {
	t.Helper()
	path := filepath.Join(r.dir, "prod.yaml")
	if err := os.WriteFile(path, []byte(r.yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return runtime.Doctor(context.Background(), runtime.DoctorOptions{
		Load: runtime.LoadOptions{Path: path, Environ: append(append([]string{}, r.env...), env...)}, Timeout: 5 * time.Second})
}

func check(t *testing.T, rep runtime.DoctorReport, name string) runtime.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep.Checks)
	return runtime.Check{}
}

func failed(rep runtime.DoctorReport) []string {
	var out []string
	for _, c := range rep.Checks {
		if c.Status == runtime.CheckFail {
			out = append(out, c.Name+": "+c.Evidence)
		}
	}
	return out
}

// TestDoctorBinance runs keel doctor's checks against the simulator's Binance dialect: a
// sound setup passes; each fault an operator can meet fails exactly its check; and the doctor
// itself places no order, spends little weight and never trips the kill switch.
func TestDoctorBinance(t *testing.T) {
	r := newDoctorRig(t, "binance")
	rep := r.run(t)
	if f := failed(rep); len(f) > 0 {
		t.Fatalf("a sound setup failed: %v", f)
	}
	if c := check(t, rep, "key: withdrawals"); c.Status != runtime.CheckOK {
		t.Fatalf("withdrawals: %+v", c)
	}
	if c := check(t, rep, "key: IP restriction"); c.Status != runtime.CheckWarn {
		t.Fatalf("an unrestricted key: %+v", c)
	}
	if c := check(t, rep, "key: type"); c.Status != runtime.CheckWarn || !strings.Contains(c.Action, "Ed25519") {
		t.Fatalf("an HMAC key: %+v", c)
	}
	st := r.srv.Stats()
	if st.Total.OrdersCreated != 0 || len(r.srv.Orders()) != 0 {
		t.Fatalf("doctor placed orders: %+v", st.Total)
	}
	t.Logf("doctor: %d requests, %d weight", st.Total.Requests, st.UsedWeightTotal)
	if st.UsedWeightTotal > 50 {
		t.Fatalf("doctor spent %d weight; it should be a handful of reads", st.UsedWeightTotal)
	}

	// The config listing: each value with its source, the secret redacted.
	sources := map[string]runtime.ConfigValue{}
	for _, v := range rep.Config {
		sources[v.Key] = v
		if strings.Contains(v.Value, sim.DefaultAPISecret) {
			t.Fatalf("the secret is listed: %+v", v)
		}
	}
	for key, want := range map[string]runtime.ConfigValue{
		"exchange.api_secret": {Value: "[REDACTED]", Source: runtime.SourceEnv},
		"exchange.api_key":    {Value: "[REDACTED]", Source: runtime.SourceEnv},
		"exchange.base_url":   {Value: r.srv.URL(), Source: runtime.SourceFile},
		"shutdown.timeout":    {Value: "5s", Source: runtime.SourceDefault},
	} {
		if got := sources[key]; got.Value != want.Value || got.Source != want.Source {
			t.Errorf("%s listed as %+v, want %+v", key, got, want)
		}
	}

	t.Run("withdrawals enabled", func(t *testing.T) {
		if err := r.srv.SetKeyScopes(sim.DefaultAPIKey, true, true); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.srv.SetKeyScopes(sim.DefaultAPIKey, false, false) }()
		rep := r.run(t)
		if c := check(t, rep, "key: withdrawals"); c.Status != runtime.CheckFail || !rep.Failed() {
			t.Fatalf("withdrawals enabled: %+v", c)
		}
		if c := check(t, rep, "key: IP restriction"); c.Status != runtime.CheckOK {
			t.Fatalf("a restricted key: %+v", c)
		}
	})
	t.Run("clock off by more than recvWindow", func(t *testing.T) {
		r.srv.SetClockOffset(8 * time.Second)
		defer r.srv.SetClockOffset(0)
		c := check(t, r.run(t), "clock")
		if c.Status != runtime.CheckFail || !strings.Contains(c.Evidence, "behind") {
			t.Fatalf("clock 8 s behind with a 5 s window: %+v", c)
		}
	})
	t.Run("clock ahead of the exchange", func(t *testing.T) {
		r.srv.SetClockOffset(-3 * time.Second)
		defer r.srv.SetClockOffset(0)
		if c := check(t, r.run(t), "clock"); c.Status != runtime.CheckFail {
			t.Fatalf("clock 3 s ahead: %+v", c)
		}
	})
	t.Run("key revoked", func(t *testing.T) {
		if err := r.srv.RevokeKey(sim.DefaultAPIKey); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = r.srv.RestoreKey(sim.DefaultAPIKey) }()
		if c := check(t, r.run(t), "key"); c.Status != runtime.CheckFail {
			t.Fatalf("a revoked key: %+v", c)
		}
		if _, err := os.Stat(filepath.Join(r.dir, "KILLSWITCH")); err == nil {
			t.Fatal("doctor tripped the kill switch on an auth failure")
		}
	})
	t.Run("kill switch present", func(t *testing.T) {
		ks := filepath.Join(r.dir, "KILLSWITCH")
		if err := os.WriteFile(ks, []byte("halted by alice: maintenance\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(ks)
		if c := check(t, r.run(t), "kill switch: file"); c.Status != runtime.CheckFail || !strings.Contains(c.Evidence, "maintenance") {
			t.Fatalf("a present kill switch: %+v", c)
		}
	})
	t.Run("journal locked by another process", func(t *testing.T) {
		j, err := idempotency.OpenFile(filepath.Join(r.dir, "journal.db"))
		if err != nil {
			t.Fatal(err)
		}
		c := check(t, r.run(t), "journal: lock")
		_ = j.Close()
		if c.Status != runtime.CheckFail || !strings.Contains(c.Evidence, "locked") {
			t.Fatalf("a locked journal: %+v", c)
		}
		if c := check(t, r.run(t), "journal: lock"); c.Status != runtime.CheckOK {
			t.Fatalf("the journal once free: %+v", c)
		}
	})
	t.Run("retries beyond the budget", func(t *testing.T) {
		if c := check(t, r.run(t, "KEEL_SCHEDULER_RETRIES_RATE_LIMIT=6"), "retries: rate_limit"); c.Status != runtime.CheckFail {
			t.Fatalf("6 rate-limit retries: %+v", c)
		}
	})
	t.Run("limits above the exchange's", func(t *testing.T) {
		r := *r
		r.yaml += "scheduler:\n  windows:\n    - name: REQUEST_WEIGHT_1M\n      limit: 12000\n      interval: 1m\n" +
			"    - {name: RAW_REQUESTS_5M, limit: 300000, interval: 5m}\n    - {name: ORDERS_10S, limit: 50, interval: 10s}\n" +
			"    - {name: ORDERS_1D, limit: 160000, interval: 24h}\n"
		if c := check(t, r.run(t), "budgets: REQUEST_WEIGHT_1M"); c.Status != runtime.CheckFail {
			t.Fatalf("twice the exchange's weight limit: %+v", c)
		}
	})
	t.Run("limits above the exchange's at the confirmed safety fraction", func(t *testing.T) {
		// 6500 × 0.9 = 5850 fits the exchange's 6000, but while the usage headers confirm
		// the count the window is used to 6500 × 0.99 = 6435.
		r := *r
		r.yaml += "scheduler:\n  windows:\n    - name: REQUEST_WEIGHT_1M\n      limit: 6500\n      interval: 1m\n" +
			"    - {name: RAW_REQUESTS_5M, limit: 300000, interval: 5m}\n    - {name: ORDERS_10S, limit: 50, interval: 10s}\n" +
			"    - {name: ORDERS_1D, limit: 160000, interval: 24h}\n"
		if c := check(t, r.run(t), "budgets: REQUEST_WEIGHT_1M"); c.Status != runtime.CheckFail || !strings.Contains(c.Evidence, "safety_fraction_confirmed 0.99") {
			t.Fatalf("6500 used to 0.99 against the exchange's 6000: %+v", c)
		}
	})
	t.Run("no margin while the usage headers confirm the count", func(t *testing.T) {
		if c := check(t, r.run(t), "budgets: safety"); c.Status != runtime.CheckOK || !strings.Contains(c.Evidence, "safety_fraction_confirmed 0.99") {
			t.Fatalf("the defaults: %+v", c)
		}
		r := *r
		r.yaml += "scheduler:\n  safety_fraction_confirmed: 1\n"
		if c := check(t, r.run(t), "budgets: safety"); c.Status != runtime.CheckWarn || !strings.Contains(c.Evidence, "safety_fraction_confirmed above 0.99") {
			t.Fatalf("safety_fraction_confirmed 1: %+v", c)
		}
	})
	t.Run("several instances without a shared budget", func(t *testing.T) {
		if c := check(t, r.run(t, "KEEL_FLEET_SIZE=3"), "budgets: fleet"); c.Status != runtime.CheckFail {
			t.Fatalf("fleet.size 3 without store.url: %+v", c)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		rep := r.run(t, "KEEL_SHUTDOWN_TIMEOUT=5")
		if c := check(t, rep, "config"); c.Status != runtime.CheckFail || !strings.Contains(c.Evidence, "shutdown.timeout") {
			t.Fatalf("a bare duration: %+v", c)
		}
	})
}

// TestDoctorKraken: against the Kraken dialect the doctor reads the clock and the limits, and
// says it cannot check the key's scopes (the adapter has no KeyInspector) instead of passing them.
func TestDoctorKraken(t *testing.T) {
	r := newDoctorRig(t, "kraken")
	rep := r.run(t)
	if f := failed(rep); len(f) > 0 {
		t.Fatalf("a sound setup failed: %v", f)
	}
	if c := check(t, rep, "key: withdrawals"); c.Status != runtime.CheckWarn || !strings.Contains(c.Evidence, "cannot check") {
		t.Fatalf("withdrawals on an adapter that cannot tell: %+v", c)
	}
	r.srv.SetClockOffset(5 * time.Second)
	if c := check(t, r.run(t), "clock"); c.Status != runtime.CheckWarn {
		t.Fatalf("a 5 s offset on an exchange without an acceptance window: %+v", c)
	}
	if r.srv.Stats().Total.OrdersCreated != 0 {
		t.Fatal("doctor placed an order")
	}
}

// TestDoctorBybit: against the Bybit dialect the doctor checks the clock against recv_window
// and says it cannot check the key's scopes.
func TestDoctorBybit(t *testing.T) {
	r := newDoctorRig(t, "bybit")
	rep := r.run(t)
	if f := failed(rep); len(f) > 0 {
		t.Fatalf("a sound setup failed: %v", f)
	}
	if c := check(t, rep, "key: withdrawals"); c.Status != runtime.CheckWarn || !strings.Contains(c.Evidence, "cannot check") {
		t.Fatalf("withdrawals on an adapter that cannot tell: %+v", c)
	}
	r.srv.SetClockOffset(8 * time.Second)
	if c := check(t, r.run(t), "clock"); c.Status != runtime.CheckFail {
		t.Fatalf("8 s off with a 5 s recv_window: %+v", c)
	}
	if r.srv.Stats().Total.OrdersCreated != 0 {
		t.Fatal("doctor placed an order")
	}
}

// krakenSecret is the simulator's default secret as Kraken hands secrets out: base64.
func krakenSecret() string { return base64.StdEncoding.EncodeToString([]byte(sim.DefaultAPISecret)) }
