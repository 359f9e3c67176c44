package coinbase_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/runtime"
)

// runDoctor runs keel doctor's checks with a bot config for Coinbase pointed at s, as an
// operator would write it, with the key and PEM in the environment.
func runDoctor(t *testing.T, s *sim.Server) runtime.DoctorReport {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0") // an admin address no bot answers on
	if err != nil {
		t.Fatal(err)
	}
	admin := l.Addr().String()
	_ = l.Close()
	path := filepath.Join(dir, "prod.yaml")
	if err := os.WriteFile(path, []byte("exchange:\n  name: coinbase\n  base_url: "+s.URL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return runtime.Doctor(context.Background(), runtime.DoctorOptions{Timeout: 5 * time.Second, Load: runtime.LoadOptions{Path: path,
		Environ: []string{"KEEL_EXCHANGE_API_KEY=" + testKey, "KEEL_EXCHANGE_API_SECRET=" + testPEM,
			"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"), "KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"),
			"KEEL_ADMIN_LISTEN=" + admin}}})
}

func doctorCheck(t *testing.T, rep runtime.DoctorReport, name string) runtime.Check {
	t.Helper()
	for _, c := range rep.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, rep.Checks)
	return runtime.Check{}
}

// TestDoctorReadsKeyPermissions: keel doctor reads GET /key_permissions through the adapter
// (adapters.KeyInspector): a key that can trade and cannot transfer passes; one that can
// transfer, or cannot trade, fails exactly that check. It says it cannot check an IP
// restriction Coinbase does not report, passes the ES256 key, and places no order.
func TestDoctorReadsKeyPermissions(t *testing.T) {
	s := startSim(t, sim.Config{})
	rep := runDoctor(t, s)
	for _, c := range rep.Checks {
		if c.Status == runtime.CheckFail {
			t.Errorf("a sound setup failed %s: %s", c.Name, c.Evidence)
		}
	}
	for name, want := range map[string]string{"key: trading": runtime.CheckOK, "key: withdrawals": runtime.CheckOK,
		"key: type": runtime.CheckOK, "key: IP restriction": runtime.CheckWarn} {
		if c := doctorCheck(t, rep, name); c.Status != want {
			t.Errorf("%s: %+v, want %s", name, c, want)
		}
	}
	if c := doctorCheck(t, rep, "key: IP restriction"); !strings.Contains(c.Evidence, "cannot check") {
		t.Errorf("IP restriction: %+v", c)
	}

	if err := s.SetTradingDisabled(testKey, true); err != nil {
		t.Fatal(err)
	}
	if c := doctorCheck(t, runDoctor(t, s), "key: trading"); c.Status != runtime.CheckFail {
		t.Errorf("a key that cannot trade: %+v", c)
	}

	transfers := startSim(t, sim.Config{Accounts: []sim.Account{{APIKey: testKey, HMACSecret: testPEM, EnableWithdrawals: true}}})
	rep = runDoctor(t, transfers)
	if c := doctorCheck(t, rep, "key: withdrawals"); c.Status != runtime.CheckFail {
		t.Errorf("a key that can transfer: %+v", c)
	}
	if !rep.Failed() {
		t.Error("the report does not say it failed")
	}
	if s.Stats().Total.OrdersCreated+transfers.Stats().Total.OrdersCreated != 0 {
		t.Error("doctor placed an order")
	}
	if got := transfers.Stats().Endpoints["GET /api/v3/brokerage/key_permissions"].Requests; got == 0 {
		t.Error("doctor never read /key_permissions")
	}
}
