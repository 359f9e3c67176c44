package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

type idle struct{}

func (idle) OnEvent(context.Context, strategy.Event) error { return nil }

// freeAddr is a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// keel status says what it knows and how: the file present or absent, and whether a bot
// answers on the config's admin address; it never says "running" when no bot runs
// (issue 11), and says a bot answers when one does.
func TestStatusSaysWhetherABotAnswers(t *testing.T) {
	dir := t.TempDir()
	admin := freeAddr(t)
	cfg := filepath.Join(dir, "bot.yaml")
	yaml := "killswitch:\n  file: " + filepath.Join(dir, "KILLSWITCH") + "\nadmin:\n  listen: " + admin +
		"\njournal:\n  path: " + filepath.Join(dir, "j.db") + "\nmarket:\n  streams: false\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	status := func(args ...string) string {
		t.Helper()
		var out, errw bytes.Buffer
		if err := statusMain(append([]string{"--config", cfg}, args...), &out, &errw); err != nil {
			t.Fatalf("status: %v (%s)", err, errw.String())
		}
		return out.String()
	}
	got := status()
	if strings.Contains(got, "running") || !strings.Contains(got, "kill switch: not halted\n") ||
		!strings.Contains(got, ": absent\n") || !strings.Contains(got, "bot: none answers on "+admin) {
		t.Fatalf("no bot runs, status says:\n%s", got)
	}

	app := fxtest.New(t, runtime.Module, fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		strategy.Module("marketmaker", func(strategy.Env, map[string]any) (strategy.Strategy, error) { return idle{}, nil }),
		runtime.WithLoadOptions(runtime.LoadOptions{Path: cfg, Environ: []string{}}),
		runtime.WithLogOutput(&syncbuf.Buffer{}))
	app.RequireStart()
	defer app.RequireStop()
	got = status()
	// Answering, healthy or still reconciling (503 "not started"): either way a bot runs there.
	if !strings.Contains(got, "bot: answering on "+admin) {
		t.Fatalf("a bot runs, status says:\n%s", got)
	}
	var rep struct {
		Halted bool `json:"halted"`
		File   struct {
			Path    string `json:"path"`
			Present bool   `json:"present"`
		} `json:"file"`
		Bot struct {
			Admin   string `json:"admin"`
			Answers bool   `json:"answers"`
		} `json:"bot"`
	}
	if err := json.Unmarshal([]byte(status("--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Halted || rep.File.Present || !rep.Bot.Answers || rep.Bot.Admin != admin {
		t.Fatalf("status --json: %+v", rep)
	}
}
