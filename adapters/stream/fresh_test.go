package stream_test

import (
	"testing"

	"github.com/keelbot/keel/adapters/stream"
)

// TestFreshnessReportsChangesOnce: a handler hears each change of a symbol's state once, not
// the repeats a reconnect makes, and not a never-fresh symbol going stale without a reason.
func TestFreshnessReportsChangesOnce(t *testing.T) {
	var f stream.Freshness
	var heard []string
	notify := func(symbol string, fresh bool, reason string) {
		heard = append(heard, symbol+map[bool]string{true: " fresh", false: " stale: " + reason}[fresh])
	}
	f.Set("BTC", false, "", notify)          // never fresh, no reason: silent
	f.Set("ETH", false, "resyncing", notify) // never fresh, with a reason: heard
	f.Set("BTC", true, "", notify)
	f.Set("BTC", true, "", notify) // a repeat
	f.Set("BTC", false, "stream down", notify)
	f.Set("BTC", false, "stream down", notify) // a repeat
	want := []string{"ETH stale: resyncing", "BTC fresh", "BTC stale: stream down"}
	if len(heard) != len(want) {
		t.Fatalf("heard %q, want %q", heard, want)
	}
	for i := range want {
		if heard[i] != want[i] {
			t.Fatalf("heard %q, want %q", heard, want)
		}
	}
	f.Set("BTC", true, "", nil) // no handler: nothing to call
}
