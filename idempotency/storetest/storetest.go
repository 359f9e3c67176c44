// Package storetest is the conformance suite every idempotency.Store passes. A new store (the
// Redis store, a wrapper, a fake) proves itself by running it:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) idempotency.Store { return newMyStore(t) })
//	}
//
// A store that keeps its journal across Close runs RunPersistent instead, which adds the
// durability checks. The suite only uses the Store interface; each test gets a fresh, empty
// store from the factory and closes it when done.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/idempotency"
)

// Factory returns a new, empty store for one test.
type Factory func(t *testing.T) idempotency.Store

// Opener opens one journal; every call after a Close of the previous store must see what was
// written before. RunPersistent gets a new Opener (a new, empty journal) for each test.
type Opener func() (idempotency.Store, error)

// Run runs the contract tests against stores from newStore.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	open := func(t *testing.T) idempotency.Store {
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	t.Run("ReserveGet", func(t *testing.T) { testReserveGet(t, open(t)) })
	t.Run("ReserveDuplicate", func(t *testing.T) { testReserveDuplicate(t, open(t)) })
	t.Run("ReserveInvalid", func(t *testing.T) { testReserveInvalid(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open(t)) })
	t.Run("Transitions", func(t *testing.T) { testTransitions(t, open) })
	t.Run("UpdateFields", func(t *testing.T) { testUpdateFields(t, open(t)) })
	t.Run("SendBy", func(t *testing.T) { testSendBy(t, open(t)) })
	t.Run("UpdateAborts", func(t *testing.T) { testUpdateAborts(t, open(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentUpdates(t, open(t)) })
	t.Run("ConcurrentReserve", func(t *testing.T) { testConcurrentReserve(t, open(t)) })
	t.Run("ConcurrentMoves", func(t *testing.T) { testConcurrentMoves(t, open(t)) })
	t.Run("List", func(t *testing.T) { testList(t, open(t)) })
	t.Run("Cursors", func(t *testing.T) { testCursors(t, open(t)) })
	t.Run("Compact", func(t *testing.T) { testCompact(t, open(t)) })
	t.Run("Context", func(t *testing.T) { testContext(t, open(t)) })
	t.Run("Claim", func(t *testing.T) { testClaim(t, open(t)) })
	t.Run("ConcurrentTakeover", func(t *testing.T) { testConcurrentTakeover(t, open(t)) })
	t.Run("Shared", func(t *testing.T) { testShared(t, open(t)) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, newStore(t)) })
}

// RunPersistent runs Run and then checks that the journal survives Close and reopening.
func RunPersistent(t *testing.T, newOpener func(t *testing.T) Opener) {
	t.Helper()
	Run(t, func(t *testing.T) idempotency.Store { return mustOpen(t, newOpener(t)) })
	t.Run("Durable", func(t *testing.T) { testDurable(t, newOpener(t)) })
	t.Run("DurableCompaction", func(t *testing.T) { testDurableCompaction(t, newOpener(t)) })
}

var ctx = context.Background()

// base is a fixed instant far from the real clock, so tests that set timestamps explicitly
// cannot be confused with stamps the store adds.
var base = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func mustOpen(t *testing.T, open Opener) idempotency.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func intent(n int) idempotency.IntentRecord {
	return idempotency.IntentRecord{
		Symbol: "BTCUSDT", Side: "BUY", Type: "LIMIT", TimeInForce: "GTC",
		Quantity: "0.00100000", Price: fmt.Sprintf("%d.01", 60000+n), Strategy: "mm",
	}
}

func entry(key string, n int) idempotency.Entry {
	return idempotency.Entry{Key: key, Intent: intent(n)}
}

func reserve(t *testing.T, s idempotency.Store, e idempotency.Entry) {
	t.Helper()
	if err := s.Reserve(ctx, e); err != nil {
		t.Fatalf("Reserve(%s): %v", e.Key, err)
	}
}

func get(t *testing.T, s idempotency.Store, key string) idempotency.Entry {
	t.Helper()
	e, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return e
}

