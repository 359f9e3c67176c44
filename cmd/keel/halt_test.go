package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelbot/keel/killswitch"
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

	if got := run(status); got != "running" {
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
	if got := run(resume); got != "running" {
		t.Errorf("resume = %q", got)
	}
	if got := run(status); got != "running" {
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
