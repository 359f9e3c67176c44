package orders_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
)

// journal writes an entry for key as a crashed process would have left it.
func (h *harness) journal(key string, state idempotency.State, strategy string) {
	h.t.Helper()
	ctx := h.t.Context()
	err := h.store.Reserve(ctx, idempotency.Entry{Key: key, Intent: idempotency.Intent{
		Symbol: "BTCUSDT", Side: "BUY", Type: "LIMIT", TimeInForce: "GTC", Quantity: "0.001", Price: "60000", Strategy: strategy,
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, s := range map[idempotency.State][]idempotency.State{
		idempotency.StateReserved: nil,
		idempotency.StateSent:     {idempotency.StateSent},
		idempotency.StateUnknown:  {idempotency.StateSent, idempotency.StateUnknown},
		idempotency.StateAcked:    {idempotency.StateSent, idempotency.StateAcked},
		idempotency.StateRejected: {idempotency.StateSent, idempotency.StateRejected},
	}[state] {
		if _, err := h.store.Update(ctx, key, func(e *idempotency.Entry) error { e.State = s; return nil }); err != nil {
			h.t.Fatal(err)
		}
	}
}

func TestReconcile(t *testing.T) {
	h := newHarness(t, orders.Config{SettleTime: 10 * time.Second})
	ctx := t.Context()
	settle := 10 * time.Second
	k := func() string { return h.keys.Next() }

	// A trade seen before the crash: the cursor is past it.
	seen := h.ex.book("BTCUSDT", k(), "0.001", "60000")
	h.ex.fill(seen.ClientOrderID, "0.001")
	if err := h.store.SetCursor(ctx, "trades/BTCUSDT", "1"); err != nil {
		t.Fatal(err)
	}

	sentFound, sentAbsent, unknownFilled, reserved := k(), k(), k(), k()
	ackedFilled, ackedOpen, rejected := k(), k(), k()
	h.journal(sentFound, idempotency.StateSent, "a")
	h.journal(sentAbsent, idempotency.StateSent, "a")
	h.journal(unknownFilled, idempotency.StateUnknown, "b")
	h.journal(reserved, idempotency.StateReserved, "b")
	h.journal(ackedFilled, idempotency.StateAcked, "a")
	h.journal(ackedOpen, idempotency.StateAcked, "b")
	h.journal(rejected, idempotency.StateRejected, "b")
	h.ex.book("BTCUSDT", sentFound, "0.001", "60000")
	h.ex.book("BTCUSDT", unknownFilled, "0.001", "60000")
	h.ex.fill(unknownFilled, "0.001")
	h.ex.book("BTCUSDT", ackedFilled, "0.001", "60000")
	h.ex.fill(ackedFilled, "0.0004")
	h.ex.fill(ackedFilled, "0.0006")
	h.ex.book("BTCUSDT", ackedOpen, "0.001", "60000")
	stray := h.ex.book("BTCUSDT", k(), "0.001", "60000") // this bot's, journal lost (another instance)
	foreign := h.ex.book("BTCUSDT", "web_1", "0.001", "60000")
	h.clock.Advance(settle) // the crash was a while ago

	// Placed just before the crash: one landed late, one never will.
	youngLate, youngAbsent := k(), k()
	h.journal(youngLate, idempotency.StateSent, "a")
	h.journal(youngAbsent, idempotency.StateUnknown, "a")

	m := h.manager(orders.Config{SettleTime: settle}) // the restarted process
	type result struct {
		sum orders.Reconciliation
		err error
	}
	done := make(chan result)
	go func() {
		sum, err := m.Reconcile(ctx)
		done <- result{sum, err}
	}()
	h.clock.BlockUntil(1) // parked until the young entries settle
	h.ex.book("BTCUSDT", youngLate, "0.001", "60000")
	h.clock.Advance(settle)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := orders.Reconciliation{Unresolved: 6, Found: 3, NotPlaced: 3, Finished: 1, Adopted: 1, Fills: 3, Open: 4}
	if r.sum != want {
		t.Fatalf("summary %+v, want %+v", r.sum, want)
	}
	if n := h.ex.numAttempts(); n != 0 {
		t.Fatalf("reconciliation sent %d placements", n)
	}

	states := map[string]struct {
		state  idempotency.State
		status string
	}{
		sentFound: {idempotency.StateAcked, "NEW"}, sentAbsent: {idempotency.StateResolved, "REJECTED"},
		unknownFilled: {idempotency.StateResolved, "FILLED"}, reserved: {idempotency.StateResolved, "REJECTED"},
		ackedFilled: {idempotency.StateResolved, "FILLED"}, ackedOpen: {idempotency.StateAcked, "NEW"},
		rejected: {idempotency.StateResolved, ""}, youngLate: {idempotency.StateAcked, "NEW"},
		youngAbsent: {idempotency.StateResolved, "REJECTED"},
	}
	for key, w := range states {
		if e := h.entry(key); e.State != w.state || e.OrderStatus != w.status {
			t.Errorf("%s: journal %s %q, want %s %q", key, e.State, e.OrderStatus, w.state, w.status)
		}
	}
	if left, _ := h.store.List(ctx, idempotency.StateReserved, idempotency.StateSent, idempotency.StateUnknown, idempotency.StateRejected); len(left) != 0 {
		t.Fatalf("unresolved after reconciliation: %+v", left)
	}

	open := map[string]string{}
	for _, o := range m.Open("") {
		_, strategy, _ := m.Lookup(o.ClientOrderID)
		open[o.ClientOrderID] = strategy
	}
	wantOpen := map[string]string{sentFound: "a", ackedOpen: "b", youngLate: "a", stray.ClientOrderID: ""}
	if len(open) != len(wantOpen) {
		t.Fatalf("open %v, want %v", open, wantOpen)
	}
	for key, s := range wantOpen {
		if got, ok := open[key]; !ok || got != s {
			t.Fatalf("open %v, want %v", open, wantOpen)
		}
	}
	if _, ok := open[foreign.ClientOrderID]; ok {
		t.Fatal("a foreign order was adopted")
	}

	byKey := map[string]orders.Event{}
	for _, e := range h.takeEvents() {
		if e.Source != orders.SourceReconcile {
			t.Fatalf("event from %s", e.Source)
		}
		byKey[e.Order.ClientOrderID] = e
	}
	if e := byKey[ackedFilled]; e.Order.Status != adapters.StatusFilled || len(e.Fills) != 2 || e.Filled.String() != "0.001" || e.Strategy != "a" {
		t.Fatalf("acked order filled while down: %+v", e)
	}
	if e := byKey[unknownFilled]; e.Order.Status != adapters.StatusFilled || len(e.Fills) != 1 || e.Previous != adapters.StatusUnknown {
		t.Fatalf("unknown order filled while down: %+v", e)
	}
	for _, key := range []string{sentAbsent, reserved, youngAbsent} {
		if e := byKey[key]; e.Order.Status != adapters.StatusRejected || !errors.Is(e.Err, orders.ErrNotPlaced) || e.Order.Symbol != "BTCUSDT" {
			t.Fatalf("%s: %+v", key, e)
		}
	}
	if c, _ := h.store.Cursor(ctx, "trades/BTCUSDT"); c != "4" {
		t.Fatalf("trade cursor %q, want 4", c)
	}

	// Idempotent: a second run changes nothing and sends nothing.
	sum, err := m.Reconcile(ctx)
	if err != nil || sum.Unresolved != 0 || sum.Open != 4 || len(h.takeEvents()) != 0 {
		t.Fatalf("second reconcile: %+v, %v", sum, err)
	}
}

func TestReconcileFailsOnUndecidable(t *testing.T) {
	h := newHarness(t, orders.Config{})
	key := h.keys.Next()
	h.journal(key, idempotency.StateSent, "a")
	h.ex.failQueries(errReadFail)
	if _, err := h.m.Reconcile(t.Context()); !errors.Is(err, errReadFail) {
		t.Fatalf("err %v", err)
	}
	if e := h.entry(key); e.State != idempotency.StateSent {
		t.Fatalf("an undecided entry moved to %s", e.State)
	}
	h.clock.Advance(orders.DefaultSettleTime)             // absent, and too old to land any more
	if _, err := h.m.Reconcile(t.Context()); err != nil { // the exchange answers again
		t.Fatal(err)
	}
	if e := h.entry(key); e.State != idempotency.StateResolved {
		t.Fatalf("entry %s", e.State)
	}
}

func TestReconcileCompacts(t *testing.T) {
	h := newHarness(t, orders.Config{Retention: time.Hour})
	o, err := h.m.Place(t.Context(), limitBuy("0.001", "65000"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Cancel(t.Context(), "BTCUSDT", o.ClientOrderID); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(2 * time.Hour)
	sum, err := h.m.Reconcile(t.Context())
	if err != nil || sum.Compacted != 1 {
		t.Fatalf("%+v, %v", sum, err)
	}
	if _, err := h.store.Get(t.Context(), o.ClientOrderID); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("entry kept: %v", err)
	}
}

func TestRefresh(t *testing.T) {
	h := newHarness(t, orders.Config{SettleTime: 10 * time.Second})
	ctx := t.Context()
	o, err := h.m.Place(ctx, limitBuy("0.003", "65000"))
	if err != nil {
		t.Fatal(err)
	}
	// One placement left unknown that landed, one left unknown that never did.
	undecided := func(land bool) adapters.Order {
		h.ex.script(fault{land: land, err: errUnknown})
		h.ex.failQueries(errReadFail, errReadFail, errReadFail, errReadFail)
		u, err := h.m.Place(ctx, limitBuy("0.001", "65000"))
		if !errors.Is(err, orders.ErrInvalidIntent) && u.Status != adapters.StatusUnknown {
			t.Fatalf("%+v, %v", u, err)
		}
		return u
	}
	landed, lost := undecided(true), undecided(false)
	h.takeEvents()

	h.ex.fill(o.ClientOrderID, "0.001")
	if err := h.m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	byKey := func() map[string]orders.Event {
		out := map[string]orders.Event{}
		for _, e := range h.takeEvents() {
			out[e.Order.ClientOrderID] = e
		}
		return out
	}
	evs := byKey()
	if e := evs[o.ClientOrderID]; e.Order.Status != adapters.StatusPartiallyFilled || e.Filled.String() != "0.001" || len(e.Fills) != 1 || e.Source != orders.SourceRefresh {
		t.Fatalf("partial fill: %+v", e)
	}
	if e := evs[landed.ClientOrderID]; e.Previous != adapters.StatusUnknown || e.Order.Status != adapters.StatusNew {
		t.Fatalf("landed: %+v", e)
	}
	if _, ok := evs[lost.ClientOrderID]; ok || h.entry(lost.ClientOrderID).State != idempotency.StateUnknown {
		t.Fatal("an unknown placement was settled before SettleTime")
	}
	if e := h.entry(landed.ClientOrderID); e.State != idempotency.StateAcked || e.ExchangeOrderID == "" {
		t.Fatalf("journal %+v", e)
	}

	h.ex.fill(o.ClientOrderID, "0.002")
	h.clock.Advance(10 * time.Second)
	if err := h.m.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	evs = byKey()
	if e := evs[o.ClientOrderID]; e.Order.Status != adapters.StatusFilled || e.Filled.String() != "0.002" || len(e.Fills) != 1 || e.Fills[0].TradeID != 2 {
		t.Fatalf("fill: %+v", e)
	}
	if e := evs[lost.ClientOrderID]; e.Order.Status != adapters.StatusRejected || !errors.Is(e.Err, orders.ErrNotPlaced) {
		t.Fatalf("lost: %+v", e)
	}
	if e := h.entry(lost.ClientOrderID); e.State != idempotency.StateResolved {
		t.Fatalf("lost entry %s", e.State)
	}
	if n := h.ex.numOrders(); n != 2 {
		t.Fatalf("%d orders at the exchange; Refresh must never resend", n)
	}
	if c, _ := h.store.Cursor(ctx, "trades/BTCUSDT"); c != "2" {
		t.Fatalf("cursor %q", c)
	}
}

// flakyStore fails the Updates whose turn is in fail (counting from 1).
type flakyStore struct {
	idempotency.Store
	mu   sync.Mutex
	n    int
	fail map[int]bool
}

func (s *flakyStore) Update(ctx context.Context, key string, fn func(*idempotency.Entry) error) (idempotency.Entry, error) {
	s.mu.Lock()
	s.n++
	fail := s.fail[s.n]
	s.mu.Unlock()
	if fail {
		return idempotency.Entry{}, errors.New("journal away")
	}
	return s.Store.Update(ctx, key, fn)
}

// TestReconcileRepairsLaggingJournal: the journal could not record an acknowledgement (Redis
// went away just then), so the manager knows the order as NEW while its entry says sent.
// Reconcile, finding the order as the manager already knows it, brings the entry in line.
func TestReconcileRepairsLaggingJournal(t *testing.T) {
	h := newHarness(t, orders.Config{})
	fs := &flakyStore{Store: h.store, fail: map[int]bool{2: true}} // 1: sent, 2: acked
	m, err := orders.New(orders.Params{Exchange: h.ex, Store: fs, Keys: h.keys, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	o, err := m.Place(t.Context(), limitBuy("0.001", "65000"))
	if err != nil || o.Status != adapters.StatusNew {
		t.Fatalf("order %+v, err %v", o, err)
	}
	if e := h.entry(o.ClientOrderID); e.State != idempotency.StateSent {
		t.Fatalf("journal %s, want the lagging sent", e.State)
	}
	if _, err := m.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e := h.entry(o.ClientOrderID); e.State != idempotency.StateAcked || e.OrderStatus != "NEW" {
		t.Fatalf("journal after reconcile %+v, want acked", e)
	}
}
