package fleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/fleet/fleettest"
)

// TestFleetAttemptsAreCountedAcrossInstances: two instances share one sliding window of
// connection attempts; the one that finds it full is told how long to wait, and a bad
// argument is refused naming the window.
func TestFleetAttemptsAreCountedAcrossInstances(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	a, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, f := range []*fleet.Fleet{a, a, b} {
		if wait, err := f.TakeAttempt(ctx, "ws", 3, time.Minute); err != nil || wait != 0 {
			t.Fatalf("attempt %d: wait %v, err %v; want admitted", i+1, wait, err)
		}
	}
	wait, err := b.TakeAttempt(ctx, "ws", 3, time.Minute)
	if err != nil || wait <= 0 || wait > time.Minute {
		t.Fatalf("fourth attempt in the window: wait %v, err %v; want a wait of at most the window", wait, err)
	}
	if wait, err := a.TakeAttempt(ctx, "other", 3, time.Minute); err != nil || wait != 0 {
		t.Fatalf("another window: wait %v, err %v", wait, err)
	}
	if _, err := a.TakeAttempt(ctx, "ws", 0, time.Minute); err == nil || !strings.Contains(err.Error(), "attempts ws:") {
		t.Fatalf("max 0: err %v; want a refusal naming the window", err)
	}
}

// TestFleetAttemptsOfOneInstanceIDCountTwice: two processes started with one instance id by
// mistake each count their attempts; neither writes over the other's.
func TestFleetAttemptsOfOneInstanceIDCountTwice(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	var twins []*fleet.Fleet
	for range 2 {
		f, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: "a"})
		if err != nil {
			t.Fatal(err)
		}
		twins = append(twins, f)
	}
	ctx := context.Background()
	for i, f := range twins {
		if wait, err := f.TakeAttempt(ctx, "ws", 2, time.Minute); err != nil || wait != 0 {
			t.Fatalf("attempt of twin %d: wait %v, err %v; want admitted", i, wait, err)
		}
	}
	if wait, err := twins[0].TakeAttempt(ctx, "ws", 2, time.Minute); err != nil || wait <= 0 {
		t.Fatalf("third attempt in a window of 2: wait %v, err %v; want a wait", wait, err)
	}
	if n, err := rdb.ZCard(ctx, prefix+"attempts:ws").Result(); err != nil || n != 2 {
		t.Fatalf("window holds %d attempts (err %v), want 2", n, err)
	}
}
