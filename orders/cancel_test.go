package orders_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

func TestCancel(t *testing.T) {
	h := newHarness(t, orders.Config{})
	ctx := t.Context()
	o, err := h.m.Place(ctx, limitBuy("0.001", "65000"))
	if err != nil {
		t.Fatal(err)
	}
	h.takeEvents()
	c, err := h.m.Cancel(ctx, "BTCUSDT", o.ClientOrderID)
	if err != nil || c.Status != adapters.StatusCanceled {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	if got := statuses(h.takeEvents()); len(got) != 1 || got[0] != "NEW>CANCELED" {
		t.Fatalf("events %v", got)
	}
	if p := h.ex.priorities["cancel"]; len(p) != 1 || p[0] != scheduler.PriorityCritical {
		t.Fatalf("cancel priorities %v", p)
	}
	if e := h.entry(o.ClientOrderID); e.State != idempotency.StateResolved || e.OrderStatus != "CANCELED" {
		t.Fatalf("journal %+v", e)
	}
	// Again: the exchange no longer has it open; already cancelled is success.
	if _, err := h.m.Cancel(ctx, "BTCUSDT", o.ClientOrderID); err != nil {
		t.Fatalf("second cancel: %v", err)
	}

	f, err := h.m.Place(ctx, limitBuy("0.001", "65000"))
	if err != nil {
		t.Fatal(err)
	}
	h.ex.fill(f.ClientOrderID, "0.001")
	if c, err := h.m.Cancel(ctx, "BTCUSDT", f.ClientOrderID); !errors.Is(err, orders.ErrNotOpen) || c.Status != adapters.StatusFilled {
		t.Fatalf("cancel of a filled order: %+v, %v", c, err)
	}
	if _, err := h.m.Cancel(ctx, "BTCUSDT", "kl-t1-nothere"); !errors.Is(err, adapters.ErrOrderNotFound) {
		t.Fatalf("cancel of an unknown order: %v", err)
	}
}

func TestCancelAll(t *testing.T) {
	h := newHarness(t, orders.Config{})
	ctx := t.Context()
	var placed []adapters.Order
	for range 5 {
		o, err := h.m.Place(ctx, limitBuy("0.001", "65000"))
		if err != nil {
			t.Fatal(err)
		}
		placed = append(placed, o)
	}
	h.ex.script(fault{land: true, err: errUnknown})
	h.ex.failQueries(errReadFail, errReadFail, errReadFail, errReadFail)
	unk, err := h.m.Place(ctx, limitBuy("0.001", "65000"))
	if !errors.Is(err, scheduler.ErrUnknownOutcome) {
		t.Fatalf("err %v", err)
	}
	other := h.ex.book("BTCUSDT", h.keys.Next(), "0.001", "60000") // another instance of this bot
	foreign := h.ex.book("BTCUSDT", "web_1", "0.001", "60000")

	if err := h.m.CancelAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range append(placed, unk, other) {
		if got, _ := h.ex.order(o.ClientOrderID); got.Status != adapters.StatusCanceled {
			t.Fatalf("%s is %s", o.ClientOrderID, got.Status)
		}
	}
	if got, _ := h.ex.order(foreign.ClientOrderID); got.Status != adapters.StatusNew {
		t.Fatalf("a foreign order was cancelled")
	}
	if open := h.m.Open(""); len(open) != 0 {
		t.Fatalf("still open: %v", open)
	}
	for _, p := range h.ex.priorities["cancel"] {
		if p != scheduler.PriorityCritical {
			t.Fatalf("cancel at %s", p)
		}
	}
	h.ex.openErr = errReadFail
	if err := h.m.CancelAll(ctx); !errors.Is(err, errReadFail) {
		t.Fatalf("CancelAll hid a failure: %v", err)
	}
}

// vanishingStore is a journal that loses entries (a Redis flushed under the bot).
type vanishingStore struct {
	idempotency.Store
	mu   sync.Mutex
	gone map[string]bool
}

func (s *vanishingStore) lose(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone[key] = true
}

func (s *vanishingStore) Update(ctx context.Context, key string, fn func(*idempotency.Entry) error) (idempotency.Entry, error) {
	s.mu.Lock()
	gone := s.gone[key]
	s.mu.Unlock()
	if gone {
		return idempotency.Entry{}, idempotency.ErrNotFound
	}
	return s.Store.Update(ctx, key, fn)
}

// TestJournalEntryGoneIsLogged: an update of an order's journal entry that finds the entry
// gone (the journal lost it) is logged at error, naming the key.
func TestJournalEntryGoneIsLogged(t *testing.T) {
	h := newHarness(t, orders.Config{})
	store := &vanishingStore{Store: h.store, gone: map[string]bool{}}
	m, err := orders.New(orders.Params{Exchange: h.ex, Store: store, Keys: h.keys, Clock: h.clock, Log: zerolog.New(&syncWriter{w: h.log, mu: &h.mu})})
	if err != nil {
		t.Fatal(err)
	}
	o, err := m.Place(t.Context(), limitBuy("0.001", "65000"))
	if err != nil {
		t.Fatal(err)
	}
	store.lose(o.ClientOrderID)
	if _, err := m.Cancel(t.Context(), o.Symbol, o.ClientOrderID); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	logs := h.log.String()
	h.mu.Unlock()
	if !strings.Contains(logs, `"level":"error"`) || !strings.Contains(logs, "journal entry gone") || !strings.Contains(logs, o.ClientOrderID) {
		t.Errorf("the vanished entry was not logged at error with its key:\n%s", logs)
	}
}
