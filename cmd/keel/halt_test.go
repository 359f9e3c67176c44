package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/runtime"
)

func TestHaltResumeStatus(t *testing.T) {
	file := filepath.Join(t.TempDir(), "KILLSWITCH")
	ctx := context.Background()
	run := func(fn func(args []string, out, errw *bytes.Buffer) error, args ...string) string {
		t.Helper()
		var out, errw bytes.Buffer
		if err := fn(append([]string{"--file", file}, args...), &out, &errw); err != nil {
			t.Fatalf("%v: %v (%s)", args, err, errw.String())
		}
		return strings.TrimSpace(out.String())
	}
	halt := func(a []string, o, e *bytes.Buffer) error { return haltMain(ctx, a, o, e) }
	resume := func(a []string, o, e *bytes.Buffer) error { return resumeMain(ctx, a, o, e) }
	status := func(a []string, o, e *bytes.Buffer) error { return statusMain(a, o, e) }

	if got := run(status); !strings.HasPrefix(got, "kill switch: not halted\n  file "+file+": absent\nbot: not asked") {
		t.Errorf("status = %q", got)
	}
	if got := run(halt, "--reason", "maintenance", "--who", "alice"); !strings.HasPrefix(got, "halted: maintenance (by alice") {
		t.Errorf("halt = %q", got)
	}
	if got := run(halt, "--reason", "again"); !strings.HasPrefix(got, "already halted: maintenance") {
		t.Errorf("second halt = %q", got)
	}
	var st killswitch.Status
	if err := json.Unmarshal([]byte(run(status, "--json")), &st); err != nil || !st.Halted || st.Reason.Who != "alice" {
		t.Errorf("status --json = %+v, %v", st, err)
	}
	if got := run(resume); got != "not halted" {
		t.Errorf("resume = %q", got)
	}
	if got := run(status); !strings.HasPrefix(got, "kill switch: not halted\n  file "+file+": absent") {
		t.Errorf("status after resume = %q", got)
	}

	var out, errw bytes.Buffer
	if err := haltMain(ctx, []string{"--file", file}, &out, &errw); err == nil {
		t.Error("halt without --reason succeeded")
	}
	if code := dispatch([]string{"halt", "--file", file}, &errw); code != 2 {
		t.Errorf("keel halt without --reason exits %d, want 2", code)
	}
}

// writeConfig writes a bot config naming its kill-switch file, plus extra YAML.
func writeConfig(t *testing.T, switchFile, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bot.yaml")
	yaml := "killswitch:\n  file: " + switchFile + "\n" + extra
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHaltUsesTheBotsConfig: with --config, the commands act on the killswitch.file that
// config names, and they need none of the bot's secrets (a binance config without a key).
func TestHaltUsesTheBotsConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "HALT-HERE")
	cfg := writeConfig(t, file, "exchange:\n  name: binance\n  base_url: https://api.binance.com\n")
	var out, errw bytes.Buffer
	if err := haltMain(context.Background(), []string{"--config", cfg, "--reason", "deploy"}, &out, &errw); err != nil {
		t.Fatalf("halt --config: %v (%s)", err, errw.String())
	}
	bot, err := killswitch.File(file)
	if err != nil {
		t.Fatal(err)
	}
	if halted, r := bot.Halted(); !halted || r.Why != "deploy" {
		t.Fatalf("the bot's switch file: halted %v, reason %+v", halted, r)
	}
	out.Reset()
	if err := resumeMain(context.Background(), []string{"--config", cfg}, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("resume --config left %s: %v", file, err)
	}
	if code := dispatch([]string{"status", "--config", cfg, "--file", file}, &errw); code != 2 {
		t.Errorf("--config with --file exits %d, want 2", code)
	}
	errw.Reset()
	bad := writeConfig(t, file, "killswitch:\n  poll_interval: often\n")
	if code := dispatch([]string{"status", "--config", bad}, &errw); code != 1 || !strings.Contains(errw.String(), "killswitch") {
		t.Errorf("a bad config exits %d with %q, want 1 naming the key", code, errw.String())
	}
}

// TestHaltReachesTheFleet: with store.url in the config, keel halt records the halt in the
// fleet's Redis key, where every instance (with its own file) sees it; resume clears it.
func TestHaltReachesTheFleet(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	fleetYAML := "store:\n  url: redis://" + fleettest.Addr + "/0\n  prefix: \"" + prefix + "\"\n"
	cfg := writeConfig(t, filepath.Join(t.TempDir(), "KILLSWITCH"), fleetYAML)
	var out, errw bytes.Buffer
	if err := haltMain(context.Background(), []string{"--config", cfg, "--reason", "fleet-wide"}, &out, &errw); err != nil {
		t.Fatalf("halt: %v (%s)", err, errw.String())
	}
	if v, err := rdb.Get(context.Background(), prefix+"killswitch").Result(); err != nil || !strings.Contains(v, "fleet-wide") {
		t.Fatalf("fleet key = %q, %v", v, err)
	}
	// Another instance: same fleet, its own kill-switch file.
	other := writeConfig(t, filepath.Join(t.TempDir(), "KILLSWITCH"), fleetYAML)
	sw, closeSwitch, err := runtime.OpenKillSwitch(runtime.LoadOptions{Path: other, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSwitch()
	if halted, r := sw.Halted(); !halted || r.Why != "fleet-wide" {
		t.Fatalf("another instance: halted %v (%+v)", halted, r)
	}
	out.Reset()
	if err := statusMain([]string{"--config", cfg}, &out, &errw); err != nil || !strings.Contains(out.String(), "fleet key "+prefix+"killswitch in redis://") {
		t.Fatalf("status in fleet mode does not name the fleet key: %v\n%s", err, out.String())
	}
	if err := resumeMain(context.Background(), []string{"--config", cfg, "--reason", "all clear", "--who", "bob"}, &out, &errw); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(context.Background(), prefix+"killswitch").Result(); n != 0 {
		t.Fatal("resume left the fleet halted")
	}
	// The resume is recorded (who, when, why, the halt it lifted): only such a record lifts
	// the other instances' halt.
	rec := rdb.Get(context.Background(), prefix+"killswitch:resume").Val()
	for _, want := range []string{`"who":"bob"`, `"why":"all clear"`, `"when":`, `"lifted":{`, "fleet-wide"} {
		if !strings.Contains(rec, want) {
			t.Errorf("resume record %s lacks %s", rec, want)
		}
	}
}
