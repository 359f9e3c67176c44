package runtime

import (
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/strategy"
)

// TestMailboxKeepsFactsAndBoundsTheRest: a strategy that stops reading loses the oldest
// trades (counted), keeps only the latest quote per symbol and one tick, and never loses an
// order update; delivery order is order updates, trades, status and quote per symbol, tick.
func TestMailboxKeepsFactsAndBoundsTheRest(t *testing.T) {
	m := newMailbox()
	const trades = maxPendingTrades + 100
	for i := range trades {
		m.Put(strategy.Trade{Symbol: "BTCUSDT", ID: int64(i + 1)})
		m.Put(strategy.Quote{Symbol: "BTCUSDT", BidPrice: decimal.NewFromInt(int64(i))})
		if i%1000 == 0 {
			m.Put(strategy.OrderUpdate{})
			m.Put(strategy.Tick{})
		}
	}
	dropped := m.TakeDropped()
	evs := m.Take()
	var orders, kept, quotes, ticks int
	var lastID int64
	for i, ev := range evs {
		switch e := ev.(type) {
		case strategy.OrderUpdate:
			if kept > 0 || quotes > 0 {
				t.Fatalf("event %d: an order update after market data", i)
			}
			orders++
		case strategy.Trade:
			if e.ID <= lastID {
				t.Fatalf("trades out of order: %d after %d", e.ID, lastID)
			}
			lastID = e.ID
			kept++
		case strategy.Quote:
			if !e.BidPrice.Equal(decimal.NewFromInt(trades - 1)) {
				t.Fatalf("kept quote %s, want the latest", e.BidPrice)
			}
			quotes++
		case strategy.Tick:
			if i != len(evs)-1 {
				t.Fatal("the tick is not last")
			}
			ticks++
		}
	}
	if orders != trades/1000+1 || quotes != 1 || ticks != 1 {
		t.Fatalf("orders %d, quotes %d, ticks %d", orders, quotes, ticks)
	}
	if kept+dropped != trades || kept > maxPendingTrades || lastID != trades {
		t.Fatalf("kept %d + dropped %d trades of %d (last id %d), at most %d kept", kept, dropped, trades, lastID, maxPendingTrades)
	}
	if m.TakeDropped() != 0 {
		t.Fatal("the dropped count was not reset")
	}
}
