package ledger

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func eq(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(d(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func trade(order string, id int64, buy bool, qty, price, fee, feeAsset string) Trade {
	return Trade{Strategy: "mm", Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT", OrderID: order, TradeID: id,
		Buy: buy, Quantity: d(qty), Price: d(price), Fee: d(fee), FeeAsset: feeAsset, Time: t0.Add(time.Duration(id) * time.Second)}
}

// marks is a fixed table of mids.
type marks map[string]string

func (m marks) get(symbol string) (decimal.Decimal, bool) {
	v, ok := m[symbol]
	if !ok {
		return decimal.Zero, false
	}
	return d(v), true
}

// TestHandComputedPnLWithFees books a sequence worked out by hand (and checked against the
// cash flows: every quote paid and received plus the holdings at the mark):
//
//	buy 1 @100, fee 0.001 BTC    → hold 0.999, cost 99.9, fees 0.1 USDT (the BTC at the trade's price)
//	buy 1.001 @110, fee 0.001 BNB → hold 2, cost 210.01, avg 105.005; BNB at its mid 300: fees 0.4
//	sell 1.5 @120, fee 0.18 USDT → realized (120−105.005)×1.5 = 22.4925; hold 0.5; fees 0.58
//	mark 115                     → unrealized (115−105.005)×0.5 = 4.9975; net 26.91
//	                               (cash −100 −110.11 +180 −0.18, BNB −0.3, holdings 57.5: 26.91)
//	sell 1 @100, fee 0.1 USDT    → closes 0.5: realized −2.5025 (19.99), opens short 0.5 @100
//	mark 90                      → unrealized (90−100)×−0.5 = 5; fees 0.68; net 24.31
func TestHandComputedPnLWithFees(t *testing.T) {
	m := marks{"BTCUSDT": "115", "BNBUSDT": "300"}
	l := New(WithMarks(m.get))
	l.ApplyTrade(trade("A", 1, true, "1", "100", "0.001", "BTC"))
	p, _ := l.Position("mm", "BTCUSDT")
	eq(t, "quantity after a buy paying its fee in BTC", p.Quantity, "0.999")
	eq(t, "avg entry", p.AvgEntry, "100")
	eq(t, "fees in USDT", p.FeesQuote, "0.1")

	l.ApplyTrade(trade("B", 2, true, "1.001", "110", "0.001", "BNB"))
	l.ApplyTrade(trade("C", 3, false, "1.5", "120", "0.18", "USDT"))
	p, _ = l.Position("mm", "BTCUSDT")
	eq(t, "quantity", p.Quantity, "0.5")
	eq(t, "avg entry", p.AvgEntry, "105.005")
	eq(t, "realized", p.Realized, "22.4925")
	eq(t, "unrealized at 115", p.Unrealized, "4.9975")
	eq(t, "fees in USDT", p.FeesQuote, "0.58")
	eq(t, "BTC fees", p.Fees["BTC"], "0.001")
	eq(t, "BNB fees", p.Fees["BNB"], "0.001")
	eq(t, "USDT fees", p.Fees["USDT"], "0.18")
	eq(t, "volume", p.Volume, "390.11")
	eq(t, "net", p.Net(), "26.91")
	if p.Fills != 3 {
		t.Errorf("fills = %d, want 3", p.Fills)
	}

	l.ApplyTrade(trade("D", 4, false, "1", "100", "0.1", "USDT"))
	m["BTCUSDT"] = "90"
	p, _ = l.Position("mm", "BTCUSDT")
	eq(t, "quantity after crossing to short", p.Quantity, "-0.5")
	eq(t, "avg entry of the short", p.AvgEntry, "100")
	eq(t, "realized", p.Realized, "19.99")
	eq(t, "unrealized of the short at 90", p.Unrealized, "5")
	eq(t, "net", p.Net(), "24.31")
	pnl := l.PnL("mm")
	eq(t, "PnL net", pnl.Net, "24.31")
	if pnl.Quote != "USDT" || pnl.Fills != 4 {
		t.Errorf("PnL = %+v, want quote USDT and 4 fills", pnl)
	}
}

// TestUpdateThenTradesCountsOnce: a stream fill books the position at once; its trades then
// add only their fees, and a replay of the cumulative update (a restart's reconciliation)
// books nothing more.
func TestUpdateThenTradesCountsOnce(t *testing.T) {
	l := New()
	up := Update{Strategy: "mm", Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT", OrderID: "A", Buy: true,
		Executed: d("2"), ExecutedQuote: d("210"), Time: t0}
	if got := l.ApplyUpdate(up); !got.Equal(d("2")) {
		t.Fatalf("update booked %s, want 2", got)
	}
	p, _ := l.Position("mm", "BTCUSDT")
	eq(t, "quantity from the update", p.Quantity, "2")
	eq(t, "avg entry from the update", p.AvgEntry, "105")
	if got := l.Pending(); len(got) != 1 || got[0] != "BTCUSDT" {
		t.Fatalf("pending = %v, want BTCUSDT", got)
	}
	l.ApplyTrade(trade("A", 7, true, "1", "100", "0.001", "BTC"))
	l.ApplyTrade(trade("A", 8, true, "1", "110", "0.001", "BTC"))
	if l.ApplyTrade(trade("A", 8, true, "1", "110", "0.001", "BTC")) {
		t.Fatal("a trade applied twice")
	}
	up.Final = true
	l.ApplyUpdate(up) // replayed: nothing new
	p, _ = l.Position("mm", "BTCUSDT")
	eq(t, "quantity less the BTC fees", p.Quantity, "1.998")
	eq(t, "fees", p.FeesQuote, "0.21")
	eq(t, "volume", p.Volume, "210")
	if p.Fills != 1 {
		t.Errorf("fills = %d, want 1 (the update; its trades only confirmed it)", p.Fills)
	}
	if got := l.Pending(); len(got) != 0 {
		t.Fatalf("pending = %v after the trades confirmed the update", got)
	}
}

// TestTradesThenUpdateCountsOnce: trades fetched before the order's update arrives are booked
// in full; the update adds only what they did not cover.
func TestTradesThenUpdateCountsOnce(t *testing.T) {
	l := New()
	l.ApplyTrade(trade("A", 1, false, "1", "100", "0.1", "USDT"))
	l.ApplyUpdate(Update{Strategy: "mm", Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT", OrderID: "A",
		Executed: d("1.5"), ExecutedQuote: d("151"), Time: t0})
	p, _ := l.Position("mm", "BTCUSDT")
	eq(t, "quantity", p.Quantity, "-1.5")
	eq(t, "cost of the short: 100 + 0.5 at 102", p.AvgEntry.Mul(p.Quantity).Neg().Round(8), "151")
	eq(t, "volume", p.Volume, "151")
}

func TestSnapshotRestore(t *testing.T) {
	l := New()
	l.ApplyTrade(trade("A", 1, true, "1", "100", "0.001", "BTC"))
	l.ApplyUpdate(Update{Strategy: "mm", Symbol: "BTCUSDT", Base: "BTC", Quote: "USDT", OrderID: "B", Buy: true,
		Executed: d("1"), ExecutedQuote: d("110"), Time: t0})
	l.SetCursor("BTCUSDT", 1)
	snap, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	want, _ := l.Position("mm", "BTCUSDT")
	got, _ := r.Position("mm", "BTCUSDT")
	eq(t, "restored quantity", got.Quantity, want.Quantity.String())
	eq(t, "restored fees", got.FeesQuote, want.FeesQuote.String())
	if r.ApplyTrade(trade("A", 1, true, "1", "100", "0.001", "BTC")) {
		t.Error("a trade below the restored cursor was applied again")
	}
	// B's trade confirms the restored provisional fill: its fee only.
	r.ApplyTrade(trade("B", 2, true, "1", "110", "0.11", "USDT"))
	got, _ = r.Position("mm", "BTCUSDT")
	eq(t, "quantity", got.Quantity, "1.999")
	if err := r.Restore([]byte(`{"version":9}`)); err == nil {
		t.Error("a snapshot of an unknown version was accepted")
	}
}

// BenchmarkApply books one fill per op (a trade of a new order, id increasing) beside the
// baseline of a plain map update of a float position.
func BenchmarkApply(b *testing.B) {
	b.Run("ledger", func(b *testing.B) {
		l := New()
		tr := trade("A", 0, true, "0.01", "100", "0.00001", "BTC")
		b.ReportAllocs()
		for i := range b.N {
			tr.TradeID = int64(i + 1)
			tr.Buy = i%2 == 0
			tr.OrderID = "o" // one order: its record stays, as for a resting order's many fills
			l.ApplyTrade(tr)
			if i%1024 == 0 {
				l.SetCursor("BTCUSDT", int64(i)) // the fetch cursor moves on as trades are fetched
			}
		}
	})
	b.Run("map-baseline", func(b *testing.B) {
		pos := map[string]float64{}
		b.ReportAllocs()
		for i := range b.N {
			q := 0.01
			if i%2 == 1 {
				q = -q
			}
			pos["mm/BTCUSDT"] += q
		}
	})
}

// TestFetchCursorBoundsSeenIDs: trade ids applied from order reports are remembered until a
// fetch moves the cursor past them; then they are forgotten and still count as seen.
func TestFetchCursorBoundsSeenIDs(t *testing.T) {
	l := New()
	l.ApplyTrade(trade("A", 10, true, "1", "100", "0", ""))
	l.ApplyTrade(trade("A", 11, true, "1", "100", "0", ""))
	if got := l.Unfetched(); len(got) != 1 || got[0] != "BTCUSDT" {
		t.Fatalf("unfetched = %v, want BTCUSDT", got)
	}
	l.SetCursor("BTCUSDT", 11)
	if got := l.Unfetched(); len(got) != 0 {
		t.Fatalf("unfetched after the cursor moved = %v", got)
	}
	if l.ApplyTrade(trade("A", 11, true, "1", "100", "0", "")) {
		t.Fatal("a trade below the cursor applied again")
	}
	p, _ := l.Position("mm", "BTCUSDT")
	eq(t, "quantity", p.Quantity, "2")
}
