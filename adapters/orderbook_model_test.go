package adapters_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
)

// mapBook is the order book as it was kept before the sorted sides: one map per side keyed by
// the price's canonical string, the top found by a scan, a copy sorted on demand. It is the
// model the OrderBook must agree with, and the baseline of BenchmarkBookApply.
type mapBook struct{ bids, asks map[string]adapters.Level }

func newMapBook() *mapBook {
	return &mapBook{bids: map[string]adapters.Level{}, asks: map[string]adapters.Level{}}
}

func (m *mapBook) apply(u adapters.DepthUpdate) {
	set := func(side map[string]adapters.Level, l adapters.Level) {
		if l.Quantity.IsZero() {
			delete(side, l.Price.String())
			return
		}
		side[l.Price.String()] = l
	}
	for _, l := range u.Bids {
		set(m.bids, l)
	}
	for _, l := range u.Asks {
		set(m.asks, l)
	}
}

func (m *mapBook) top() (bid, ask adapters.Level) {
	hasBid, hasAsk := false, false
	for _, l := range m.bids {
		if !hasBid || l.Price.GreaterThan(bid.Price) {
			bid, hasBid = l, true
		}
	}
	for _, l := range m.asks {
		if !hasAsk || l.Price.LessThan(ask.Price) {
			ask, hasAsk = l, true
		}
	}
	return bid, ask
}

func (m *mapBook) sorted(desc bool) []adapters.Level {
	side := m.asks
	if desc {
		side = m.bids
	}
	out := make([]adapters.Level, 0, len(side))
	for _, l := range side {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if desc {
			return out[i].Price.GreaterThan(out[j].Price)
		}
		return out[i].Price.LessThan(out[j].Price)
	})
	return out
}

// randomUpdate moves up to 8 levels a side among 60 prices, a third of them removals; a price
// is written with a varying number of trailing zeros ("100.5", "100.50"), which is one level.
func randomUpdate(rng *rand.Rand, id int64) adapters.DepthUpdate {
	u := adapters.DepthUpdate{Symbol: "X", FirstID: id, FinalID: id}
	levels := func(lo int) []adapters.Level {
		var out []adapters.Level
		for range rng.IntN(9) {
			tenths := lo + rng.IntN(60)
			p := fmt.Sprintf("%d.%d", tenths/10, tenths%10) + "000"[:rng.IntN(4)]
			q := "0"
			if rng.IntN(3) > 0 {
				q = fmt.Sprintf("%d.%03d", rng.IntN(5), rng.IntN(1000))
			}
			out = append(out, lvl(p, q))
		}
		return out
	}
	// Bids and asks overlap in price: the book may cross, which Top must refuse.
	u.Bids, u.Asks = levels(1000), levels(1040)
	return u
}

// TestBookAgreesWithTheMapModel applies thousands of random diff updates to an OrderBook and
// to the map-keyed model: after every one both hold the same levels in the same order, the
// same top, and Top refuses exactly the crossed or locked books.
func TestBookAgreesWithTheMapModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := adapters.NewOrderBook("X")
	b.Update(adapters.DepthUpdate{Symbol: "X", FirstID: 1, FinalID: 1})
	model := newMapBook()
	snap := adapters.Book{Symbol: "X", LastUpdateID: 1,
		Bids: []adapters.Level{lvl("100.5", "1"), lvl("100.50", "2"), lvl("101", "1")}, // one price twice: the last wins
		Asks: []adapters.Level{lvl("104.9", "1"), lvl("104.1", "1")},                   // not in order
	}
	if !b.Snapshot(snap) {
		t.Fatal("snapshot refused")
	}
	model.apply(adapters.DepthUpdate{Bids: snap.Bids, Asks: snap.Asks})
	for id := int64(2); id < 5000; id++ {
		u := randomUpdate(rng, id)
		if applied, need := b.Update(u); !applied || need {
			t.Fatalf("update %d: applied %v need %v", id, applied, need)
		}
		model.apply(u)
		got := b.Levels(0)
		if !adaptertest.SameLevels(got.Bids, model.sorted(true)) || !adaptertest.SameLevels(got.Asks, model.sorted(false)) {
			t.Fatalf("after update %d the book is\n%v\n%v\nthe model\n%v\n%v", id, got.Bids, got.Asks, model.sorted(true), model.sorted(false))
		}
		bid, ask, ok := b.Top()
		wantBid, wantAsk := model.top()
		if !adaptertest.SameLevels([]adapters.Level{bid, ask}, []adapters.Level{wantBid, wantAsk}) {
			t.Fatalf("after update %d top %v/%v, model %v/%v", id, bid, ask, wantBid, wantAsk)
		}
		sane := len(model.bids) > 0 && len(model.asks) > 0 && wantBid.Price.LessThan(wantAsk.Price)
		if ok != sane {
			t.Fatalf("after update %d top %v/%v ok %v, want %v", id, bid, ask, ok, sane)
		}
		if d := 3; len(got.Bids) > d && !adaptertest.SameLevels(b.Levels(d).Bids, got.Bids[:d]) {
			t.Fatalf("Levels(%d) is not the first %d levels", d, d)
		}
	}
}

// BenchmarkBookApply: one diff update of 8 levels a side applied to a 1000-level book and its
// top read, as the market stream does per message; "map-keyed" is the book as it was (a
// string key per level, the top by a scan), the baseline in the same run.
func BenchmarkBookApply(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	var snap adapters.Book
	for i := range 500 {
		snap.Bids = append(snap.Bids, adapters.Level{Price: decimal.New(int64(100000-i), -2), Quantity: decimal.New(1, 0)})
		snap.Asks = append(snap.Asks, adapters.Level{Price: decimal.New(int64(100001+i), -2), Quantity: decimal.New(1, 0)})
	}
	updates := make([]adapters.DepthUpdate, 1024)
	for i := range updates {
		for range 8 {
			q := decimal.New(int64(rng.IntN(3)), 0) // a third removals
			updates[i].Bids = append(updates[i].Bids, adapters.Level{Price: decimal.New(int64(100000-rng.IntN(20)), -2), Quantity: q})
			updates[i].Asks = append(updates[i].Asks, adapters.Level{Price: decimal.New(int64(100001+rng.IntN(20)), -2), Quantity: q})
		}
	}
	b.Run("sorted", func(b *testing.B) {
		book := adapters.NewOrderBook("X")
		book.Update(adapters.DepthUpdate{FirstID: 1, FinalID: 1})
		book.Snapshot(snap)
		b.ReportAllocs()
		id := int64(1)
		for i := 0; b.Loop(); i++ {
			u := updates[i%len(updates)]
			id++
			u.FirstID, u.FinalID = id, id
			book.Update(u)
			book.Top()
		}
	})
	b.Run("map-keyed", func(b *testing.B) {
		book := newMapBook()
		book.apply(adapters.DepthUpdate{Bids: snap.Bids, Asks: snap.Asks})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			book.apply(updates[i%len(updates)])
			book.top()
		}
	})
}
