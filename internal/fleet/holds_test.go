package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/scheduler"
)

// TestFleetHoldsReachEveryInstance: a hold one instance publishes reaches another through the
// fleet's channel, well within the 100 ms a shared breaker may lag, and one that started later
// finds it by reading the set when it subscribes.
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
	a, b := start("a"), start("b")
	// Wait until b listens: a hold published before would only be read with the whole set.
	deadline := time.Now().Add(2 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := rdb.PubSubNumSub(t.Context(), a.eventsChannel()).Result()
		if err == nil && n[a.eventsChannel()] >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribers: %v, %v", n, err)
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