func move(t *testing.T, s idempotency.Store, key string, to idempotency.State) idempotency.Entry {
	t.Helper()
	e, err := s.Update(ctx, key, func(e *idempotency.Entry) error { e.State = to; return nil })
	if err != nil {
		t.Fatalf("Update(%s → %s): %v", key, to, err)
	}
	return e
}

// sameEntry compares entries, times by instant (a store may drop the monotonic reading or the
// location on the way through storage).
func sameEntry(t *testing.T, what string, got, want idempotency.Entry) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || !got.SendBy.Equal(want.SendBy) {
		t.Errorf("%s: times (created/updated/send by) = %v/%v/%v, want %v/%v/%v", what,
			got.CreatedAt, got.UpdatedAt, got.SendBy, want.CreatedAt, want.UpdatedAt, want.SendBy)
	}
	got.CreatedAt, got.UpdatedAt, got.SendBy = want.CreatedAt, want.UpdatedAt, want.SendBy
	if got != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testReserveGet(t *testing.T, s idempotency.Store) {
	e := entry("kl-a-1", 1)
	reserve(t, s, e)
	got := get(t, s, "kl-a-1")
	if got.State != idempotency.StateReserved {
		t.Errorf("state = %q, want reserved", got.State)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("timestamps not stamped: created %v updated %v", got.CreatedAt, got.UpdatedAt)
	}
	want := e
	want.State, want.CreatedAt, want.UpdatedAt = idempotency.StateReserved, got.CreatedAt, got.UpdatedAt
	sameEntry(t, "Get", got, want)

	// Explicit timestamps are kept.
	e2 := entry("kl-a-2", 2)
	e2.State, e2.CreatedAt = idempotency.StateReserved, base
	reserve(t, s, e2)
	got2 := get(t, s, "kl-a-2")
	if !got2.CreatedAt.Equal(base) || !got2.UpdatedAt.Equal(base) {
		t.Errorf("explicit CreatedAt: got created %v updated %v, want %v", got2.CreatedAt, got2.UpdatedAt, base)
	}
}

func testReserveDuplicate(t *testing.T, s idempotency.Store) {
	reserve(t, s, entry("dup", 1))
	move(t, s, "dup", idempotency.StateSent)
	err := s.Reserve(ctx, entry("dup", 2))
	if !errors.Is(err, idempotency.ErrKeyExists) {
		t.Fatalf("second Reserve: %v, want ErrKeyExists", err)
	}
	got := get(t, s, "dup")
	if got.State != idempotency.StateSent || got.Intent != intent(1) {
		t.Errorf("second Reserve changed the entry: %+v", got)
	}
}

func testReserveInvalid(t *testing.T, s idempotency.Store) {
	for _, tc := range []struct {
		name string
		e    idempotency.Entry
	}{
		{"empty key", entry("", 1)},
		{"state sent", idempotency.Entry{Key: "k", State: idempotency.StateSent}},
		{"unknown state", idempotency.Entry{Key: "k", State: "bogus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Reserve(ctx, tc.e); err == nil {
				t.Fatal("Reserve succeeded")
			}
		})
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Errorf("a refused Reserve left an entry: %v", err)
	}
}

func testNotFound(t *testing.T, s idempotency.Store) {
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	called := false
	_, err := s.Update(ctx, "nope", func(*idempotency.Entry) error { called = true; return nil })
	if !errors.Is(err, idempotency.ErrNotFound) {
		t.Errorf("Update: %v, want ErrNotFound", err)
	}
	if called {
		t.Error("Update called fn for a missing key")
	}
}

// pathTo lists the moves that take a fresh entry to each state.
var pathTo = map[idempotency.State][]idempotency.State{
	idempotency.StateReserved: nil,
	idempotency.StateSent:     {idempotency.StateSent},
	idempotency.StateAcked:    {idempotency.StateSent, idempotency.StateAcked},
	idempotency.StateRejected: {idempotency.StateRejected},
	idempotency.StateUnknown:  {idempotency.StateSent, idempotency.StateUnknown},
	idempotency.StateResolved: {idempotency.StateResolved},
}

