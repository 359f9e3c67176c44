package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/internal/syncbuf"
)

// botProcess is the example bot run as its own process (the test binary standing in for it,
// see TestMain) against a simulator of the test's on loopback, as an operator runs it.
type botProcess struct {
	cmd    *exec.Cmd
	lines  chan map[string]any // its JSON log lines, in order; closed at its exit
	stderr *syncbuf.Buffer
}

// startBotProcess starts the bot trading on srv (Binance's dialect, REST polling) with env
// added to its environment.
func startBotProcess(t *testing.T, srv *sim.Server, env ...string) *botProcess {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(),
		"MARKETMAKER_TEST_RUN_MAIN=1",
		"KEEL_JOURNAL_PATH="+filepath.Join(dir, "journal.db"),
		"KEEL_KILLSWITCH_FILE="+filepath.Join(dir, "KILLSWITCH"),
		"KEEL_ADMIN_LISTEN=127.0.0.1:0",
		"KEEL_LOG_FORMAT=json",
		"KEEL_EXCHANGE_NAME=binance",
		"KEEL_EXCHANGE_BASE_URL="+srv.URL(),
		"KEEL_EXCHANGE_API_KEY="+sim.DefaultAPIKey,
		"KEEL_EXCHANGE_API_SECRET="+sim.DefaultAPISecret,
		"KEEL_MARKET_STREAMS=false",
		"KEEL_MARKET_POLL_INTERVAL=200ms",
	), env...)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &botProcess{cmd: cmd, lines: make(chan map[string]any, 4096), stderr: &syncbuf.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				select {
				case p.lines <- ev:
				default: // the test reads what it waits for; never block the bot
				}
			}
		}
	}()
	return p
}

// waitLine reads the bot's log until a line satisfies match (checked with each line, so
// conditions on the simulator's state are checked as often as the bot logs), and returns it.
func (p *botProcess) waitLine(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-p.lines:
			if !ok {
				t.Fatalf("the bot exited while waiting for %s; stderr:\n%s", what, p.stderr.String())
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// stop sends SIGTERM and returns the exit code, the log lines after it and stderr.
func (p *botProcess) stop(t *testing.T) (int, []map[string]any, string) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var tail []map[string]any
	for ev := range p.lines {
		tail = append(tail, ev)
	}
	err := p.cmd.Wait()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, tail, p.stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), tail, p.stderr.String()
	}
	t.Fatalf("waiting for the bot: %v", err)
	return 0, nil, ""
}

func resting(ev map[string]any) bool {
	// An attempt that carries an idempotency key is a placement; answered 200 without an
	// error code, the order rests.
	return ev["idempotency_key"] != nil && ev["idempotency_key"] != "" && ev["status"] == 200.0 && ev["error_code"] == 0.0
}

func liveAt(srv *sim.Server) []string {
	var ids []string
	for _, o := range srv.Orders() {
		if o.Status == "NEW" {
			ids = append(ids, o.ClientOrderID)
		}
	}
	return ids
}

// TestShutdownAfterAuthTripExitsFromTheJournal: after an auth failure tripped the kill
// switch, the open orders can no longer be listed (the auth breaker is open), so the exit
// code comes from the journal. With cancel_on_trip having pulled every quote (the exchange
// refused the key for new orders only), SIGTERM exits 0, saying why; with the key revoked
// outright the cancels fail too, and the bot exits 1 naming every order still live at the
// exchange.
func TestShutdownAfterAuthTripExitsFromTheJournal(t *testing.T) {
	t.Run("nothing open: exit 0", func(t *testing.T) {
		t.Parallel()
		srv := simOnLoopback(t)
		p := startBotProcess(t, srv, "KEEL_KILLSWITCH_CANCEL_ON_TRIP=true")
		p.waitLine(t, "a resting quote", resting)
		srv.SetFaults(sim.Faults{AuthErrorRate: 1, Paths: []string{"/api/v3/order"}, Methods: []string{http.MethodPost}})
		p.waitLine(t, "the kill switch tripped by the refused placement", func(ev map[string]any) bool {
			return ev["event"] == "kill_switch_trip"
		})
		p.waitLine(t, "no order live at the exchange", func(map[string]any) bool { return len(liveAt(srv)) == 0 })
		code, tail, stderr := p.stop(t)
		if code != 0 {
			t.Fatalf("exit %d after an auth trip with nothing open, want 0; stderr:\n%s", code, stderr)
		}
		if !anyLine(tail, "the journal proves no order of this bot open") {
			t.Fatalf("the log does not say why it exited 0 although cancelling failed: %v", tail)
		}
	})
	t.Run("orders live: exit 1 naming them", func(t *testing.T) {
		t.Parallel()
		srv := simOnLoopback(t)
		p := startBotProcess(t, srv, "KEEL_KILLSWITCH_CANCEL_ON_TRIP=true")
		p.waitLine(t, "a resting quote", resting)
		if err := srv.RevokeKey(sim.DefaultAPIKey); err != nil {
			t.Fatal(err)
		}
		p.waitLine(t, "the kill switch tripped by the revoked key", func(ev map[string]any) bool {
			return ev["event"] == "kill_switch_trip"
		})
		code, tail, stderr := p.stop(t)
		live := liveAt(srv)
		if code != 1 || len(live) == 0 {
			t.Fatalf("exit %d with %d orders live at the exchange, want 1; stderr:\n%s", code, len(live), stderr)
		}
		var named map[string]any
		for _, ev := range tail {
			if ev["client_order_ids"] != nil {
				named = ev
			}
		}
		for _, id := range live {
			if !strings.Contains(stderr, id) {
				t.Fatalf("stderr does not name live order %s:\n%s", id, stderr)
			}
			if named == nil || !strings.Contains(strings.Join(anyStrings(named["client_order_ids"]), ","), id) {
				t.Fatalf("no error line naming live order %s in client_order_ids: %v", id, named)
			}
		}
	})
}

func simOnLoopback(t *testing.T) *sim.Server {
	t.Helper()
	srv, err := sim.New(sim.Config{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func anyLine(lines []map[string]any, msg string) bool {
	for _, ev := range lines {
		if m, _ := ev["message"].(string); strings.Contains(m, msg) {
			return true
		}
	}
	return false
}

func anyStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
