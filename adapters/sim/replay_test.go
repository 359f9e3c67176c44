package sim_test

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
)

// sampleCSV is five one-minute BTCUSDT candles in Binance's kline format.
const sampleCSV = `1714824000000,64000.00,64100.00,63900.00,64050.00,2.00000,1714824059999,128050.0,100,1.0,64000.0,0
1714824060000,64050.00,64080.00,63800.00,63850.00,1.20000,1714824119999,76620.0,80,0.5,32000.0,0
1714824120000,63850.00,64200.00,63850.00,64150.00,3.00004,1714824179999,192450.0,120,2.0,128000.0,0
1714824180000,64150.00,64150.00,64150.00,64150.00,0,1714824239999,0,0,0,0,0
1714824240000,64150.00,64300.00,64000.00,64290.00,0.40000,1714824299999,25700.0,10,0.2,12800.0,0
`

func replayCandles(t *testing.T) []adapters.Candle {
	t.Helper()
	cs, iv, err := adapters.ReadKlineCSV(strings.NewReader(sampleCSV), "BTCUSDT", 0)
	if err != nil || iv != "1m" || len(cs) != 5 {
		t.Fatalf("csv: %v %s %d", err, iv, len(cs))
	}
	return cs
}

// TestReplayRepeatsTheFile: the simulator replaying a candle file serves the file's candles
// back from its own trade tape (open, high, low, close, volume), and a resting buy fills when
// a candle's low reaches it, at its price.
func TestReplayRepeatsTheFile(t *testing.T) {
	cs := replayCandles(t)
	h := newHarnessAt(t, cs[0].OpenTime, func(c *sim.Config) {
		c.Replay = []sim.Replay{{Symbol: "BTCUSDT", Candles: cs}}
	})
	var events []sim.OrderEvent
	h.s.SetOrderListener(func(e sim.OrderEvent) { events = append(events, e) })
	// A buy at 63900 rests (the price opens at 64000); the second candle's low (63800) fills it.
	r := h.signed("POST", "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "GTC",
		"quantity", "0.01", "price", "63900", "newClientOrderId", "rest-1"))
	if r.status != 200 {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	h.clk.Advance(5*time.Minute + time.Second)
	ks := decodeKlines(t, h.get("/api/v3/klines", "symbol=BTCUSDT&interval=1m"))
	// The file's 5, then the current minute: flat at the last close, no trades.
	if len(ks) != 6 || ks[5].n != 0 || ks[5].o != "64290.00000000" {
		t.Fatalf("%d candles, want the file's 5 and the current one: %+v", len(ks), ks)
	}
	for i, k := range ks[:5] {
		c := cs[i]
		if k.open != c.OpenTime.UnixMilli() || k.o != c.Open.StringFixed(8) || k.h != c.High.StringFixed(8) ||
			k.l != c.Low.StringFixed(8) || k.c != c.Close.StringFixed(8) || k.v != c.Volume.StringFixed(8) || k.n != 4 {
			t.Errorf("candle %d: %+v, file %+v", i, k, c)
		}
	}
	// The first candle took 63900 (its low) too: the buy filled there, in the first candle.
	var fill *sim.OrderEvent
	for i := range events {
		if events[i].ExecType == "TRADE" {
			fill = &events[i]
		}
	}
	if fill == nil || fill.ClientOrderID != "rest-1" || fill.Status != "FILLED" || fill.LastPrice.String() != "63900" ||
		fill.Time.After(cs[0].CloseTime) {
		t.Fatalf("fill %+v (events %+v)", fill, events)
	}
	// After the file the price stays at the last close.
	h.clk.Advance(time.Hour)
	var px struct{ Price string }
	h.get("/api/v3/ticker/price", "symbol=BTCUSDT").json(t, &px)
	if px.Price != "64290.00000000" {
		t.Fatalf("price after the file: %s", px.Price)
	}
}

func TestReadKlineCSVRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, csv, want string }{
		{"empty", "", "no candles"},
		{"short row", "1714824000000,1,2\n", "line 1: 3 fields"},
		{"high below open", "1714824000000,10,9,8,9,1,1714824059999,1,1,0,0,0\n", "prices out of order"},
		{"not a decimal", "1714824000000,10,x,8,9,1,1714824059999,1,1,0,0,0\n", "field 3 (high)"},
		{"odd interval", "1714824000000,10,11,8,9,1,1714824006999,1,1,0,0,0\n", "no Binance interval"},
		{"out of order", strings.Repeat("1714824000000,10,11,8,9,1,1714824059999,1,1,0,0,0\n", 2), "line 2: open time"},
		{"gap interval", "1714824000000,10,11,8,9,1,1714824059999,1,1,0,0,0\n1714824060000,10,11,8,9,1,1714824179999,1,1,0,0,0\n", "line 2: not a 1m candle"},
	} {
		_, _, err := adapters.ReadKlineCSV(strings.NewReader(tc.csv), "BTCUSDT", 0)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// Microsecond times (spot files since 2025) and a header line.
	cs, iv, err := adapters.ReadKlineCSV(strings.NewReader("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n"+
		"1735689600000000,10,11,8,9,1,1735689659999999,1,1,0,0,0\n"), "BTCUSDT", 0)
	if err != nil || iv != "1m" || !cs[0].OpenTime.Equal(time.UnixMilli(1735689600000)) || !cs[0].CloseTime.Equal(time.UnixMilli(1735689659999)) {
		t.Fatalf("µs file: %v %s %+v", err, iv, cs)
	}
}

// TestReplayTradesFillOnlyWhenATradeCrosses: replaying recorded trades, a resting buy fills at
// the time of the first trade at or below its price, not before, and the klines are the
// trades aggregated.
func TestReplayTradesFillOnlyWhenATradeCrosses(t *testing.T) {
	t0 := time.UnixMilli(1714824000000).UTC()
	d := decimal.RequireFromString
	trades := []sim.ReplayTrade{
		{Time: t0, Price: d("64000"), Qty: d("0.5")},
		{Time: t0.Add(10 * time.Second), Price: d("63950"), Qty: d("0.1"), BuyerMaker: true},
		{Time: t0.Add(20 * time.Second), Price: d("63900"), Qty: d("0.2"), BuyerMaker: true}, // crosses 63900
		{Time: t0.Add(70 * time.Second), Price: d("64100"), Qty: d("0.3")},
	}
	h := newHarnessAt(t, t0, func(c *sim.Config) {
		c.Replay = []sim.Replay{{Symbol: "BTCUSDT", Trades: trades}}
	})
	var events []sim.OrderEvent
	h.s.SetOrderListener(func(e sim.OrderEvent) { events = append(events, e) })
	r := h.signed("POST", "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "GTC",
		"quantity", "0.01", "price", "63900", "newClientOrderId", "rest-1"))
	if r.status != 200 {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	h.clk.Advance(15 * time.Second) // 63950 traded: above the buy
	h.s.Sync()
	for _, e := range events {
		if e.ExecType == "TRADE" {
			t.Fatalf("filled before a trade reached 63900: %+v", e)
		}
	}
	h.clk.Advance(2 * time.Minute)
	h.s.Sync()
	var fills []sim.OrderEvent
	for _, e := range events {
		if e.ExecType == "TRADE" {
			fills = append(fills, e)
		}
	}
	if len(fills) != 1 || fills[0].LastPrice.String() != "63900" || !fills[0].Time.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("fills %+v, want one at 63900 at the third trade's time", fills)
	}
	ks := decodeKlines(t, h.get("/api/v3/klines", "symbol=BTCUSDT&interval=1m"))
	if len(ks) < 2 || ks[0].o != "64000.00000000" || ks[0].l != "63900.00000000" || ks[0].c != "63900.00000000" ||
		ks[0].v != "0.80000000" || ks[0].n != 3 || ks[1].o != "64100.00000000" || ks[1].n != 1 {
		t.Fatalf("klines %+v, want the trades aggregated", ks)
	}
}