var allStates = []idempotency.State{
	idempotency.StateReserved, idempotency.StateSent, idempotency.StateAcked,
	idempotency.StateRejected, idempotency.StateUnknown, idempotency.StateResolved,
}

// testTransitions tries every (from, to) pair: allowed moves are stored, the others fail with a
// *TransitionError naming both states and leave the entry as it was.
func testTransitions(t *testing.T, open func(*testing.T) idempotency.Store) {
	s := open(t)
	for _, from := range allStates {
		for _, to := range allStates {
			key := fmt.Sprintf("t-%s-%s", from, to)
			t.Run(string(from)+"→"+string(to), func(t *testing.T) {
				reserve(t, s, entry(key, 1))
				for _, st := range pathTo[from] {
					move(t, s, key, st)
				}
				before := get(t, s, key)
				got, err := s.Update(ctx, key, func(e *idempotency.Entry) error {
					e.State = to
					e.Note = "moved"
					return nil
				})
				after := get(t, s, key)
				if idempotency.CanMove(from, to) {
					if err != nil {
						t.Fatalf("allowed move failed: %v", err)
					}
					if got.State != to || after.State != to || after.Note != "moved" {
						t.Fatalf("after move: returned %q, stored %q (note %q), want %q", got.State, after.State, after.Note, to)
					}
					return
				}
				var te *idempotency.TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("illegal move: err = %v, want *TransitionError", err)
				}
				if te.Key != key || te.From != from || te.To != to {
					t.Errorf("TransitionError = %+v, want key %s %s→%s", te, key, from, to)
				}
				sameEntry(t, "entry after a refused move", after, before)
			})
		}
	}
}

