package rest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
)

func TestTimeKeeper(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	clk := clock.NewFake(t0)
	k := rest.NewTimeKeeper("test", clk, 5*time.Second)
	if !k.NeedsSync(t0) {
		t.Fatal("a fresh keeper must sync")
	}
	if _, err := k.Timestamp(t0); err != nil {
		t.Fatalf("unsynced timestamp: %v", err)
	}

	// Sent at t0, answered 100ms later; the server read its clock half-way, 3s ahead.
	off := k.Record(t0.Add(50*time.Millisecond+3*time.Second), t0, t0.Add(100*time.Millisecond))
	if off != 3*time.Second {
		t.Fatalf("offset %v, want 3s", off)
	}
	if k.NeedsSync(t0.Add(time.Second)) {
		t.Fatal("fresh offset needs no sync")
	}
	now := t0.Add(time.Second)
	ts, err := k.Timestamp(now)
	if err != nil || !ts.Equal(now.Add(3*time.Second)) {
		t.Fatalf("timestamp %v %v", ts, err)
	}

	k.MarkStale()
	if !k.NeedsSync(now) {
		t.Fatal("an exchange saying our timestamp is off must force a resync")
	}
	k.Record(t0.Add(50*time.Millisecond), t0, t0.Add(100*time.Millisecond))
	if !k.NeedsSync(t0.Add(rest.DefaultResyncAfter + time.Second)) {
		t.Fatal("an old offset must be refreshed")
	}

	// Beyond the window either way: refused.
	for _, skew := range []time.Duration{6 * time.Second, -6 * time.Second, 2 * time.Minute} {
		k.Record(t0.Add(50*time.Millisecond+skew), t0, t0.Add(100*time.Millisecond))
		_, err := k.Timestamp(t0.Add(time.Second))
		var de *rest.ClockDriftError
		if !errors.Is(err, rest.ErrClockDrift) || !errors.As(err, &de) || de.Offset != skew {
			t.Fatalf("skew %v: %v", skew, err)
		}
	}
	// Exactly the window is still accepted.
	k.Record(t0.Add(50*time.Millisecond+5*time.Second), t0, t0.Add(100*time.Millisecond))
	if _, err := k.Timestamp(t0); err != nil {
		t.Fatalf("offset == window: %v", err)
	}
}

// With the wall clock, a step of the local clock after the sync would show as a difference
// between wall and monotonic elapsed time. A test cannot step the host clock, so this only
// pins that readings with and without monotonic parts report no step when there is none.
func TestTimeKeeperWithoutStep(t *testing.T) {
	k := rest.NewTimeKeeper("test", clock.Real{}, 5*time.Second)
	sent := time.Now()
	k.Record(sent.Round(0), sent, sent) // server == local at the sync
	later := sent.Add(time.Second)      // keeps the monotonic reading
	if off := k.Offset(later); off.Abs() > time.Millisecond {
		t.Fatalf("no step, offset %v", off)
	}
	// Clocks without monotonic readings (fakes) report no step.
	if off := k.Offset(later.Round(0)); off.Abs() > time.Millisecond {
		t.Fatalf("fake clock, offset %v", off)
	}
}

// TestTimeKeeperRefusals: the first timestamp refusal after a measurement asks for a new one
// and is not fatal; a refusal of a request signed with that new offset, before any request
// signed with it was accepted, is fatal; a request in flight from before the new measurement
// proves nothing either way; an accepted request proves the offset, so the next step is again
// met with a measurement.
func TestTimeKeeperRefusals(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000).UTC()
	k := rest.NewTimeKeeper("test", clock.NewFake(t0), 5*time.Second)
	measure := func(at time.Time) { k.Record(at, at, at) }
	measure(t0)

	if k.Refused(t0.Add(time.Second)) {
		t.Fatal("the first refusal after a routine measurement is fatal")
	}
	if !k.NeedsSync(t0.Add(time.Second)) {
		t.Fatal("a refusal must ask for a new measurement")
	}
	measure(t0.Add(2 * time.Second))
	if k.Refused(t0.Add(1500 * time.Millisecond)) {
		t.Fatal("a request signed before the new measurement made the refusal fatal")
	}
	if k.NeedsSync(t0.Add(3 * time.Second)) {
		t.Fatal("a stale refusal asked for another measurement")
	}
	if !k.Refused(t0.Add(3 * time.Second)) {
		t.Fatal("a refusal of a request signed with the re-measured offset is not fatal")
	}

	measure(t0.Add(4 * time.Second))
	k.Accepted(t0.Add(5 * time.Second))
	if k.Refused(t0.Add(6 * time.Second)) {
		t.Fatal("after an accepted request, a refusal is fatal at once")
	}
}
