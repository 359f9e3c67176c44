package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/runtime"
)

// keel doctor --config prod.yaml, as an operator runs it before going live: text or --json,
// and exit 1 on a FAIL (withdrawals enabled on the key), 0 once it is fixed.
func TestDoctorCommand(t *testing.T) {
	srv, err := sim.New(sim.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prod.yaml")
	yaml := "exchange:\n  name: binance\n  base_url: " + srv.URL() + "\n  stream_url: ws://" + srv.Addr().String() +
		"\n  ws_api_url: ws://" + srv.Addr().String() + "/ws-api/v3\njournal:\n  path: " + filepath.Join(dir, "j.db") +
		"\nkillswitch:\n  file: " + filepath.Join(dir, "KILLSWITCH") + "\nadmin:\n  listen: " + freeAddr(t) + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEEL_EXCHANGE_API_KEY", sim.DefaultAPIKey)
	t.Setenv("KEEL_EXCHANGE_API_SECRET", sim.DefaultAPISecret)
	if err := srv.SetKeyScopes(sim.DefaultAPIKey, true, false); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	err = doctorMain(context.Background(), []string{"--config", cfg}, &out, &errw)
	if err != errChecksFailed {
		t.Fatalf("withdrawals enabled: doctor returned %v, want a failure\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FAIL  key: withdrawals") || strings.Contains(out.String(), sim.DefaultAPISecret) {
		t.Fatalf("report:\n%s", out.String())
	}
	if code := dispatch([]string{"doctor", "--config", cfg, "--bogus"}, &errw); code != 2 {
		t.Fatalf("a bad flag exits %d, want 2", code)
	}

	if err := srv.SetKeyScopes(sim.DefaultAPIKey, false, true); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := doctorMain(context.Background(), []string{"--config", cfg, "--json"}, &out, &errw); err != nil {
		t.Fatalf("a sound setup: %v\n%s", err, out.String())
	}
	var rep runtime.DoctorReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Failed() || len(rep.Config) == 0 {
		t.Fatalf("--json: %v %+v", err, rep)
	}
}
