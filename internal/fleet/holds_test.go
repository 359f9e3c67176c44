package fleet

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/scheduler"
)

// TestFleetHoldsReachEveryInstance: a hold one instance publishes reaches another through the
// fleet's channel (after that one's only read of the set), well within the 100 ms a shared
// breaker may lag, and one that started later finds it by reading the set when it subscribes.
func TestFleetHoldsReachEveryInstance(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	start := func(id string) *Fleet {
		f, err := New(rdb, Options{Prefix: prefix, InstanceID: id, SlotLease: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f.Start()
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	find := func(f *Fleet, within time.Duration) (scheduler.SharedHold, time.Duration) {
		t.Helper()
		begin := time.Now()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for time.Since(begin) < within {
			for _, h := range f.holds.Holds(time.Now()) {
				if h.Bucket == "orders" && h.Until.After(time.Now()) {
					return h, time.Since(begin)
				}
			}
			<-tick.C
		}
		t.Fatalf("instance %s: no hold after %v", f.opts.InstanceID, within)
		return scheduler.SharedHold{}, 0
	}
	a := start("a")
	// b reads the whole set when it subscribes: wait until it has (it finds a marker written
	// before it started), so that the hold published next can reach it only by notice.
	marker := scheduler.SharedHold{Class: scheduler.ClassRateLimit, Bucket: "marker", Until: time.Now().Add(10 * time.Second)}
	if err := a.holds.write(t.Context(), marker); err != nil {
		t.Fatal(err)
	}
	b := start("b")
	deadline := time.Now().Add(2 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !slices.ContainsFunc(b.holds.Holds(time.Now()), func(h scheduler.SharedHold) bool { return h.Bucket == "marker" }) {
		if time.Now().After(deadline) {
			t.Fatal("instance b: no initial read of the holds after 2s")
		}
		<-tick.C
	}
	a.holds.Publish(scheduler.SharedHold{Class: scheduler.ClassRateLimit, Bucket: "orders",
		Until: time.Now().Add(5 * time.Second), Reason: "429 from the exchange"})
	h, took := find(b, 100*time.Millisecond)
	if !strings.Contains(h.Reason, "instance a") || h.Class != scheduler.ClassRateLimit {
		t.Errorf("hold %+v", h)
	}
	t.Logf("reached instance b after %v", took)
	c := start("c")
	if h, _ := find(c, time.Second); h.Until.Before(time.Now().Add(3 * time.Second)) {
		t.Errorf("a later instance read the hold with %v left, want about 5s", time.Until(h.Until))
	}

	// A longer hold of an order-count limit does not replace the one that stops everything.
	a.holds.Publish(scheduler.SharedHold{Class: scheduler.ClassRateLimit, Bucket: "orders", OrderLimit: true,
		Until: time.Now().Add(20 * time.Second), Reason: "order count"})
	deadline = time.Now().Add(time.Second)
	for {
		var all, orders bool
		for _, h := range b.holds.Holds(time.Now()) {
			all = all || h.Bucket == "orders" && !h.OrderLimit
			orders = orders || h.Bucket == "orders" && h.OrderLimit && h.Until.After(time.Now().Add(10*time.Second))
		}
		if all && orders {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance b holds %+v, want both the IP-wide hold and the order-count one", b.holds.Holds(time.Now()))
		}
		<-tick.C
	}
}
