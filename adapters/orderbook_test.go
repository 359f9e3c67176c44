package adapters_test

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

func lvl(p, q string) adapters.Level {
	return adapters.Level{Price: decimal.RequireFromString(p), Quantity: decimal.RequireFromString(q)}
}

// TestBookSync walks the documented procedure: buffer, snapshot, drop old updates, bridge,
// then a gap asks for exactly one snapshot however many updates follow it.
func TestBookSync(t *testing.T) {
	b := adapters.NewOrderBook("X")
	if _, need := b.Update(adapters.DepthUpdate{FirstID: 95, FinalID: 99, Bids: []adapters.Level{lvl("1", "1")}}); !need {
		t.Fatal("first update did not ask for a snapshot")
	}
	if _, need := b.Update(adapters.DepthUpdate{FirstID: 100, FinalID: 103, Bids: []adapters.Level{lvl("2", "5")}}); need {
		t.Fatal("asked twice")
	}
	if !b.Snapshot(adapters.Book{LastUpdateID: 101, Bids: []adapters.Level{lvl("1", "3")}, Asks: []adapters.Level{lvl("3", "1")}}) {
		t.Fatal("snapshot refused")
	}
	bid, ask, ok := b.Top()
	if !ok || bid.Price.String() != "2" || ask.Price.String() != "3" || b.LastUpdateID() != 103 {
		t.Fatalf("top %v %v %v at %d", bid, ask, ok, b.LastUpdateID())
	}
	if applied, _ := b.Update(adapters.DepthUpdate{FirstID: 104, FinalID: 104, Bids: []adapters.Level{lvl("2", "0")}}); !applied {
		t.Fatal("next update not applied")
	}
	asks := 0
	for i := int64(0); i < 20; i++ {
		if _, need := b.Update(adapters.DepthUpdate{FirstID: 110 + i, FinalID: 110 + i}); need {
			asks++
		}
	}
	if asks != 1 || b.Synced() {
		t.Fatalf("a gap asked for %d snapshots (synced %v), want 1", asks, b.Synced())
	}
	if b.StaleSnapshots() != 0 {
		t.Fatalf("a gap in the stream counted as %d stale snapshots", b.StaleSnapshots())
	}
	if b.Snapshot(adapters.Book{LastUpdateID: 105}) {
		t.Fatal("a snapshot older than the buffer was accepted")
	}
	if !b.Snapshot(adapters.Book{LastUpdateID: 120}) || !b.Synced() || b.LastUpdateID() != 129 {
		t.Fatalf("resync: synced %v at %d", b.Synced(), b.LastUpdateID())
	}
	if b.StaleSnapshots() != 1 {
		t.Fatalf("stale snapshots %d, want 1", b.StaleSnapshots())
	}
}

// A snapshot that lands before the new connection has buffered anything (it was in flight
// across a reconnect) is judged by the first update after it: one that starts past it proves
// the snapshot stale, and the book asks for one more.
func TestBookSnapshotAcrossReconnect(t *testing.T) {
	b := adapters.NewOrderBook("X")
	b.Resync()
	if !b.Snapshot(adapters.Book{LastUpdateID: 50, Bids: []adapters.Level{lvl("1", "1")}}) {
		t.Fatal("snapshot with nothing buffered refused")
	}
	applied, need := b.Update(adapters.DepthUpdate{FirstID: 60, FinalID: 61})
	if applied || !need || b.Synced() || b.StaleSnapshots() != 1 {
		t.Fatalf("applied %v need %v synced %v stale %d, want a stale snapshot re-asked", applied, need, b.Synced(), b.StaleSnapshots())
	}
	if !b.Snapshot(adapters.Book{LastUpdateID: 60}) || b.LastUpdateID() != 61 {
		t.Fatalf("resync at %d", b.LastUpdateID())
	}
	// A straddling first update is accepted.
	b.Resync()
	if !b.Snapshot(adapters.Book{LastUpdateID: 70}) {
		t.Fatal("refused")
	}
	if applied, need := b.Update(adapters.DepthUpdate{FirstID: 65, FinalID: 72}); !applied || need || b.StaleSnapshots() != 1 {
		t.Fatalf("straddling update: applied %v need %v stale %d", applied, need, b.StaleSnapshots())
	}
}

// TestBookTopRefusesACrossedBook: a synced book whose best bid is at or above its best ask
// has no top to trade on (ok false), and says which levels it found; once an update uncrosses
// it, it has one again.
func TestBookTopRefusesACrossedBook(t *testing.T) {
	b := adapters.NewOrderBook("X")
	b.Update(adapters.DepthUpdate{FirstID: 1, FinalID: 1})
	if !b.Snapshot(adapters.Book{LastUpdateID: 10, Bids: []adapters.Level{lvl("5", "1"), lvl("2", "1")}, Asks: []adapters.Level{lvl("3", "1")}}) {
		t.Fatal("snapshot refused")
	}
	if bid, ask, ok := b.Top(); ok || bid.Price.String() != "5" || ask.Price.String() != "3" {
		t.Fatalf("crossed book: top %v %v ok %v, want 5/3 refused", bid, ask, ok)
	}
	b.Update(adapters.DepthUpdate{FirstID: 11, FinalID: 11, Bids: []adapters.Level{lvl("5", "0")}})
	if bid, ask, ok := b.Top(); !ok || bid.Price.String() != "2" || ask.Price.String() != "3" {
		t.Fatalf("uncrossed: top %v %v ok %v", bid, ask, ok)
	}
	b.Update(adapters.DepthUpdate{FirstID: 12, FinalID: 12, Bids: []adapters.Level{lvl("3", "1")}})
	if _, _, ok := b.Top(); ok {
		t.Fatal("a locked book (bid = ask) has a top")
	}
	b.Update(adapters.DepthUpdate{FirstID: 13, FinalID: 13, Bids: []adapters.Level{lvl("3", "0"), lvl("2", "0")}})
	if bid, _, ok := b.Top(); ok || !bid.Price.IsZero() {
		t.Fatalf("empty bid side: bid %v ok %v", bid, ok)
	}
}
