package sim_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters/sim"
)

// TestDepthLimits: GET /api/v3/depth returns as many levels as the limit asks, up to 5000
// (a larger limit reads as 5000) or as many as the book has, sorted best first around the
// price, and weighs by the limit (rest-api.md "Order book").
func TestDepthLimits(t *testing.T) {
	h := newHarness(t, nil)
	price := decimal.RequireFromString("65000.00")
	tick := decimal.RequireFromString("0.01")
	for _, tc := range []struct {
		query        string
		levels, cost int
	}{
		{"symbol=BTCUSDT", 100, 5},
		{"symbol=BTCUSDT&limit=1", 1, 5},
		{"symbol=BTCUSDT&limit=100", 100, 5},
		{"symbol=BTCUSDT&limit=101", 101, 25},
		{"symbol=BTCUSDT&limit=500", 500, 25},
		{"symbol=BTCUSDT&limit=501", 501, 50},
		{"symbol=BTCUSDT&limit=1000", 1000, 50},
		{"symbol=BTCUSDT&limit=1001", 1001, 250},
		{"symbol=BTCUSDT&limit=5000", 5000, 250},
		{"symbol=BTCUSDT&limit=6000", 5000, 250},
	} {
		t.Run(tc.query, func(t *testing.T) {
			before := h.s.Stats().UsedWeightTotal
			r := h.get("/api/v3/depth", tc.query)
			if r.status != 200 || int64(r.weight())-before != int64(tc.cost) {
				t.Fatalf("%d, weight %d, want %d", r.status, int64(r.weight())-before, tc.cost)
			}
			var d snapshot
			r.json(t, &d)
			if len(d.Bids) != tc.levels || len(d.Asks) != tc.levels || d.LastUpdateID == 0 {
				t.Fatalf("%d bids, %d asks at %d, want %d each", len(d.Bids), len(d.Asks), d.LastUpdateID, tc.levels)
			}
			checkSide(t, d.Bids, price.Sub(tick), -1)
			checkSide(t, d.Asks, price.Add(tick), +1)
		})
	}
}

// checkSide: the first level is best, prices strictly move away from the price, every
// quantity is positive; the first 50 levels are one tick apart.
func checkSide(t *testing.T, levels [][2]string, best decimal.Decimal, dir int) {
	t.Helper()
	tick := decimal.RequireFromString("0.01")
	prev := decimal.Zero
	for i, l := range levels {
		p, q := decimal.RequireFromString(l[0]), decimal.RequireFromString(l[1])
		if !q.IsPositive() || len(l[0]) != len(fmtFixed(p)) {
			t.Fatalf("level %d: %v", i, l)
		}
		switch {
		case i == 0 && !p.Equal(best):
			t.Fatalf("best level %s, want %s", p, best)
		case i > 0 && p.Sub(prev).Sign() != dir:
			t.Fatalf("level %d at %s after %s: not sorted best first", i, p, prev)
		case i > 0 && i < 50 && !p.Sub(prev).Abs().Equal(tick):
			t.Fatalf("level %d at %s after %s: the first 50 levels are one tick apart", i, p, prev)
		}
		prev = p
	}
}

func fmtFixed(d decimal.Decimal) string { return d.StringFixed(8) }

// TestDepthShallowBook: a book that runs out of price levels (bids cannot go below one tick)
// returns what it has, as Binance does, and a smaller BookLevels caps every limit.
func TestDepthShallowBook(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.WalkInterval = 1000 * time.Hour })
	if err := h.s.SetPrice("DOGEUSDT", "0.00100"); err != nil { // 100 ticks
		t.Fatal(err)
	}
	var d snapshot
	h.get("/api/v3/depth", "symbol=DOGEUSDT&limit=5000").json(t, &d)
	if len(d.Bids) != 99 || len(d.Asks) != 5000 || d.Bids[98][0] != "0.00001000" {
		t.Fatalf("%d bids (last %v), %d asks", len(d.Bids), d.Bids[len(d.Bids)-1], len(d.Asks))
	}
	h2 := newHarness(t, func(c *sim.Config) { c.Streams.BookLevels = 20 })
	h2.get("/api/v3/depth", "symbol=ETHUSDT&limit=1000").json(t, &d)
	if len(d.Bids) != 20 || len(d.Asks) != 20 {
		t.Fatalf("BookLevels 20: %d bids, %d asks", len(d.Bids), len(d.Asks))
	}
}

// TestDepthDiffsStaySmall: a 5000-level book does not make diff updates carry it whole: a
// one-tick move changes the levels next to the price and nothing deep.
func TestDepthDiffsStaySmall(t *testing.T) {
	s := wsSim(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/stream?streams=btcusdt@depth@100ms")
	if err := s.SetPrice("BTCUSDT", "65000.00"); err != nil {
		t.Fatal(err)
	}
	first := readDepth(t, ctx, c) // whatever came before
	for i := 1; i <= 3; i++ {
		if err := s.SetPrice("BTCUSDT", "65000.0"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	for ev := first; ev.LU < first.LU+3; {
		ev = readDepth(t, ctx, c)
		// Three one-tick moves: the best bid and ask appear, the 50th levels leave, and
		// at most one grid level a side moves in or out at the end of the dense run.
		if len(ev.Bids) > 8 || len(ev.Asks) > 8 {
			t.Fatalf("a diff of one-tick moves carries %d bids and %d asks", len(ev.Bids), len(ev.Asks))
		}
	}
}
