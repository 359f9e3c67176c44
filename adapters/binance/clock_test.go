package binance

import (
	"errors"
	"testing"
	"time"

	"github.com/keelbot/keel/clock"
)

func TestTimeKeeper(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	clk := clock.NewFake(t0)
	k := &timeKeeper{clock: clk, recvWindow: 5 * time.Second}
	if !k.needsSync(t0) {
		t.Fatal("a fresh keeper must sync")
	}
	if _, err := k.timestamp(t0); err != nil {
		t.Fatalf("unsynced timestamp: %v", err)
	}

	// Sent at t0, answered 100ms later; the server read its clock half-way, 3s ahead.
	off := k.record(t0.Add(50*time.Millisecond+3*time.Second), t0, t0.Add(100*time.Millisecond))
	if off != 3*time.Second {
		t.Fatalf("offset %v, want 3s", off)
	}
	if k.needsSync(t0.Add(time.Second)) {
		t.Fatal("fresh offset needs no sync")
	}
	now := t0.Add(time.Second)
	ts, err := k.timestamp(now)
	if err != nil || ts != now.Add(3*time.Second).UnixMilli() {
		t.Fatalf("timestamp %d %v", ts, err)
	}

	k.markStale()
	if !k.needsSync(now) {
		t.Fatal("a -1021 must force a resync")
	}
	k.record(t0.Add(50*time.Millisecond), t0, t0.Add(100*time.Millisecond))
	if !k.needsSync(t0.Add(resyncAfter + time.Second)) {
		t.Fatal("an old offset must be refreshed")
	}

	// Beyond recvWindow either way: refused.
	for _, skew := range []time.Duration{6 * time.Second, -6 * time.Second, 2 * time.Minute} {
		k.record(t0.Add(50*time.Millisecond+skew), t0, t0.Add(100*time.Millisecond))
		_, err := k.timestamp(t0.Add(time.Second))
		var de *ClockDriftError
		if !errors.Is(err, ErrClockDrift) || !errors.As(err, &de) || de.Offset != skew {
			t.Fatalf("skew %v: %v", skew, err)
		}
	}
	// Exactly recvWindow is still accepted.
	k.record(t0.Add(50*time.Millisecond+5*time.Second), t0, t0.Add(100*time.Millisecond))
	if _, err := k.timestamp(t0); err != nil {
		t.Fatalf("offset == recvWindow: %v", err)
	}
}

// With the wall clock, a step of the local clock after the sync would show as a difference
// between wall and monotonic elapsed time. A test cannot step the host clock, so this only
// pins that readings with and without monotonic parts report no step when there is none.
func TestTimeKeeperWithoutStep(t *testing.T) {
	k := &timeKeeper{recvWindow: 5 * time.Second}
	sent := time.Now()
	k.record(sent.Round(0), sent, sent) // server == local at the sync
	later := sent.Add(time.Second)      // keeps the monotonic reading
	if off := k.currentOffset(later); off.Abs() > time.Millisecond {
		t.Fatalf("no step, offset %v", off)
	}
	// Clocks without monotonic readings (fakes) report no step.
	if off := k.currentOffset(later.Round(0)); off.Abs() > time.Millisecond {
		t.Fatalf("fake clock, offset %v", off)
	}
}
