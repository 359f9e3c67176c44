package orders_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/orders"
)

// sharedMemory is a MemoryStore that tells instances apart as a fleet's Redis journal does.
type sharedMemory struct {
	*idempotency.MemoryStore
	mu    sync.Mutex
	alive map[string]bool
}

func newSharedMemory(now func() time.Time) *sharedMemory {
	return &sharedMemory{MemoryStore: idempotency.NewMemoryStore(idempotency.WithClock(now)), alive: map[string]bool{}}
}

func (s *sharedMemory) MarkAlive(_ context.Context, instance string, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alive[instance] = true
	return nil
}

func (s *sharedMemory) Alive(_ context.Context, instance string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alive[instance], nil
}

// fleetBot is one instance of a fleet: its keys and its manager.
type fleetBot struct {
	keys *idempotency.KeyGenerator
	m    *orders.Manager
	sum  orders.Reconciliation
	err  error
}

// fleetScene is the journal and the exchange as three instances left them: t1 and t2 are
// alive, t3 died a while ago. Each has an entry sent whose order landed, t1 and t3 one whose
// outcome was unknown and that never landed, t2 and t3 an acked open order, and t2 and t3 an
// open order whose entry is lost.
type fleetScene struct {
	ex    *fakeExchange
	clock *clock.Fake
	store idempotency.Shared
	keys  map[string]*idempotency.KeyGenerator

	unresolved map[string][]string // instance → its unresolved keys
	live       map[string][]string // instance → every key of it that should be tracked afterwards
}

