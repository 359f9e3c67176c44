package main

import (
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
)

// keel version, from a built binary as an operator runs it: the module, its version and the
// Go version it was built with (and the commit when built from a git work tree).
func TestVersionOfABuiltBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "keel")
	// -buildvcs=true: stamp the commit even where GOFLAGS turns stamping off.
	vcs := true
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Logf("go build -buildvcs=true: %v (%s); building without the commit", err, strings.TrimSpace(string(out)))
		vcs = false
		if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(string(out))
	if !strings.HasPrefix(got, "keel github.com/keelbot/keel ") || !strings.HasSuffix(got, goruntime.Version()) {
		t.Fatalf("keel version = %q", got)
	}
	// The go command stamps the commit from a clone's .git directory; a git worktree's .git
	// is a file, which it does not follow.
	if st, err := os.Stat("../../.git"); vcs && err == nil && st.IsDir() && !strings.Contains(got, " commit ") {
		t.Fatalf("built in a git work tree, keel version names no commit: %q", got)
	}
	t.Log(got)
}
