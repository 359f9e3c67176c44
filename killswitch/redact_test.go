package killswitch_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelbot/keel/internal/redact"
	"github.com/keelbot/keel/killswitch"
)

// TestReasonMasksConfiguredSecrets: a reason that quotes a configured secret (an exchange's
// error echoing the key) is written, reported and read back with the secret masked, also
// when someone else wrote it into the file.
func TestReasonMasksConfiguredSecrets(t *testing.T) {
	const key = "ks-short-key-17ch"
	redact.Add(key)
	f := newFixture(t, nil)
	if err := f.sw.TripAuto(ctx, "auth failure: Invalid API-key "+key); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), key) || !strings.Contains(string(file), "API-key "+redact.Mask) {
		t.Fatalf("file: %s", file)
	}
	if st := f.sw.State(); strings.Contains(st.String(), key) {
		t.Fatalf("state: %s", st)
	}

	// A reason written by another writer is masked when read.
	other := filepath.Join(t.TempDir(), "KILLSWITCH")
	if err := os.WriteFile(other, []byte(`{"who":"ops","why":"pasted `+key+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	sw, err := killswitch.File(other)
	if err != nil {
		t.Fatal(err)
	}
	if halted, r := sw.Halted(); !halted || strings.Contains(r.Why, key) {
		t.Fatalf("halted %v, reason %+v", halted, r)
	}
}
