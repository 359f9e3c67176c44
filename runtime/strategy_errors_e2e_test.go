package runtime_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/strategy"
)

// TestStrategySeesStrategysErrors: what Place and Cancel return to a strategy in a running
// bot matches the sentinels the strategy package exports, so a strategy handles them
// importing strategy and adapters only; and the runtime, not the strategy, decides which
// strategy owns an order.
func TestStrategySeesStrategysErrors(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_ORDERS_RESOLVE_QUERIES=1",
		// Orders in flight are polled every 100ms (their fallback sweep, with the user stream
		// up, every second), so the unknown placement below settles within the test's wait.
		"KEEL_PORTFOLIO_REFRESH_INTERVAL=200ms"), "probe", "other")
	defer b.app.RequireStop()
	ctx := context.Background()
	p := b.probes["probe"]

	// An intent the symbol's filters refuse: a *strategy.ValidationError naming the filter.
	tiny := buyIntent()
	tiny.Quantity = decimal.RequireFromString("0.00001") // 0.3 USDT at 30000
	_, err := p.env.Orders.Place(ctx, tiny)
	var verr *strategy.ValidationError
	if !errors.As(err, &verr) || !errors.Is(err, strategy.ErrInvalidIntent) || verr.Filter != "NOTIONAL" {
		t.Fatalf("place below the minimum notional: err = %v, want a *strategy.ValidationError for NOTIONAL", err)
	}

	// Strategy in an intent is the runtime's to fill: an order placed naming another strategy
	// is still the placing strategy's.
	spoofed := buyIntent()
	spoofed.Strategy = "other"
	resting, err := p.env.Orders.Place(ctx, spoofed)
	if err != nil {
		t.Fatal(err)
	}
	if !hasOrder(p.env.Orders.Open(), resting.ClientOrderID) || hasOrder(b.probes["other"].env.Orders.Open(), resting.ClientOrderID) {
		t.Fatalf("an intent naming strategy other: probe's open %+v, other's open %+v; want it the placer's only",
			p.env.Orders.Open(), b.probes["other"].env.Orders.Open())
	}

	// A placement whose answer is lost and whose query cannot tell: ErrUnknownOutcome, with
	// the order's id to follow it by; an order update settles it (the simulator booked it),
	// from the user stream or the runtime's poll of orders in flight.
	b.sim.SetFaults(sim.Faults{UnknownRate: 1, Paths: []string{"/api/v3/order"}})
	lost, err := p.env.Orders.Place(ctx, buyIntent())
	b.sim.SetFaults(sim.Faults{})
	if !errors.Is(err, strategy.ErrUnknownOutcome) || lost.ClientOrderID == "" {
		t.Fatalf("place with its answer lost: order %+v, err = %v; want ErrUnknownOutcome and the order's id", lost, err)
	}
	p.waitFor(t, "the unknown placement settled as live", func(ev strategy.Event) bool {
		u, ok := ev.(strategy.OrderUpdate)
		return ok && u.Order.ClientOrderID == lost.ClientOrderID && u.Order.Status == adapters.StatusNew
	})

	// Cancelling an order that already filled: ErrNotOpen.
	if err := b.sim.SetPrice("BTCUSDT", "29000"); err != nil { // the resting buys at 30000 fill
		t.Fatal(err)
	}
	if err := p.env.Orders.Cancel(ctx, "BTCUSDT", resting.ClientOrderID); !errors.Is(err, strategy.ErrNotOpen) {
		t.Fatalf("cancel of a filled order: err = %v, want ErrNotOpen", err)
	}

	// A tripped kill switch: ErrHalted.
	if err := b.sw.Trip(ctx, killswitch.Reason{Who: "test", Why: "errors"}); err != nil {
		t.Fatal(err)
	}
	waitHalted(t, b.sw, true)
	if _, err := p.env.Orders.Place(ctx, buyIntent()); !errors.Is(err, strategy.ErrHalted) {
		t.Fatalf("place while halted: err = %v, want ErrHalted", err)
	}
}

func hasOrder(open []adapters.Order, clientOrderID string) bool {
	for _, o := range open {
		if o.ClientOrderID == clientOrderID {
			return true
		}
	}
	return false
}
