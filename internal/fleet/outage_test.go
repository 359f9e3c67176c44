package fleet_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

type openGate struct{}

func (openGate) Allow(context.Context, scheduler.Priority) error { return nil }

// TestFleetRedisStoppedMidRun: instances placing orders through the orders manager, with the
// journal, windows and slots in Redis. Redis is killed mid-run: no order reaches the exchange
// while it is down (journal and gate both refuse), every instance reports why, and everything
// recovers by itself when Redis restarts. Afterwards every order at the exchange is journalled
// exactly once (none lost, none duplicated) and reconciliation leaves nothing unresolved.
func TestFleetRedisStoppedMidRun(t *testing.T) {
	srv := fleettest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: 100 * time.Millisecond, MaxRetries: -1,
		ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	prefix := fleettest.Prefix()
	x := newExchange(t, 60)
	const n = 3
	type bot struct {
		in *instance
		m  *orders.Manager
		j  idempotency.Store
	}
	var bots []bot
	for i := range n {
		id := fmt.Sprint("r", i)
		in := newInstance(t, rdb, prefix, id, n, x, instanceOpts{gate: openGate{}})
		keys, err := idempotency.NewKeyGenerator("kl", id)
		if err != nil {
			t.Fatal(err)
		}
		j := in.f.Journal()
		m, err := orders.New(orders.Params{Exchange: in.c, Store: j, Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		bots = append(bots, bot{in, m, j})
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, b := range bots {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := b.m.Place(ctx, orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
					Quantity: decimal.RequireFromString("0.02"), Price: decimal.RequireFromString("1000")})
				_ = err  // refused while Redis is down; counted at the exchange below
				select { // one intent per bot every 10ms: enough to cross the outage
				case <-ctx.Done():
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	}
	eventually(t, 5*time.Second, "no orders before the outage", func() bool { return x.sim.Stats().Total.OrdersCreated >= 10 })

	srv.Kill()
	killed := time.Now()
	for i, b := range bots {
		eventually(t, time.Second, fmt.Sprintf("instance %d did not notice Redis going away", i), func() bool {
			down, _ := b.in.f.Down()
			return down
		})
		if err := b.in.f.Gate(openGate{}).Allow(ctx, 3); err == nil {
			t.Errorf("instance %d: the order gate is open while Redis is down", i)
		}
	}
	noticed := time.Now()
	during := x.sim.Stats().Total.OrdersCreated
	eventually(t, 2*time.Second, "the outage did not last", func() bool { return time.Since(noticed) > 500*time.Millisecond })
	if got := x.sim.Stats().Total.OrdersCreated; got != during {
		t.Errorf("%d orders reached the exchange while Redis was down", got-during)
	}
	t.Logf("Redis down for %v; noticed by all within %v", time.Since(killed), noticed.Sub(killed))

	srv.Start()
	for i, b := range bots {
		eventually(t, 3*time.Second, fmt.Sprintf("instance %d did not recover", i), func() bool {
			down, _ := b.in.f.Down()
			return !down
		})
	}
	after := x.sim.Stats().Total.OrdersCreated
	eventually(t, 5*time.Second, "no orders after Redis came back", func() bool { return x.sim.Stats().Total.OrdersCreated > after+5 })
	cancel()
	wg.Wait()

	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	for _, b := range bots {
		start := time.Now()
		sum, err := b.m.Reconcile(rctx)
		t.Logf("reconcile in %v: %+v", time.Since(start), sum)
		if err != nil {
			t.Fatalf("reconcile after %v: %v\nsnapshot %+v\nfleet %+v", time.Since(start), err, b.in.s.Snapshot(), b.in.f.Status())
		}
	}
	open, err := bots[0].in.c.OpenOrders(rctx, "BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, o := range open {
		seen[o.ClientOrderID]++
	}
	entries, err := bots[0].j.List(rctx)
	if err != nil {
		t.Fatal(err)
	}
	journalled := map[string]idempotency.Entry{}
	for _, e := range entries {
		journalled[e.Key] = e
		if e.State.Unresolved() {
			t.Errorf("entry %s still %s after reconciliation", e.Key, e.State)
		}
		if e.State == idempotency.StateAcked && seen[e.Key] != 1 {
			t.Errorf("entry %s acked but %d orders at the exchange", e.Key, seen[e.Key])
		}
	}
	for key, c := range seen {
		if c != 1 {
			t.Errorf("%d orders at the exchange for key %s", c, key)
		}
		if _, ok := journalled[key]; !ok {
			t.Errorf("order %s at the exchange is not in the journal: lost", key)
		}
	}
	t.Logf("%d orders at the exchange, %d journal entries", len(seen), len(entries))
	fleettest.Clean(rdb, prefix)
}
