package runtime_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/runtime"
)

// TestLogFormatFollowsTheTerminal: format auto writes human-readable lines to a terminal (a
// real pseudo-terminal here) and JSON with ts and bot_instance_id to anything else.
func TestLogFormatFollowsTheTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal on this machine: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	auto := runtime.LogConfig{Level: "info", Format: "auto"}
	ttyLog := runtime.NewLogger(auto, tty, "tty1")
	ttyLog.Info().Str("symbol", "BTCUSDT").Msg("quoting")
	line, err := readLine(ptmx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(strings.TrimSpace(line), "{") || !strings.Contains(line, "quoting") || !strings.Contains(line, "symbol=") {
		t.Fatalf("terminal line %q is not console output", line)
	}

	file, err := os.Create(filepath.Join(t.TempDir(), "log.json"))
	if err != nil {
		t.Fatal(err)
	}
	fileLog := runtime.NewLogger(auto, file, "file1")
	fileLog.Info().Msg("quoting")
	_ = file.Close()
	raw, _ := os.ReadFile(file.Name())
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("file output %q is not JSON: %v", raw, err)
	}
	if ev["bot_instance_id"] != "file1" || ev["ts"] == nil || ev["message"] != "quoting" {
		t.Fatalf("file event %v", ev)
	}
}

// readLine reads one line from the terminal's master side, giving up after 5 s.
func readLine(f *os.File) (string, error) {
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(f).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		return line, nil
	case <-time.After(5 * time.Second):
		return "", errors.New("nothing written to the terminal")
	}
}

// TestFxEventsGoThroughZerolog: fx's own events are JSON log lines of the bot's logger; a
// failed constructor is an error naming it, and the chatter of a normal start stays below info.
func TestFxEventsGoThroughZerolog(t *testing.T) {
	var out syncbuf.Buffer
	lg := runtime.NewLogger(runtime.LogConfig{Level: "info", Format: "json"}, &out, "fx1")
	app := fx.New(
		fx.WithLogger(func() fxevent.Logger { return runtime.NewFxLogger(lg) }),
		fx.Provide(func() (*os.File, error) { return nil, errors.New("no file for you") }),
		fx.Invoke(func(*os.File) {}),
	)
	if app.Err() == nil {
		t.Fatal("a failing constructor started")
	}
	var sawError bool
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("fx wrote a non-JSON line %q", line)
		}
		if ev["component"] != "fx" || ev["bot_instance_id"] != "fx1" {
			t.Fatalf("fx event without its context: %v", ev)
		}
		if ev["level"] == "error" && strings.Contains(line, "no file for you") {
			sawError = true
		}
		if ev["level"] == "debug" {
			t.Fatalf("debug chatter at info level: %v", ev)
		}
	}
	if !sawError {
		t.Fatalf("the failing constructor was not logged as an error:\n%s", out.String())
	}
}
