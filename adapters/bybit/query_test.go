package bybit_test

import (
	"errors"
	"testing"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestQueryFallsBackToHistory: /v5/order/realtime keeps only the account's last closed
// orders (500 at Bybit, 1 in this simulator); an older closed order is found in
// /v5/order/history, so resolving an old placement by its client order id still works.
func TestQueryFallsBackToHistory(t *testing.T) {
	s := startSim(t, sim.Config{DialectConfig: sim.BybitConfig{RealtimeClosed: 1}})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	place := func(id string) {
		t.Helper()
		if _, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			TimeInForce: adapters.GTC, Quantity: dec("0.001"), Price: dec("50000"), ClientOrderID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.client.CancelOrder(ctx, "BTCUSDT", id); err != nil {
			t.Fatal(err)
		}
	}
	place("old-order")
	place("new-order") // pushes old-order out of realtime's closed orders
	history := func() int64 { return s.Stats().Endpoints["GET /v5/order/history"].Requests }
	h0 := history()
	o, err := f.client.QueryOrder(ctx, "BTCUSDT", "new-order")
	if err != nil || o.Status != adapters.StatusCanceled || history() != h0 {
		t.Fatalf("recent closed order: %+v %v (history read %d times)", o, err, history()-h0)
	}
	o, err = f.client.QueryOrder(ctx, "BTCUSDT", "old-order")
	if err != nil || o.Status != adapters.StatusCanceled || o.ClientOrderID != "old-order" || history() != h0+1 {
		t.Fatalf("older closed order: %+v %v (history read %d times)", o, err, history()-h0)
	}
	_, err = f.client.QueryOrder(ctx, "BTCUSDT", "never-placed")
	if !errors.Is(err, adapters.ErrOrderNotFound) || scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("never placed: %v", err)
	}
}

// TestClientOrderIDRules: orderLinkId's documented format is enforced before sending.
func TestClientOrderIDRules(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	for _, id := range []string{"", "has space", "slash/no", "dot.no", "0123456789012345678901234567890123456"} {
		_, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			Quantity: dec("0.001"), Price: dec("50000"), ClientOrderID: id})
		if scheduler.ClassOf(err) != scheduler.ClassValidation {
			t.Errorf("id %q: %v", id, err)
		}
	}
	if n := f.sim.Stats().Endpoints["POST /v5/order/create"].Requests; n != 0 {
		t.Fatalf("%d malformed placements were sent", n)
	}
	ok := "Az09_-012345678901234567890123456789" // 36 characters
	if _, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: dec("0.001"), Price: dec("50000"), ClientOrderID: ok}); err != nil {
		t.Fatalf("36-character id: %v", err)
	}
}
