package orders_test

import (
	"testing"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/orders"
)

func TestCanTransition(t *testing.T) {
	const (
		none = adapters.OrderStatus("")
		unk  = adapters.StatusUnknown
		nw   = adapters.StatusNew
		pf   = adapters.StatusPartiallyFilled
		fil  = adapters.StatusFilled
		can  = adapters.StatusCanceled
		rej  = adapters.StatusRejected
		exp  = adapters.StatusExpired
	)
	all := []adapters.OrderStatus{none, unk, nw, pf, fil, can, rej, exp}
	legal := map[adapters.OrderStatus][]adapters.OrderStatus{
		none: {unk, nw, pf, fil, can, rej, exp},
		unk:  {unk, nw, pf, fil, can, rej, exp},
		nw:   {pf, fil, can, exp},
		pf:   {pf, fil, can, exp},
		fil:  nil, can: nil, rej: nil, exp: nil,
	}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, s := range legal[from] {
				want = want || s == to
			}
			if got := orders.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%q, %q) = %v, want %v", from, to, got, want)
			}
		}
	}
	if orders.CanTransition("BOGUS", adapters.StatusNew) || orders.CanTransition(adapters.StatusNew, "BOGUS") {
		t.Error("an unknown status moved")
	}
}

// TestStateMachineThroughFeed drives one order through Apply: forward moves produce events
// with fill deltas, stale and illegal reports are dropped.
func TestStateMachineThroughFeed(t *testing.T) {
	h := newHarness(t, orders.Config{})
	ctx := t.Context()
	placed, err := h.m.Place(ctx, limitBuy("0.003", "65000"))
	if err != nil {
		t.Fatal(err)
	}
	h.takeEvents()
	at := func(status adapters.OrderStatus, executed string) adapters.Order {
		o := placed
		o.Status, o.ExecutedQty = status, dec(executed)
		o.CumulativeQuote = o.ExecutedQty.Mul(o.Price)
		return o
	}
	steps := []struct {
		report adapters.Order
		moved  bool
		filled string
	}{
		{at(adapters.StatusNew, "0"), false, ""},                       // nothing new
		{at(adapters.StatusPartiallyFilled, "0.001"), true, "0.001"},   // first fill
		{at(adapters.StatusNew, "0"), false, ""},                       // stale: backwards
		{at(adapters.StatusPartiallyFilled, "0.001"), false, ""},       // duplicate
		{at(adapters.StatusPartiallyFilled, "0.0025"), true, "0.0015"}, // more
		{at(adapters.StatusPartiallyFilled, "0.002"), false, ""},       // stale: fewer fills
		{at(adapters.StatusRejected, "0.0025"), false, ""},             // illegal after resting
		{at(adapters.StatusFilled, "0.003"), true, "0.0005"},           // done
		{at(adapters.StatusCanceled, "0.003"), false, ""},              // final stays final
	}
	for i, s := range steps {
		if moved := h.m.Apply(ctx, s.report); moved != s.moved {
			t.Fatalf("step %d (%s %s): moved %v, want %v", i, s.report.Status, s.report.ExecutedQty, moved, s.moved)
		}
		evs := h.takeEvents()
		if !s.moved {
			if len(evs) != 0 {
				t.Fatalf("step %d: events %v without a move", i, statuses(evs))
			}
			continue
		}
		if len(evs) != 1 || evs[0].Filled.String() != s.filled || evs[0].Source != orders.SourceFeed || evs[0].Strategy != "mm" {
			t.Fatalf("step %d: events %+v, want one feed event filling %s for mm", i, evs, s.filled)
		}
		wantQuote := dec(s.filled).Mul(placed.Price)
		if !evs[0].FilledQuote.Equal(wantQuote) {
			t.Fatalf("step %d: filled quote %s, want %s", i, evs[0].FilledQuote, wantQuote)
		}
	}
	if _, _, ok := h.m.Lookup(placed.ClientOrderID); ok {
		t.Fatal("a filled order is still tracked")
	}
	if e := h.entry(placed.ClientOrderID); e.State != "resolved" || e.OrderStatus != "FILLED" {
		t.Fatalf("journal entry %+v, want resolved FILLED", e)
	}
}

func TestApplyAdoptsOnlyThisBotsOrders(t *testing.T) {
	h := newHarness(t, orders.Config{})
	ctx := t.Context()
	mine := h.ex.book("BTCUSDT", h.keys.Next(), "0.001", "60000")
	foreign := h.ex.book("BTCUSDT", "web_abc123", "0.001", "60000")
	if !h.m.Apply(ctx, mine) {
		t.Fatal("an order of this bot was not adopted")
	}
	if h.m.Apply(ctx, foreign) {
		t.Fatal("a foreign order was adopted")
	}
	open := h.m.Open("")
	if len(open) != 1 || open[0].ClientOrderID != mine.ClientOrderID {
		t.Fatalf("open %+v", open)
	}
	evs := h.takeEvents()
	if len(evs) != 1 || evs[0].Strategy != "" || evs[0].Previous != "" || evs[0].Order.Status != adapters.StatusNew {
		t.Fatalf("events %+v", evs)
	}
	if h.metrics.get("adopted") != 1 {
		t.Fatalf("adopted metric %d", h.metrics.get("adopted"))
	}
}