func testUpdateFields(t *testing.T, s idempotency.Store) {
	e := entry("f", 1)
	e.CreatedAt = base
	reserve(t, s, e)
	sendBy := base.Add(30 * time.Second)
	got, err := s.Update(ctx, "f", func(e *idempotency.Entry) error {
		e.State = idempotency.StateSent
		e.Attempts++
		e.SendBy = sendBy
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.UpdatedAt.Equal(base) {
		t.Errorf("UpdatedAt not stamped: %v", got.UpdatedAt)
	}
	stamp := base.Add(time.Hour)
	got, err = s.Update(ctx, "f", func(e *idempotency.Entry) error {
		e.State = idempotency.StateAcked
		e.ExchangeOrderID = "123456789"
		e.OrderStatus = "NEW"
		e.Note = "acked by exchange"
		e.UpdatedAt = stamp
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := idempotency.Entry{
		Key: "f", Intent: intent(1), State: idempotency.StateAcked, ExchangeOrderID: "123456789",
		OrderStatus: "NEW", Note: "acked by exchange", Attempts: 1, SendBy: sendBy, CreatedAt: base, UpdatedAt: stamp,
	}
	sameEntry(t, "Update result", got, want)
	sameEntry(t, "Get after Update", get(t, s, "f"), want)

	// Entries handed out are copies.
	got.Note = "scribbled"
	if get(t, s, "f").Note != "acked by exchange" {
		t.Error("changing a returned entry changed the store")
	}
}

func testUpdateAborts(t *testing.T, s idempotency.Store) {
	reserve(t, s, entry("a", 1))
	before := get(t, s, "a")
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		fn   func(*idempotency.Entry) error
		want error
	}{
		{"fn error", func(e *idempotency.Entry) error { e.State = idempotency.StateSent; e.Note = "x"; return boom }, boom},
		{"changed key", func(e *idempotency.Entry) error { e.Key = "other"; return nil }, idempotency.ErrInvalidEntry},
		{"unknown state", func(e *idempotency.Entry) error { e.State = "bogus"; return nil }, idempotency.ErrInvalidEntry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Update(ctx, "a", tc.fn)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Update: %v, want %v", err, tc.want)
			}
			sameEntry(t, "entry after an aborted update", get(t, s, "a"), before)
		})
	}
	if _, err := s.Get(ctx, "other"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Errorf("an aborted key change left an entry under the new key: %v", err)
	}
}

// send moves key to sent with the deadline by.
func send(t *testing.T, s idempotency.Store, key string, by time.Time) {
	t.Helper()
	if _, err := s.Update(ctx, key, func(e *idempotency.Entry) error {
		e.State, e.SendBy = idempotency.StateSent, by
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// testSendBy: the deadline journalled with the move to sent is kept exactly (to the
// nanosecond, whatever the location: reconciliation compares it with the clock), outlives
// later moves that do not touch it, is replaced by a resend's, and is zero on an entry that
// was never sent (which readers take as "no deadline known").
func testSendBy(t *testing.T, s idempotency.Store) {
	reserve(t, s, entry("s", 1))
	if got := get(t, s, "s").SendBy; !got.IsZero() {
		t.Fatalf("a reserved entry has SendBy %v, want zero", got)
	}
	first := base.Add(20*time.Second + 123456789*time.Nanosecond).In(time.FixedZone("UTC+3", 3*3600))
	send(t, s, "s", first)
	if got := get(t, s, "s").SendBy; !got.Equal(first) {
		t.Fatalf("SendBy = %v, want %v", got, first)
	}
	move(t, s, "s", idempotency.StateUnknown)
	if got := get(t, s, "s").SendBy; !got.Equal(first) {
		t.Fatalf("SendBy after a move that does not set it = %v, want %v", got, first)
	}
	resend := first.Add(time.Minute)
	send(t, s, "s", resend)
	if got := get(t, s, "s").SendBy; !got.Equal(resend) {
		t.Fatalf("SendBy after a resend = %v, want %v", got, resend)
	}
	all, err := s.List(ctx, idempotency.StateSent)
	if err != nil || len(all) != 1 || !all[0].SendBy.Equal(resend) {
		t.Fatalf("List(sent) = %+v, %v; want s with SendBy %v", all, err, resend)
	}
}

// testConcurrentUpdates increments one counter from many goroutines: no update may be lost.
func testConcurrentUpdates(t *testing.T, s idempotency.Store) {
	const workers, each = 16, 25
	reserve(t, s, entry("c", 1))
	reserve(t, s, entry("d", 2))
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for _, k := range []string{"c", "d"} {
					_, err := s.Update(ctx, k, func(e *idempotency.Entry) error { e.Attempts++; return nil })
					if err != nil {
						errs <- fmt.Errorf("worker %d: %w", w, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, k := range []string{"c", "d"} {
		if got := get(t, s, k).Attempts; got != workers*each {
			t.Errorf("%s: Attempts = %d, want %d: updates were lost", k, got, workers*each)
		}
	}
}

// testConcurrentReserve races many goroutines to reserve one key: exactly one wins.
func testConcurrentReserve(t *testing.T, s idempotency.Store) {
	const workers = 16
	var wg sync.WaitGroup
	results := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- s.Reserve(ctx, entry("race", i))
		}()
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, idempotency.ErrKeyExists):
			t.Errorf("Reserve: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d goroutines reserved the same key, want 1", won)
	}
}

// testConcurrentMoves races acked against rejected from sent: the first wins, the rest see it.
func testConcurrentMoves(t *testing.T, s idempotency.Store) {
	const workers = 16
	errLost := errors.New("lost")
	reserve(t, s, entry("m", 1))
	move(t, s, "m", idempotency.StateSent)
	var wg sync.WaitGroup
	results := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := idempotency.StateAcked
			if i%2 == 1 {
				to = idempotency.StateRejected
			}
			_, err := s.Update(ctx, "m", func(e *idempotency.Entry) error {
				if e.State != idempotency.StateSent {
					return errLost
				}
				e.State = to
				return nil
			})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errLost):
			t.Errorf("Update: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d goroutines moved the entry out of sent, want 1", won)
	}
}

func testList(t *testing.T, s idempotency.Store) {
	if all, err := s.List(ctx); err != nil || len(all) != 0 {
		t.Fatalf("List of an empty store = %v, %v", all, err)
	}
	// Reserved out of order; keys deliberately not in time order either.
	for _, r := range []struct {
		key string
		age time.Duration
		to  []idempotency.State
	}{
		{"e", 1 * time.Minute, pathTo[idempotency.StateSent]},
		{"a", 5 * time.Minute, pathTo[idempotency.StateAcked]},
		{"d", 3 * time.Minute, pathTo[idempotency.StateUnknown]},
		{"b", 4 * time.Minute, nil},
		{"c", 3 * time.Minute, pathTo[idempotency.StateResolved]}, // same instant as d: key breaks the tie
	} {
		e := entry(r.key, 0)
		e.CreatedAt = base.Add(-r.age)
		reserve(t, s, e)
		for _, st := range r.to {
			move(t, s, r.key, st)
		}
	}
	for _, tc := range []struct {
		name   string
		states []idempotency.State
		want   []string
	}{
		{"all", nil, []string{"a", "b", "c", "d", "e"}},
		{"unresolved", []idempotency.State{idempotency.StateReserved, idempotency.StateSent, idempotency.StateUnknown}, []string{"b", "d", "e"}},
		{"acked", []idempotency.State{idempotency.StateAcked}, []string{"a"}},
		{"rejected", []idempotency.State{idempotency.StateRejected}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.List(ctx, tc.states...)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, e.Key)
				if e.Intent != intent(0) {
					t.Errorf("%s: intent %+v", e.Key, e.Intent)
				}
			}
			if fmt.Sprint(keys) != fmt.Sprint(tc.want) {
				t.Errorf("List(%v) = %v, want %v", tc.states, keys, tc.want)
			}
		})
	}
}