func newFleetScene(t *testing.T, store idempotency.Shared, clk *clock.Fake) *fleetScene {
	t.Helper()
	ctx := t.Context()
	sc := &fleetScene{ex: newFakeExchange(), clock: clk, store: store, keys: map[string]*idempotency.KeyGenerator{},
		unresolved: map[string][]string{}, live: map[string][]string{}}
	sc.ex.now = clk.Now
	for _, inst := range []string{"t1", "t2", "t3"} {
		k, err := idempotency.NewKeyGenerator("kl", inst, idempotency.WithKeyClock(clk.Now))
		if err != nil {
			t.Fatal(err)
		}
		sc.keys[inst] = k
	}
	put := func(inst string, state idempotency.State, booked bool) string {
		key := sc.keys[inst].Next()
		err := store.Reserve(ctx, idempotency.Entry{Key: key, Intent: idempotency.IntentRecord{
			Symbol: "BTCUSDT", Side: "BUY", Type: "LIMIT", TimeInForce: "GTC", Quantity: "0.001", Price: "60000", Strategy: inst,
		}})
		if err != nil {
			t.Fatal(err)
		}
		path := map[idempotency.State][]idempotency.State{
			idempotency.StateSent:    {idempotency.StateSent},
			idempotency.StateUnknown: {idempotency.StateSent, idempotency.StateUnknown},
			idempotency.StateAcked:   {idempotency.StateSent, idempotency.StateAcked},
		}[state]
		for _, s := range path {
			if _, err := store.Update(ctx, key, func(e *idempotency.Entry) error { e.State = s; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if booked {
			sc.ex.book("BTCUSDT", key, "0.001", "60000")
			sc.live[inst] = append(sc.live[inst], key)
		}
		if state.Unresolved() {
			sc.unresolved[inst] = append(sc.unresolved[inst], key)
		}
		return key
	}
	for _, inst := range []string{"t1", "t2", "t3"} {
		put(inst, idempotency.StateSent, true)
	}
	put("t1", idempotency.StateUnknown, false)
	put("t3", idempotency.StateUnknown, false)
	put("t2", idempotency.StateAcked, true)
	put("t3", idempotency.StateAcked, true)
	for _, inst := range []string{"t2", "t3"} {
		key := sc.keys[inst].Next() // placed, journal entry lost
		sc.ex.book("BTCUSDT", key, "0.001", "60000")
		sc.live[inst] = append(sc.live[inst], key)
	}
	clk.Advance(orders.DefaultTakeoverAfter + time.Second) // t3 died that long ago
	for _, inst := range []string{"t1", "t2"} {
		if err := store.MarkAlive(ctx, inst, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	return sc
}

func (sc *fleetScene) bot(t *testing.T, inst string) *fleetBot {
	t.Helper()
	m, err := orders.New(orders.Params{Exchange: sc.ex, Store: sc.store, Keys: sc.keys[inst], Clock: sc.clock, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return &fleetBot{keys: sc.keys[inst], m: m}
}

// reconcileTogether runs the bots' Reconciles at the same time, as a fleet's start-up does.
func reconcileTogether(bots ...*fleetBot) {
	var wg sync.WaitGroup
	for _, b := range bots {
		wg.Go(func() { b.sum, b.err = b.m.Reconcile(context.Background()) })
	}
	wg.Wait()
}

func openKeys(m *orders.Manager) map[string]bool {
	out := map[string]bool{}
	for _, o := range m.Open("") {
		out[o.ClientOrderID] = true
	}
	return out
}

// checkFleetReconcile: two live instances reconciling at once on one journal each settle
// their own entries only, every unresolved entry is queried once in all, and exactly one of
// them takes over everything of the dead one (its entries and its open order without one).
func checkFleetReconcile(t *testing.T, sc *fleetScene) {
	t.Helper()
	b1, b2 := sc.bot(t, "t1"), sc.bot(t, "t2")
	reconcileTogether(b1, b2)
	for _, b := range []*fleetBot{b1, b2} {
		if b.err != nil {
			t.Fatalf("reconcile: %v", b.err)
		}
	}
	t.Logf("t1: %+v\nt2: %+v", b1.sum, b2.sum)
	for inst, keys := range sc.unresolved {
		for _, k := range keys {
			if n := sc.ex.queriesOf(k); n != 1 {
				t.Errorf("%s's entry %s queried %d times by the fleet, want once", inst, k, n)
			}
		}
	}
	taker, other := b1, b2
	if b2.sum.TakenOver > 0 {
		taker, other = b2, b1
	}
	if taker.sum.TakenOver != 3 || other.sum.TakenOver != 0 {
		t.Fatalf("taken over: t1 %d, t2 %d; want all 3 of t3's entries by one instance", b1.sum.TakenOver, b2.sum.TakenOver)
	}
	if b1.sum.Unresolved != 2+2*boolInt(taker == b1) || b2.sum.Unresolved != 1+2*boolInt(taker == b2) {
		t.Errorf("unresolved: t1 %d, t2 %d", b1.sum.Unresolved, b2.sum.Unresolved)
	}
	want := map[*fleetBot][]string{b1: sc.live["t1"], b2: sc.live["t2"]}
	want[taker] = append(append([]string(nil), want[taker]...), sc.live["t3"]...)
	for b, keys := range want {
		got := openKeys(b.m)
		if len(got) != len(keys) {
			t.Errorf("%s tracks %d orders, want %d: %v", b.keys.Instance(), len(got), len(keys), got)
		}
		for _, k := range keys {
			if !got[k] {
				t.Errorf("%s does not track %s", b.keys.Instance(), k)
			}
		}
	}
	for _, k := range sc.unresolved["t3"] {
		e, err := sc.store.Get(t.Context(), k)
		if err != nil || e.OwnerInstance() != taker.keys.Instance() || e.State.Unresolved() {
			t.Errorf("t3's entry %s after the takeover: %+v, %v", k, e, err)
		}
	}

	// The user-data stream shows every instance the whole account: t1 does not adopt t2's
	// order, and its resync after a gap queries only its own.
	o, _ := sc.ex.order(sc.live["t2"][0])
	o.Status = adapters.StatusPartiallyFilled
	if b1.m.Apply(t.Context(), o) || len(openKeys(b1.m)) != len(want[b1]) {
		t.Error("t1 adopted t2's order from the stream")
	}
	before := map[string]int{}
	for _, k := range sc.live["t2"] {
		before[k] = sc.ex.queriesOf(k)
	}
	if err := b1.m.ResyncInFlight(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, k := range sc.live["t2"] {
		if sc.ex.queriesOf(k) != before[k] {
			t.Errorf("t1's resync queried t2's order %s", k)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestReconcileFleetOwnEntries(t *testing.T) {
	clk := clock.NewFake(epoch)
	checkFleetReconcile(t, newFleetScene(t, newSharedMemory(clk.Now), clk))
}

// TestFleetReconcileRedisJournal runs the same with two instances on one Redis journal.
func TestFleetReconcileRedisJournal(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	clk := clock.NewFake(time.Now())
	store := idempotency.NewRedisStore(rdb, prefix, idempotency.WithClock(clk.Now))
	checkFleetReconcile(t, newFleetScene(t, store, clk))
}

// TestReconcileFleetLeavesOthers: another instance's entries are left to it while it is alive,
// or when one of them was touched lately, whatever their age.
func TestReconcileFleetLeavesOthers(t *testing.T) {
	for _, tc := range []string{"alive", "touched lately"} {
		t.Run(tc, func(t *testing.T) {
			clk := clock.NewFake(epoch)
			store := newSharedMemory(clk.Now)
			sc := newFleetScene(t, store, clk)
			switch tc {
			case "alive":
				_ = store.MarkAlive(t.Context(), "t3", time.Minute)
			case "touched lately":
				k := sc.unresolved["t3"][0]
				if _, err := store.Update(t.Context(), k, func(e *idempotency.Entry) error { e.Attempts++; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			b1 := sc.bot(t, "t1")
			reconcileTogether(b1)
			if b1.err != nil || b1.sum.TakenOver != 0 || b1.sum.LeftToOthers != 5 {
				t.Fatalf("summary %+v, err %v: want t2's 2 and t3's 3 entries left", b1.sum, b1.err)
			}
			for _, k := range append(append([]string(nil), sc.live["t3"]...), sc.unresolved["t3"]...) {
				if sc.ex.queriesOf(k) != 0 || openKeys(b1.m)[k] {
					t.Errorf("t1 touched t3's %s", k)
				}
			}
		})
	}
}

// TestFleetTakeoverSeesAClaimMadeBeforeItsList: t1 has already claimed the first of the dead
// t3's entries when t2 reads the journal. t2 must leave t3's other entries to t1, not split
// them (the interleaving a loaded machine produces).
func TestFleetTakeoverSeesAClaimMadeBeforeItsList(t *testing.T) {
	clk := clock.NewFake(epoch)
	sc := newFleetScene(t, newSharedMemory(clk.Now), clk)
	entries, err := sc.store.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	staleFrom := clk.Now().Add(-orders.DefaultTakeoverAfter)
	claimed := 0
	for _, e := range entries {
		if e.OwnerInstance() == "t3" && e.State.Unresolved() {
			if _, err := idempotency.Claim(t.Context(), sc.store, e.Key, "t3", "t1", staleFrom); err != nil {
				t.Fatal(err)
			}
			claimed++
			break
		}
	}
	if claimed != 1 {
		t.Fatal("the scene has no unresolved entry of t3")
	}
	b2 := sc.bot(t, "t2")
	sum, err := b2.m.Reconcile(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if sum.TakenOver != 0 {
		t.Fatalf("t2 took over %d of t3's entries after t1 had begun taking t3 over", sum.TakenOver)
	}
}

// TestFleetCancelAllTouchesOnlyItsOwn: in a fleet, CancelAll (shutdown, cancel_on_trip) pulls
// this instance's orders, including one it never tracked, and leaves the other instances'
// orders on the exchange, though their keys carry the same bot prefix.
func TestFleetCancelAllTouchesOnlyItsOwn(t *testing.T) {
	clk := clock.NewFake(epoch)
	store := newSharedMemory(clk.Now)
	ex := newFakeExchange()
	ex.now = clk.Now
	keys := map[string]*idempotency.KeyGenerator{}
	bots := map[string]*orders.Manager{}
	for _, inst := range []string{"t1", "t2"} {
		k, err := idempotency.NewKeyGenerator("kl", inst, idempotency.WithKeyClock(clk.Now))
		if err != nil {
			t.Fatal(err)
		}
		keys[inst] = k
		m, err := orders.New(orders.Params{Exchange: ex, Store: store, Keys: k, Clock: clk, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		bots[inst] = m
	}
	ctx := t.Context()
	placed := map[string]adapters.Order{}
	for inst, m := range bots {
		o, err := m.Place(ctx, limitBuy("0.001", "60000"))
		if err != nil {
			t.Fatal(err)
		}
		placed[inst] = o
	}
	untracked1 := ex.book("BTCUSDT", keys["t1"].Next(), "0.001", "60000") // t1's, lost from its memory
	untracked2 := ex.book("BTCUSDT", keys["t2"].Next(), "0.001", "60000")

	if err := bots["t1"].CancelAll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{placed["t1"].ClientOrderID, untracked1.ClientOrderID} {
		if got, _ := ex.order(id); got.Status != adapters.StatusCanceled {
			t.Errorf("t1's own order %s is %s after t1's CancelAll", id, got.Status)
		}
	}
	for _, id := range []string{placed["t2"].ClientOrderID, untracked2.ClientOrderID} {
		if got, _ := ex.order(id); got.Status != adapters.StatusNew {
			t.Errorf("t2's order %s is %s after t1's CancelAll: one instance pulled another's order", id, got.Status)
		}
	}
}
