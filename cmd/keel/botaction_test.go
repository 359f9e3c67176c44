package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// TestActionsGoThroughTheBot runs keel halt, resume, cancel-all and flatten against a running
// bot as an operator would: with KEEL_ADMIN_TOKEN they act through its admin server (the
// bot's switch changes at once, not at its next file poll); cancel-all and flatten refuse
// without the token or without a bot.
func TestActionsGoThroughTheBot(t *testing.T) {
	dir := t.TempDir()
	admin := freeAddr(t)
	cfg := filepath.Join(dir, "bot.yaml")
	yaml := "killswitch:\n  file: " + filepath.Join(dir, "KILLSWITCH") + "\n  poll_interval: 1s\nadmin:\n  listen: " + admin +
		"\njournal:\n  path: " + filepath.Join(dir, "j.db") + "\nmarket:\n  streams: false\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "cli-test-token-42"
	var sw *killswitch.Switch
	app := fxtest.New(t, runtime.Module, fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		strategy.Module("marketmaker", func(strategy.Env, map[string]any) (strategy.Strategy, error) { return idle{}, nil }),
		runtime.WithLoadOptions(runtime.LoadOptions{Path: cfg, Environ: []string{"KEEL_ADMIN_TOKEN=" + token}}),
		runtime.WithLogOutput(&syncbuf.Buffer{}), fx.Populate(&sw))
	app.RequireStart()
	ctx := context.Background()
	run := func(fn func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error, args ...string) (string, error) {
		var out, errw bytes.Buffer
		err := fn(ctx, append([]string{"--config", cfg}, args...), &out, &errw)
		return out.String() + errw.String(), err
	}
	halt := func(c context.Context, a []string, o, e *bytes.Buffer) error { return haltMain(c, a, o, e) }
	resume := func(c context.Context, a []string, o, e *bytes.Buffer) error { return resumeMain(c, a, o, e) }
	action := func(name string) func(context.Context, []string, *bytes.Buffer, *bytes.Buffer) error {
		return func(c context.Context, a []string, o, e *bytes.Buffer) error { return botActionMain(c, name, a, o, e) }
	}

	t.Setenv("KEEL_ADMIN_TOKEN", "")
	if out, err := run(action("flatten")); err == nil || !strings.Contains(err.Error(), "KEEL_ADMIN_TOKEN") {
		t.Fatalf("flatten without a token: %v %s", err, out)
	}
	t.Setenv("KEEL_ADMIN_TOKEN", token)
	// Through the admin server the bot changes at once (its file poll would take up to 1 s).
	if out, err := run(halt, "--reason", "wind down", "--who", "bob", "--reduce-only"); err != nil || !strings.Contains(out, "done by the bot on "+admin) {
		t.Fatalf("halt: %v %s", err, out)
	}
	if !sw.ReduceOnly() {
		t.Fatalf("the bot's switch after keel halt --reduce-only: %v", sw.State())
	}
	if out, err := run(action("cancel-all"), "--symbol", "BTCUSDT"); err != nil || !strings.Contains(out, `"cancelled":[]`) {
		t.Fatalf("cancel-all: %v %s", err, out)
	}
	if out, err := run(action("flatten")); err != nil || !strings.Contains(out, `"cancelled":[]`) {
		t.Fatalf("flatten: %v %s", err, out)
	}
	if out, err := run(resume, "--reason", "done"); err != nil || !strings.Contains(out, "done by the bot") {
		t.Fatalf("resume: %v %s", err, out)
	}
	if halted, _ := sw.Halted(); halted {
		t.Fatal("the bot is still halted after keel resume")
	}
	t.Setenv("KEEL_ADMIN_TOKEN", "wrong-token")
	if out, err := run(halt, "--reason", "fallback"); err != nil || !strings.Contains(out, "using the kill-switch file instead") {
		t.Fatalf("halt with a wrong token: %v %s, want the file used", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "KILLSWITCH")); err != nil {
		t.Fatalf("the file fallback wrote no kill-switch file: %v", err)
	}
	app.RequireStop()
	t.Setenv("KEEL_ADMIN_TOKEN", token)
	if out, err := run(action("cancel-all")); err == nil || !strings.Contains(err.Error(), "needs a running bot") {
		t.Fatalf("cancel-all without a bot: %v %s", err, out)
	}
}

// TestHaltReduceOnlyByFile: without a bot, keel halt --reduce-only writes the mode into the
// kill-switch file's reason, where a bot (starting or running) reads it.
func TestHaltReduceOnlyByFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "KILLSWITCH")
	var out, errw bytes.Buffer
	if err := haltMain(context.Background(), []string{"--file", file, "--reason", "wind down", "--reduce-only"}, &out, &errw); err != nil {
		t.Fatalf("halt --reduce-only: %v (%s)", err, errw.String())
	}
	if !strings.Contains(out.String(), "reduce-only") {
		t.Fatalf("halt said %q, want the mode named", out.String())
	}
	sw, err := killswitch.File(file)
	if err != nil {
		t.Fatal(err)
	}
	if !sw.ReduceOnly() {
		t.Fatalf("the file's switch: %v, want halted reduce-only", sw.State())
	}
}