func testCursors(t *testing.T, s idempotency.Store) {
	if v, err := s.Cursor(ctx, "trades/BTCUSDT"); err != nil || v != "" {
		t.Fatalf("unset cursor = %q, %v; want \"\", nil", v, err)
	}
	steps := []struct{ name, value string }{
		{"trades/BTCUSDT", "100"},
		{"trades/ETHUSDT", "7"},
		{"trades/BTCUSDT", "101"},
	}
	for _, st := range steps {
		if err := s.SetCursor(ctx, st.name, st.value); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"trades/BTCUSDT": "101", "trades/ETHUSDT": "7"} {
		if v, err := s.Cursor(ctx, name); err != nil || v != want {
			t.Errorf("Cursor(%s) = %q, %v; want %q", name, v, err, want)
		}
	}
	if err := s.SetCursor(ctx, "", "x"); err == nil {
		t.Error("SetCursor with an empty name succeeded")
	}
}

func testCompact(t *testing.T, s idempotency.Store) {
	cutoff := base
	for _, r := range []struct {
		key     string
		path    []idempotency.State
		updated time.Time
	}{
		{"old-resolved", pathTo[idempotency.StateResolved], cutoff.Add(-time.Hour)},
		{"old-resolved-2", []idempotency.State{idempotency.StateSent, idempotency.StateAcked, idempotency.StateResolved}, cutoff.Add(-time.Nanosecond)},
		{"at-cutoff", pathTo[idempotency.StateResolved], cutoff},
		{"new-resolved", pathTo[idempotency.StateResolved], cutoff.Add(time.Hour)},
		{"old-acked", pathTo[idempotency.StateAcked], cutoff.Add(-time.Hour)},
		{"old-unknown", pathTo[idempotency.StateUnknown], cutoff.Add(-time.Hour)},
		{"old-reserved", nil, cutoff.Add(-time.Hour)},
	} {
		e := entry(r.key, 0)
		e.CreatedAt = cutoff.Add(-2 * time.Hour)
		reserve(t, s, e)
		for _, st := range r.path {
			move(t, s, r.key, st)
		}
		if _, err := s.Update(ctx, r.key, func(e *idempotency.Entry) error { e.UpdatedAt = r.updated; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Compact(ctx, cutoff)
	if err != nil || n != 2 {
		t.Fatalf("Compact = %d, %v; want 2", n, err)
	}
	for _, k := range []string{"old-resolved", "old-resolved-2"} {
		if _, err := s.Get(ctx, k); !errors.Is(err, idempotency.ErrNotFound) {
			t.Errorf("%s survived Compact: %v", k, err)
		}
	}
	left, _ := s.List(ctx)
	if len(left) != 5 {
		t.Errorf("%d entries left, want 5", len(left))
	}
	if n, err := s.Compact(ctx, cutoff); err != nil || n != 0 {
		t.Errorf("second Compact = %d, %v; want 0", n, err)
	}
	// A compacted key can be reserved again: the journal no longer knows it.
	reserve(t, s, entry("old-resolved", 1))
}

func testContext(t *testing.T, s idempotency.Store) {
	reserve(t, s, entry("x", 1))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	calls := map[string]error{}
	calls["Reserve"] = s.Reserve(cctx, entry("y", 1))
	_, calls["Update"] = s.Update(cctx, "x", func(e *idempotency.Entry) error { e.State = idempotency.StateSent; return nil })
	_, calls["Get"] = s.Get(cctx, "x")
	_, calls["List"] = s.List(cctx)
	_, calls["Cursor"] = s.Cursor(cctx, "c")
	calls["SetCursor"] = s.SetCursor(cctx, "c", "1")
	_, calls["Compact"] = s.Compact(cctx, base)
	for name, err := range calls {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	if get(t, s, "x").State != idempotency.StateReserved {
		t.Error("Update with a cancelled context wrote")
	}
}

func testClosed(t *testing.T, s idempotency.Store) {
	reserve(t, s, entry("x", 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	calls := map[string]error{}
	calls["Reserve"] = s.Reserve(ctx, entry("y", 1))
	_, calls["Update"] = s.Update(ctx, "x", func(e *idempotency.Entry) error { return nil })
	_, calls["Get"] = s.Get(ctx, "x")
	_, calls["List"] = s.List(ctx)
	_, calls["Cursor"] = s.Cursor(ctx, "c")
	calls["SetCursor"] = s.SetCursor(ctx, "c", "1")
	_, calls["Compact"] = s.Compact(ctx, base)
	for name, err := range calls {
		if !errors.Is(err, idempotency.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func testDurable(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	want := map[string]idempotency.Entry{}
	for i, st := range allStates {
		key := fmt.Sprintf("k%d", i)
		e := entry(key, i)
		e.CreatedAt = base.Add(time.Duration(i) * time.Millisecond)
		reserve(t, s, e)
		for _, m := range pathTo[st] {
			move(t, s, key, m)
			if m == idempotency.StateSent {
				if _, err := s.Update(ctx, key, func(e *idempotency.Entry) error {
					e.SendBy = base.Add(time.Duration(i) * time.Second)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		want[key] = get(t, s, key)
	}
	if err := s.SetCursor(ctx, "trades/BTCUSDT", "42"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for round := range 2 { // reopen twice: a reopened store must itself persist what it read
		s = mustOpen(t, open)
		all, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != len(want) {
			t.Fatalf("round %d: %d entries after reopen, want %d", round, len(all), len(want))
		}
		for _, e := range all {
			sameEntry(t, "reopened "+e.Key, e, want[e.Key])
		}
		if v, err := s.Cursor(ctx, "trades/BTCUSDT"); err != nil || v != "42" {
			t.Errorf("cursor after reopen = %q, %v", v, err)
		}
		if err := s.Reserve(ctx, entry("k0", 9)); !errors.Is(err, idempotency.ErrKeyExists) {
			t.Errorf("Reserve of a journalled key after reopen: %v, want ErrKeyExists", err)
		}
		// The lifecycle goes on where it stopped.
		if _, err := s.Update(ctx, "k1", func(e *idempotency.Entry) error { e.State = idempotency.StateReserved; return nil }); err == nil {
			t.Error("reopened entry moved sent → reserved")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func testDurableCompaction(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	reserve(t, s, entry("gone", 1))
	if _, err := s.Update(ctx, "gone", func(e *idempotency.Entry) error {
		e.State, e.UpdatedAt = idempotency.StateResolved, base.Add(-time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reserve(t, s, entry("kept", 2))
	if n, err := s.Compact(ctx, base); err != nil || n != 1 {
		t.Fatalf("Compact = %d, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, open)
	defer s.Close()
	if _, err := s.Get(ctx, "gone"); !errors.Is(err, idempotency.ErrNotFound) {
		t.Errorf("compacted entry back after reopen: %v", err)
	}
	get(t, s, "kept")
}

// testClaim walks Claim's rules: an owner claims its own entry; another instance takes it over
// only from its current owner and only when it is stale; afterwards the old owner cannot
// claim it back.
func testClaim(t *testing.T, s idempotency.Store) {
	const key = "kl-a-0000000000000000AB" // made by instance "a"
	reserve(t, s, entry(key, 1))
	if got := get(t, s, key).OwnerInstance(); got != "a" {
		t.Fatalf("OwnerInstance = %q, want the key's instance a", got)
	}
	before, err := idempotency.Claim(ctx, s, key, "a", "a", base)
	if err != nil || before.Key != key || before.Owner != "" {
		t.Fatalf("own claim: %+v, %v", before, err)
	}
	touched := get(t, s, key).UpdatedAt
	if _, err := idempotency.Claim(ctx, s, key, "b", "c", touched.Add(time.Hour)); !errors.Is(err, idempotency.ErrClaimed) {
		t.Fatalf("claim from a non-owner: %v, want ErrClaimed", err)
	}
	if _, err := idempotency.Claim(ctx, s, key, "a", "b", touched); !errors.Is(err, idempotency.ErrClaimed) {
		t.Fatalf("takeover of an entry touched at the stale bound: %v, want ErrClaimed", err)
	}
	if got := get(t, s, key); got.OwnerInstance() != "a" {
		t.Fatalf("a refused claim changed the owner to %q", got.OwnerInstance())
	}
	if _, err := idempotency.Claim(ctx, s, key, "a", "b", touched.Add(time.Nanosecond)); err != nil {
		t.Fatalf("takeover of a stale entry: %v", err)
	}
	if got := get(t, s, key); got.Owner != "b" || got.OwnerInstance() != "b" || got.State != idempotency.StateReserved {
		t.Fatalf("after takeover: %+v", got)
	}
	if _, err := idempotency.Claim(ctx, s, key, "a", "a", base); !errors.Is(err, idempotency.ErrClaimed) {
		t.Fatalf("the old owner claimed its entry back: %v", err)
	}
	if _, err := idempotency.Claim(ctx, s, "kl-a-nope", "a", "a", base); !errors.Is(err, idempotency.ErrNotFound) {
		t.Fatalf("claim of a missing entry: %v, want ErrNotFound", err)
	}
}

// testConcurrentTakeover races many instances to take over one stale entry: exactly one wins,
// and the entry names it.
func testConcurrentTakeover(t *testing.T, s idempotency.Store) {
	const key, workers = "kl-a-0000000000000000CD", 16
	reserve(t, s, entry(key, 1))
	stale := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	won := make(chan string, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := fmt.Sprintf("w%d", i)
			_, err := idempotency.Claim(ctx, s, key, "a", me, stale)
			switch {
			case err == nil:
				won <- me
			case !errors.Is(err, idempotency.ErrClaimed):
				t.Errorf("%s: %v", me, err)
			}
		}()
	}
	wg.Wait()
	close(won)
	var winners []string
	for w := range won {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("%d instances took the entry over: %v", len(winners), winners)
	}
	if got := get(t, s, key).Owner; got != winners[0] {
		t.Fatalf("owner %q, winner %q", got, winners[0])
	}
}

// testShared checks MarkAlive and Alive on a store shared by instances (skipped for others).
func testShared(t *testing.T, s idempotency.Store) {
	sh, ok := s.(idempotency.Shared)
	if !ok {
		t.Skip("not a shared store")
	}
	if alive, err := sh.Alive(ctx, "a"); err != nil || alive {
		t.Fatalf("Alive before MarkAlive = %v, %v", alive, err)
	}
	if err := sh.MarkAlive(ctx, "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	if alive, err := sh.Alive(ctx, "a"); err != nil || !alive {
		t.Fatalf("Alive after MarkAlive = %v, %v", alive, err)
	}
	if alive, err := sh.Alive(ctx, "b"); err != nil || alive {
		t.Fatalf("another instance is alive: %v, %v", alive, err)
	}
}
