package main

// The files Keel ships for deployment: the Dockerfile at the repository root and the systemd
// unit in deploy/.

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/runtime"
)

// shutdownTimeout is the shutdown.timeout the shipped defaults give the bot.
func shutdownTimeout(t *testing.T) time.Duration {
	t.Helper()
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return c.Shutdown.Timeout
}

// directives reads "Key=Value" or "KEY value" lines.
func directives(t *testing.T, path string, sep string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, _ := strings.Cut(line, sep)
		out[strings.TrimSpace(k)] = append(out[strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	return out
}

// The unit stops the bot with SIGTERM and waits longer than its shutdown.timeout before
// SIGKILL, restarts it on failure only, and keeps the journal under StateDirectory.
func TestSystemdUnit(t *testing.T) {
	d := directives(t, "../../deploy/keel.service", "=")
	want := map[string]string{"KillSignal": "SIGTERM", "Restart": "on-failure", "StateDirectory": "keel"}
	for k, v := range want {
		if len(d[k]) != 1 || d[k][0] != v {
			t.Errorf("%s=%v, want %s", k, d[k], v)
		}
	}
	stop, err := time.ParseDuration(strings.Join(d["TimeoutStopSec"], "") + "s")
	if err != nil || stop <= shutdownTimeout(t) {
		t.Errorf("TimeoutStopSec=%v must exceed shutdown.timeout %s", d["TimeoutStopSec"], shutdownTimeout(t))
	}
	env := strings.Join(d["Environment"], " ")
	if !strings.Contains(env, "KEEL_JOURNAL_PATH=/var/lib/keel/") || !strings.Contains(env, "KEEL_KILLSWITCH_FILE=/var/lib/keel/") {
		t.Errorf("journal and kill switch not under StateDirectory: %s", env)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit's syntax is not verified here")
	}
	// verify wants ExecStart's binary to exist: point it at a built bot, nothing else changed.
	dir := t.TempDir()
	bot := filepath.Join(dir, "keel-bot")
	if out, err := exec.Command("go", "build", "-o", bot, "../../examples/marketmaker").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile("../../deploy/keel.service")
	unit = []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/keel-bot", bot))
	path := filepath.Join(dir, "keel.service")
	if err := os.WriteFile(path, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// Outside a booted systemd (a container) verify can complain about the manager itself;
	// only lines about our unit count.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "keel.service") && !strings.Contains(line, "secrets.env") {
			ours = append(ours, line)
		}
	}
	if len(ours) > 0 {
		t.Fatalf("systemd-analyze verify (%v):\n%s", err, strings.Join(ours, "\n"))
	}
	t.Logf("systemd-analyze verify: %v %s", err, strings.TrimSpace(string(out)))
}

// The Dockerfile builds a static binary in one stage and ships it non-root in another, with
// the journal on a volume and SIGTERM as the stop signal.
func TestDockerfile(t *testing.T) {
	d := directives(t, "../../Dockerfile", " ")
	if len(d["FROM"]) < 2 {
		t.Errorf("FROM %v: want a multi-stage build", d["FROM"])
	}
	if got := d["STOPSIGNAL"]; len(got) != 1 || got[0] != "SIGTERM" {
		t.Errorf("STOPSIGNAL %v", got)
	}
	if got := d["USER"]; len(got) != 1 || strings.HasPrefix(got[0], "0") || strings.HasPrefix(got[0], "root") {
		t.Errorf("USER %v: want a non-root user", got)
	}
	if got := strings.Join(d["VOLUME"], " "); !strings.Contains(got, "/var/lib/keel") {
		t.Errorf("VOLUME %v: want the journal's directory", got)
	}
	if got := strings.Join(d["RUN"], " "); !regexp.MustCompile(`CGO_ENABLED=0 go build`).MatchString(got) {
		t.Errorf("RUN %v: want a static (CGO_ENABLED=0) build", got)
	}

	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not installed: the image is not built here")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, docker, "info").CombinedOutput(); err != nil {
		t.Skipf("no docker engine answers (docker info: %v): the image is not built here\n%s", err, firstLine(out))
	}
	tag := "keel-test:" + time.Now().Format("20060102150405")
	build := exec.Command(docker, "build", "-t", tag, "../..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	defer exec.Command(docker, "rmi", "-f", tag).Run()
	out, err := exec.Command(docker, "image", "inspect", tag).Output()
	if err != nil {
		t.Fatal(err)
	}
	var img []struct {
		Config struct {
			User       string
			StopSignal string
			Volumes    map[string]any
		}
	}
	if err := json.Unmarshal(out, &img); err != nil || len(img) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if c := img[0].Config; c.User == "" || c.User == "root" || c.StopSignal != "SIGTERM" || c.Volumes["/var/lib/keel"] == nil {
		t.Fatalf("image config %+v", c)
	}
	if out, err := exec.Command(docker, "run", "--rm", "--entrypoint", "/usr/local/bin/keel", tag, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), "github.com/keelbot/keel") {
		t.Fatalf("keel version in the image: %v %s", err, out)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
