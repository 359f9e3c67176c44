package orders_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

// journal writes an entry for key as a crashed process would have left it. An entry that was
// sent got a send deadline of now: its request was signed at once.
func (h *harness) journal(key string, state idempotency.State, strategy string) {
	h.t.Helper()
	ctx := h.t.Context()
	err := h.store.Reserve(ctx, idempotency.Entry{Key: key, Intent: idempotency.IntentRecord{
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
		if _, err := h.store.Update(ctx, key, func(e *idempotency.Entry) error {
			e.State = s
			if s == idempotency.StateSent {
				e.SendBy = h.clock.Now()
			}
			return nil
		}); err != nil {
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

// TestReconcileWaitsOutSendDeadline: a placement marked sent may wait in the scheduler's queue
// (behind the order window, a 429 pause) and be signed as late as its deadline, so after a
// crash "not found" proves it absent only SettleTime after that deadline, whenever the entry
// was written. The scenario: marked sent at T0 with a 30s budget, signed and sent at T0+20s,
// the process killed, restarted at T0+21s.
func TestReconcileWaitsOutSendDeadline(t *testing.T) {
	const settle, budget = 10 * time.Second, 30 * time.Second
	for _, tc := range []struct {
		name  string
		lands bool // the request signed at T0+20s reaches the exchange while the restart waits
		// legacy journals the entry as a build without Entry.SendBy did, with a short
		// configured budget: the longest a placement could have had (30s) is assumed.
		legacy    bool
		exclusive bool // the restart's manager has Params.ExclusiveJournal
	}{
		{name: "never lands: resolved as never placed at the bound, not before"},
		{name: "lands while the restart waits: adopted", lands: true},
		{name: "journalled before send_by: the longest budget is assumed", legacy: true},
		// A file journal's lock proves the writer gone: its last try was signed before the
		// restart, so the restart waits SettleTime from its own start.
		{name: "exclusive journal: settled SettleTime after the restart", exclusive: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := orders.Config{SettleTime: settle, SendTimeout: budget}
			if tc.legacy {
				cfg.SendTimeout = time.Second
			}
			h := newHarness(t, cfg)
			ctx := t.Context()
			t0 := h.clock.Now()

			var key string
			if tc.legacy {
				key = h.keys.Next()
				h.journal(key, idempotency.StateSent, "mm")
				if _, err := h.store.Update(ctx, key, func(e *idempotency.Entry) error { e.SendBy = time.Time{}; return nil }); err != nil {
					t.Fatal(err)
				}
			} else {
				// The process that will crash: its placement waits in the queue.
				queued, release := make(chan struct{}), make(chan struct{})
				var deadline time.Time
				h.ex.hold = func(ctx context.Context) error {
					deadline, _ = ctx.Deadline()
					close(queued)
					<-release
					return context.Canceled // the process is gone: nothing more comes from it
				}
				pctx, cancelPlace := context.WithCancel(ctx)
				placed := make(chan struct{})
				go func() {
					defer close(placed)
					_, _ = h.m.Place(pctx, limitBuy("0.001", "65000"))
				}()
				defer func() { cancelPlace(); close(release); <-placed }()
				<-queued
				sent, err := h.store.List(ctx, idempotency.StateSent)
				if err != nil || len(sent) != 1 {
					t.Fatalf("journal %+v, %v; want one sent entry", sent, err)
				}
				key = sent[0].Key
				if got := sent[0].SendBy.Sub(t0); got != budget {
					t.Fatalf("journalled SendBy is T0+%v, want T0+%v (Config.SendTimeout)", got, budget)
				}
				// Place enforces what it journals: the request ends by then.
				if left := time.Until(deadline); deadline.IsZero() || left > budget {
					t.Fatalf("the request runs with %v left (deadline %v), want at most %v", left, deadline, budget)
				}
			}
			h.clock.Advance(20 * time.Second) // signed and sent now; killed on its way
			h.clock.Advance(time.Second)      // restarted

			restarted := h.clock.Now()
			m := h.managerWith(orders.Params{Config: cfg, ExclusiveJournal: tc.exclusive})
			var (
				sum  orders.Reconciliation
				rerr error
			)
			done := make(chan struct{})
			go func() {
				defer close(done)
				sum, rerr = m.Reconcile(ctx)
			}()
			if !h.parked(done) {
				t.Fatalf("Reconcile took \"not found\" at T0+21s as proof: %+v, %v; entry %+v", sum, rerr, h.entry(key))
			}
			bound := t0.Add(budget + settle) // the deadline plus SettleTime (≥ recvWindow + clock skew)
			if tc.exclusive {
				bound = restarted.Add(settle)
			}
			if at, _ := h.clock.NextDeadline(); !at.Equal(bound) {
				t.Fatalf("Reconcile waits until T0+%v, want T0+%v", at.Sub(t0), bound.Sub(t0))
			}
			h.clock.Set(bound.Add(-time.Millisecond))
			select {
			case <-done:
				t.Fatalf("Reconcile settled before the bound: %+v, %v", sum, rerr)
			default:
			}
			if e := h.entry(key); e.State != idempotency.StateSent {
				t.Fatalf("entry %s before the bound, want sent", e.State)
			}
			for _, e := range h.takeEvents() {
				t.Fatalf("event before the bound: %s %s (%v)", e.Order.ClientOrderID, e.Order.Status, e.Err)
			}
			if tc.lands {
				h.ex.book("BTCUSDT", key, "0.001", "65000") // within its recvWindow
			}
			h.clock.Set(bound)
			<-done
			if rerr != nil {
				t.Fatal(rerr)
			}
			evs := h.takeEvents()
			if len(evs) != 1 || evs[0].Order.ClientOrderID != key {
				t.Fatalf("events %v, want one for %s", statuses(evs), key)
			}
			if tc.lands {
				if sum.Found != 1 || sum.NotPlaced != 0 || evs[0].Order.Status != adapters.StatusNew {
					t.Fatalf("summary %+v, event %s; want the late order adopted", sum, statuses(evs))
				}
				if e := h.entry(key); e.State != idempotency.StateAcked {
					t.Fatalf("entry %s, want acked", e.State)
				}
				return
			}
			if sum.NotPlaced != 1 || evs[0].Order.Status != adapters.StatusRejected || !errors.Is(evs[0].Err, orders.ErrNotPlaced) {
				t.Fatalf("summary %+v, event %s (%v); want resolved as never placed", sum, statuses(evs), evs[0].Err)
			}
			if e := h.entry(key); e.State != idempotency.StateResolved || e.OrderStatus != "REJECTED" {
				t.Fatalf("entry %s %q, want resolved REJECTED", e.State, e.OrderStatus)
			}
			if n := h.ex.numAttempts(); n != 0 {
				t.Fatalf("%d placement attempts: a proven-absent intent is never resent", n)
			}
		})
	}
}

// TestReconcileSettlesUnknownByItsAnswer: an entry left unknown was marked so after Place got
// its answer, when every try had been signed, so its send deadline no longer matters: a
// restart settles it SettleTime after that answer.
func TestReconcileSettlesUnknownByItsAnswer(t *testing.T) {
	const settle = 10 * time.Second
	cfg := orders.Config{SettleTime: settle, SendTimeout: time.Hour}
	h := newHarness(t, cfg)
	h.ex.script(fault{land: false, err: errUnknown})
	h.ex.failQueries(errReadFail, errReadFail, errReadFail, errReadFail)
	o, err := h.m.Place(t.Context(), limitBuy("0.001", "65000"))
	if !errors.Is(err, scheduler.ErrUnknownOutcome) {
		t.Fatalf("Place: %v, want the unknown outcome", err)
	}
	if e := h.entry(o.ClientOrderID); e.State != idempotency.StateUnknown || !e.SendBy.Equal(epoch.Add(time.Hour)) {
		t.Fatalf("journal %+v, want unknown with the hour's deadline", e)
	}
	h.clock.Advance(settle) // crashed and restarted
	m := h.manager(cfg)
	var sum orders.Reconciliation
	done := make(chan struct{})
	go func() {
		defer close(done)
		sum, err = m.Reconcile(t.Context())
	}()
	if h.parked(done) {
		at, _ := h.clock.NextDeadline()
		h.clock.Set(at)
		<-done
		t.Fatalf("Reconcile waited until %v after the answer for an entry whose tries were all signed", at.Sub(epoch))
	}
	if err != nil || sum.NotPlaced != 1 {
		t.Fatalf("Reconcile %+v, %v; want the unknown entry resolved as never placed", sum, err)
	}
}

// TestReconcileWaitsOutShedReads: a scheduler too busy to send reconciliation's reads within
// their MaxWait (a fleet whose slots are held elsewhere, a loaded machine) sheds them; they
// were never sent, so Reconcile asks again instead of failing start-up, and still gives up
// when its context ends.
func TestReconcileWaitsOutShedReads(t *testing.T) {
	h := newHarness(t, orders.Config{})
	open, finished := h.keys.Next(), h.keys.Next()
	h.journal(open, idempotency.StateAcked, "a")
	h.journal(finished, idempotency.StateAcked, "a")
	h.ex.book("BTCUSDT", open, "0.001", "60000")
	h.ex.book("BTCUSDT", finished, "0.001", "60000")
	h.ex.fill(finished, "0.001") // not open: queried at poll priority
	shed := fmt.Errorf("adapter: %w", scheduler.ErrShed)
	h.ex.mu.Lock()
	h.ex.openShed = 3
	h.ex.qerrs = []error{shed, shed}
	h.ex.mu.Unlock()

	sum, err := h.m.Reconcile(t.Context())
	if err != nil {
		t.Fatalf("reconcile failed on shed reads: %v", err)
	}
	if sum.Open != 1 || sum.Finished != 1 {
		t.Errorf("summary %+v, want the open order tracked and the filled one finished", sum)
	}
	h.ex.mu.Lock()
	opens, queries := len(h.ex.priorities["open"]), h.ex.queriedKeys[finished]
	h.ex.mu.Unlock()
	if opens != 4 || queries != 3 {
		t.Errorf("open orders read %d times, query %d times; want 4 and 3 (each shed read asked again)", opens, queries)
	}

	h.ex.mu.Lock()
	h.ex.openShed = math.MaxInt
	h.ex.mu.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := h.m.Reconcile(ctx); !errors.Is(err, scheduler.ErrShed) {
		t.Fatalf("reconcile with every read shed until its context ended: err %v, want ErrShed", err)
	}
}

// TestReconcileResendsIdenticalCreate: on an exchange with lasting client order ids
// (adapters.LastingClientIDs, Coinbase), a restart settles a placement left unknown by sending
// the identical create again — same intent, same key — while the entry's journalled send
// deadline has not passed: the exchange answers with the order (the original one if it landed),
// so there is one order either way and the entry is acked from the answer. Past the deadline
// the intent is stale: nothing is sent, the order is looked up. An exchange without lasting ids
// is looked up within the deadline too.
func TestReconcileResendsIdenticalCreate(t *testing.T) {
	const settle, budget = 10 * time.Second, time.Hour
	for _, tc := range []struct {
		name    string
		lasting bool
		landed  bool          // the first create reached the exchange (its answer was lost)
		after   time.Duration // from the placement to the restart
		resend  bool
	}{
		{name: "within the deadline, landed: the original order", lasting: true, landed: true, after: settle, resend: true},
		{name: "within the deadline, lost: placed by the resend", lasting: true, after: settle, resend: true},
		{name: "past the deadline, landed: looked up", lasting: true, landed: true, after: 2 * budget},
		{name: "past the deadline, lost: not placed, not resent", lasting: true, after: 2 * budget},
		{name: "no lasting ids: looked up", landed: true, after: settle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := orders.Config{SettleTime: settle, SendTimeout: budget}
			h := newHarness(t, cfg)
			h.ex.lasting = tc.lasting
			h.ex.script(fault{land: tc.landed, err: errUnknown})
			h.ex.failQueries(errReadFail, errReadFail, errReadFail, errReadFail)
			o, err := h.m.Place(t.Context(), limitBuy("0.001", "65000"))
			if !errors.Is(err, scheduler.ErrUnknownOutcome) {
				t.Fatalf("Place: %v, want the unknown outcome", err)
			}
			key := o.ClientOrderID
			if e := h.entry(key); e.State != idempotency.StateUnknown || !e.SendBy.Equal(epoch.Add(budget)) {
				t.Fatalf("journal %+v, want unknown with the hour's deadline", e)
			}
			h.clock.Advance(tc.after) // crashed and restarted
			creates, queries := h.ex.numAttempts(), h.ex.queriesOf(key)
			m := h.manager(cfg)
			sum, err := m.Reconcile(t.Context())
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}

			h.ex.mu.Lock()
			sent := append([]adapters.OrderRequest(nil), h.ex.attempts[creates:]...)
			first := h.ex.attempts[0]
			h.ex.mu.Unlock()
			e := h.entry(key)
			_, held := h.ex.order(key)
			if tc.resend {
				if len(sent) != 1 {
					t.Fatalf("%d creates at the restart, want 1", len(sent))
				}
				r := sent[0]
				if r.ClientOrderID != key || r.Symbol != first.Symbol || r.Side != first.Side || r.Type != first.Type ||
					r.TimeInForce != first.TimeInForce || !r.Quantity.Equal(first.Quantity) || !r.Price.Equal(first.Price) {
					t.Fatalf("resent %+v, want the identical create %+v", r, first)
				}
				if h.ex.queriesOf(key) != queries {
					t.Fatalf("the resent entry was looked up too (%d queries)", h.ex.queriesOf(key)-queries)
				}
				if sum.Resent != 1 || sum.Found != 1 || !held || h.ex.numOrders() != 1 || e.State != idempotency.StateAcked || e.Attempts != 2 {
					t.Fatalf("Reconcile %+v, held %v, %d orders, journal %+v; want one order, its entry acked from the answer",
						sum, held, h.ex.numOrders(), e)
				}
				if !strings.Contains(h.logText(), `"path":"resend"`) {
					t.Fatalf("the resend is not logged:\n%s", h.logText())
				}
				return
			}
			if len(sent) != 0 || sum.Resent != 0 {
				t.Fatalf("%d creates at the restart (Reconcile %+v), want none", len(sent), sum)
			}
			if h.ex.queriesOf(key) == queries {
				t.Fatal("the entry was not looked up")
			}
			want := idempotency.StateResolved // proven absent: never placed
			if tc.landed {
				want = idempotency.StateAcked
			}
			if e.State != want || held != tc.landed {
				t.Fatalf("journal %s, held %v; want %s, %v", e.State, held, want, tc.landed)
			}
			if tc.lasting && !strings.Contains(h.logText(), `"path":"lookup"`) {
				t.Fatalf("the lookup path is not logged:\n%s", h.logText())
			}
		})
	}
}
