package binance_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
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
