package runtime

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestTuneGC: Run sets the collector's target to gcPercent when the environment sets none,
// and leaves GOGC's setting alone.
func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	tuneGC()
	if got := debug.SetGCPercent(150); got != 150 {
		t.Fatalf("with GOGC=150 set, the target became %d", got)
	}

	os.Unsetenv("GOGC") // t.Setenv restores it
	restore := tuneGC()
	if got := debug.SetGCPercent(gcPercent); got != gcPercent {
		t.Fatalf("without GOGC, the target is %d, want %d", got, gcPercent)
	}
	restore()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Fatalf("restore left %d, want the 150 before", got)
	}
}
