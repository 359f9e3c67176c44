package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A config mistake stops the bot before it starts with exactly one line on stderr naming the
// key, whether the runtime or the strategy finds it, and exit code 1: the traps of issue 11.
func TestConfigMistakesStopTheBotWithOneLine(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, want string
	}{
		{"misspelled strategy section", "strategies:\n  marketmakr:\n    spread_bps: 50\n",
			`keel: config: strategies.marketmakr: no strategy named "marketmakr" in this binary (it runs strategies marketmaker): check the section's name`},
		{"strategy's own validation", "strategies:\n  marketmaker:\n    spread_bps: -5\n",
			"keel: config: strategies.marketmaker.spread_bps: must be > 0, got -5"},
		{"bare duration in the strategy section", "strategies:\n  marketmaker:\n    min_requote: 2\n",
			"keel: config: strategies.marketmaker.min_requote: durations need a unit: 2s or 2ms, not a bare 2 (it would be read as nanoseconds)"},
		{"bare duration in the runtime", "shutdown:\n  timeout: 5\n",
			"keel: config: shutdown.timeout: durations need a unit: 5s or 5ms, not a bare 5 (it would be read as nanoseconds)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "bot.yaml")
			if err := os.WriteFile(cfg, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "MARKETMAKER_TEST_RUN_MAIN=1", "MARKETMAKER_TEST_ARGS=--config "+cfg,
				"KEEL_JOURNAL_PATH="+filepath.Join(dir, "journal.db"), "KEEL_KILLSWITCH_FILE="+filepath.Join(dir, "KILLSWITCH"),
				"KEEL_ADMIN_LISTEN=127.0.0.1:0")
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want code 1; stderr:\n%s", err, stderr.String())
			}
			if got := strings.TrimRight(stderr.String(), "\n"); got != tt.want {
				t.Fatalf("stderr:\n%s\nwant the one line:\n%s", got, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "journal.db")); err == nil {
				t.Fatal("the journal was created: the bot got past its configuration")
			}
		})
	}
}
