package orders_test

import (
	"testing"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/orders"
)

// TestResyncInFlight: after a user-data gap only the orders in flight are queried, by client
// id; a fill missed while the stream was down is applied; final orders cost nothing.
func TestResyncInFlight(t *testing.T) {
	h := newHarness(t, orders.Config{})
	ctx := t.Context()
	a, err := h.m.Place(ctx, limitBuy("0.001", "60000"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.m.Place(ctx, limitBuy("0.001", "60001"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := h.m.Place(ctx, limitBuy("0.001", "60002"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Cancel(ctx, "BTCUSDT", c.ClientOrderID); err != nil {
		t.Fatal(err)
	}
	h.takeEvents()
	h.ex.fill(a.ClientOrderID, "0.001") // missed while the stream was down
	h.ex.mu.Lock()
	queries, opens := h.ex.queries, len(h.ex.priorities["open"])
	h.ex.mu.Unlock()

	if err := h.m.ResyncInFlight(ctx); err != nil {
		t.Fatal(err)
	}
	h.ex.mu.Lock()
	dq, dopen := h.ex.queries-queries, len(h.ex.priorities["open"])-opens
	h.ex.mu.Unlock()
	if dq != 2 || dopen != 0 {
		t.Fatalf("resync made %d queries and %d open-orders calls, want 2 and 0", dq, dopen)
	}
	evs := h.takeEvents()
	if got := statuses(evs); len(got) != 1 || evs[0].Order.ClientOrderID != a.ClientOrderID ||
		evs[0].Order.Status != adapters.StatusFilled || evs[0].Source != orders.SourceFeed {
		t.Fatalf("events %v", got)
	}
	if o, _, ok := h.m.Lookup(b.ClientOrderID); !ok || o.Status != adapters.StatusNew {
		t.Fatalf("b %+v %v", o, ok)
	}
}
