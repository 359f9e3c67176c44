package binance_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// closedGate is a tripped kill switch.
type closedGate struct{}

var errHalted = errors.New("halted for the test")

func (closedGate) Allow(context.Context, scheduler.Priority) error { return errHalted }

// TestHaltStopsNewOrdersWhateverTheirPriority: the adapter marks its cancels as such, so a
// closed gate stops a new order even when the caller raises it to critical priority, and lets
// cancels (one order, all open orders) and reads through.
func TestHaltStopsNewOrdersWhateverTheirPriority(t *testing.T) {
	open := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := context.Background()
	req := adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit, TimeInForce: adapters.GTC,
		Quantity: decimal.RequireFromString("0.001"), Price: decimal.RequireFromString("30000"), ClientOrderID: "gate-test-1"}
	if _, err := open.client.PlaceOrder(ctx, req); err != nil {
		t.Fatal(err)
	}
	halted := newClientOn(t, open.sim, fixtureOpts{schedOpts: []scheduler.Option{scheduler.WithGate(closedGate{})}})
	for _, p := range []scheduler.Priority{scheduler.PriorityOrders, scheduler.PriorityCritical} {
		req.ClientOrderID = "gate-test-" + p.String()
		if _, err := halted.client.PlaceOrder(ctx, req, adapters.WithPriority(p)); !errors.Is(err, errHalted) {
			t.Fatalf("new order at %s priority while halted: err = %v, want the gate's refusal", p, err)
		}
	}
	if n := len(open.sim.Orders()); n != 1 {
		t.Fatalf("%d orders at the simulator, want the one placed before the halt", n)
	}
	if _, err := halted.client.OpenOrders(ctx, "BTCUSDT"); err != nil {
		t.Fatalf("read while halted: %v", err)
	}
	if _, err := halted.client.CancelOrder(ctx, "BTCUSDT", "gate-test-1"); err != nil {
		t.Fatalf("cancel while halted: %v", err)
	}
}

// TestOrderCountLimitHoldsNewOrdersNotCancels: past the account's ORDERS limit the exchange
// answers 429 -1015 with a Retry-After; the scheduler then holds new orders until it ends, while
// a cancel (which lowers the unfilled count) goes out at once.
func TestOrderCountLimitHoldsNewOrdersNotCancels(t *testing.T) {
	f := newFixture(t, sim.Config{Limits: sim.Limits{Orders10s: 2}}, fixtureOpts{})
	ctx := context.Background()
	place := func(id string) error {
		_, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			TimeInForce: adapters.GTC, Quantity: decimal.RequireFromString("0.001"), Price: decimal.RequireFromString("30000"),
			ClientOrderID: id}, adapters.WithPriority(scheduler.PriorityOrders))
		return err
	}
	for _, id := range []string{"ocl-1", "ocl-2"} {
		if err := place(id); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := f.client.PlaceOrder(short, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		TimeInForce: adapters.GTC, Quantity: decimal.RequireFromString("0.001"), Price: decimal.RequireFromString("30000"),
		ClientOrderID: "ocl-3"}); err == nil {
		t.Fatal("a third order inside ten seconds was accepted")
	}
	if f.sim.Stats().Total.Status429 == 0 {
		t.Fatal("the simulator never answered -1015")
	}
	held := func() bool {
		for _, b := range f.sched.Snapshot().Buckets {
			if b.Name == binance.BucketOrders && b.OrdersHeldUntil.After(time.Now()) {
				return true
			}
		}
		return false
	}
	if !held() {
		t.Fatalf("no order-count hold on the orders bucket after -1015: %+v", f.sched.Snapshot().Buckets)
	}
	if _, err := f.client.CancelOrder(ctx, "BTCUSDT", "ocl-1"); err != nil {
		t.Fatalf("cancel under the order-count hold: %v", err)
	}
	if !held() {
		t.Fatal("the hold ended before the cancel returned: the test proves nothing")
	}
}
