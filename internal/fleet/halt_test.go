package fleet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/scheduler"
)

type switchGate struct{ sw *killswitch.Switch }

func (g switchGate) Allow(context.Context, scheduler.Priority) error { return g.sw.Check() }

// placeLoop places small resting orders through in until ctx ends.
func placeLoop(ctx context.Context, in *instance, id string, n *atomic.Int64) {
	for i := 0; ctx.Err() == nil; i++ {
		_, err := in.c.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			TimeInForce: adapters.GTC, Quantity: decimal.RequireFromString("0.02"), Price: decimal.RequireFromString("1000"),
			ClientOrderID: fmt.Sprintf("%s-%d-%d", id, n.Add(1), i)})
		if err != nil {
			if os.Getenv("KEEL_DEBUG") != "" {
				fmt.Println(err)
			}
			select { // a refused order (halted) is retried on the next tick, not in a spin
			case <-ctx.Done():
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// TestFleetHaltStopsAllWithinOneSecond: a halt in one instance (its kill-switch file, as
// `keel halt` writes it) stops orders from all five within one second; a resume in another
// lets them all trade again within one second.
func TestFleetHaltStopsAllWithinOneSecond(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	x := newExchange(t, 60)
	const n = 5
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var switches []*killswitch.Switch
	var seq atomic.Int64
	for i := range n {
		f, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: "k"})
		if err != nil {
			t.Fatal(err)
		}
		file := killswitch.NewFileBackend(filepath.Join(t.TempDir(), "KILLSWITCH"))
		sw := killswitch.NewWithBackend(f.KillSwitchBackend(file), killswitch.WithPollInterval(killswitch.DefaultPollInterval))
		switches = append(switches, sw)
		wg.Go(func() { _ = sw.Run(ctx) })
		in := newInstance(t, rdb, prefix, fmt.Sprint("h", i), n, x, instanceOpts{gate: switchGate{sw}})
		wg.Go(func() { placeLoop(ctx, in, fmt.Sprint("h", i), &seq) })
	}
	eventually(t, 5*time.Second, "no orders before the halt", func() bool { return x.sim.Stats().Total.OrdersCreated >= 10 })

	// Halt by hand on instance 2's host: the file appears; its switch shares it.
	halted := time.Now()
	if _, err := killswitch.NewFileBackend(switchFile(t, switches[2])).Trip(ctx, killswitch.Reason{Who: "alice", Why: "test"}); err != nil {
		t.Fatal(err)
	}
	for i, sw := range switches {
		eventually(t, time.Second, fmt.Sprintf("instance %d not halted within 1s", i), func() bool { h, _ := sw.Halted(); return h })
	}
	stopped := time.Now()
	// Orders already past the gate may still land; after one second none may.
	eventually(t, 2*time.Second, "no quiet period after the halt", func() bool {
		return time.Since(stopped) > 500*time.Millisecond
	})
	for _, o := range x.ordersSeen() {
		if o.at.After(halted.Add(time.Second)) {
			t.Fatalf("order %s reached the exchange %v after the halt", o.key, o.at.Sub(halted))
		}
	}

	// Resume from instance 4 (keel resume against the fleet): all trade again.
	if err := switches[4].Resume(ctx); err != nil {
		t.Fatal(err)
	}
	before := x.sim.Stats().Total.OrdersCreated
	for i, sw := range switches {
		eventually(t, time.Second, fmt.Sprintf("instance %d not resumed within 1s", i), func() bool { h, _ := sw.Halted(); return !h })
	}
	eventually(t, 2*time.Second, "no orders after the resume", func() bool { return x.sim.Stats().Total.OrdersCreated > before })
	cancel()
}

// switchFile returns the file of a fleet switch (its backend's first half).
func switchFile(t *testing.T, sw *killswitch.Switch) string {
	t.Helper()
	b, ok := sw.Backend().(*fleet.SyncedBackend)
	if !ok {
		t.Fatalf("backend %T", sw.Backend())
	}
	return b.FilePath()
}
