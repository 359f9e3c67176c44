package sim_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters/sim"
)

// TestMarketStatsEndpoints checks /ticker/24hr, /ticker, /avgPrice, /aggTrades and
// /historicalTrades against the trade tape they summarise, their documented weights, and that
// an unmodified go-binance decodes them.
func TestMarketStatsEndpoints(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.WalkInterval = time.Second })
	h.get("/api/v3/time", "")
	h.clk.Advance(10 * time.Minute)
	var trades []tapeTrade
	h.get("/api/v3/trades", "symbol=BTCUSDT&limit=1000").json(t, &trades)
	if len(trades) != 600 {
		t.Fatalf("%d trades", len(trades))
	}
	// 24hr over everything traded: open, last, high, low, volume, count from the tape.
	var st struct {
		Symbol, OpenPrice, LastPrice, HighPrice, LowPrice, Volume, WeightedAvgPrice, PriceChangePercent, BidPrice, AskPrice string
		Count, FirstID, LastID                                                                                              int64
	}
	r := h.get("/api/v3/ticker/24hr", "symbol=BTCUSDT")
	r.json(t, &st)
	hi, lo := trades[0].Price, trades[0].Price
	vol := decimal.Zero
	for _, tr := range trades {
		p := decimal.RequireFromString(tr.Price)
		if p.GreaterThan(decimal.RequireFromString(hi)) {
			hi = tr.Price
		}
		if p.LessThan(decimal.RequireFromString(lo)) {
			lo = tr.Price
		}
		vol = vol.Add(decimal.RequireFromString(tr.Qty))
	}
	if st.Symbol != "BTCUSDT" || st.OpenPrice != trades[0].Price || st.LastPrice != trades[599].Price || st.HighPrice != hi ||
		st.LowPrice != lo || st.Count != 600 || st.FirstID != trades[0].ID || st.LastID != trades[599].ID || st.Volume != vol.StringFixed(8) ||
		st.BidPrice == "" || len(st.PriceChangePercent) < 5 {
		t.Fatalf("24hr %+v", st)
	}
	for _, tc := range []struct {
		path, query string
		weight      int
	}{
		{"/api/v3/ticker/24hr", "symbol=BTCUSDT", 2},
		{"/api/v3/ticker/24hr", "", 80},
		{"/api/v3/ticker/24hr", `symbols=["BTCUSDT","ETHUSDT"]`, 2},
		{"/api/v3/ticker/24hr", "symbol=BTCUSDT&type=MINI", 2},
		{"/api/v3/ticker", "symbol=BTCUSDT&windowSize=5m", 4},
		{"/api/v3/ticker", `symbols=["BTCUSDT","ETHUSDT","DOGEUSDT"]`, 12},
		{"/api/v3/avgPrice", "symbol=BTCUSDT", 2},
		{"/api/v3/ticker/tradingDay", "symbol=BTCUSDT&timeZone=8", 4},
		{"/api/v3/ticker/tradingDay", `symbols=["BTCUSDT","ETHUSDT"]&type=MINI`, 8},
		{"/api/v3/aggTrades", "symbol=BTCUSDT&limit=5", 4},
		{"/api/v3/historicalTrades", "symbol=BTCUSDT&limit=5", 25},
	} {
		h.clk.Advance(time.Minute) // a fresh weight window
		before := h.get("/api/v3/ping", "").weight()
		r := h.get(tc.path, tc.query)
		if r.status != 200 || r.weight()-before != tc.weight {
			t.Errorf("%s?%s: %d %s, weight %d, want %d", tc.path, tc.query, r.status, r.body, r.weight()-before, tc.weight)
		}
	}
	for _, tc := range []struct {
		path, query string
		code        int
	}{
		{"/api/v3/ticker", "", -1102},
		{"/api/v3/ticker", "symbol=BTCUSDT&windowSize=60m", -1130},
		{"/api/v3/ticker", "symbol=BTCUSDT&windowSize=1d2h", -1130},
		{"/api/v3/ticker/24hr", "symbol=BTCUSDT&type=HALF", -1130},
		{"/api/v3/aggTrades", "symbol=BTCUSDT&startTime=0&endTime=3600001", -1127},
		{"/api/v3/avgPrice", "", -1102},
	} {
		if r := h.get(tc.path, tc.query); r.status != 400 || r.code() != tc.code {
			t.Errorf("%s?%s: %d %s, want code %d", tc.path, tc.query, r.status, r.body, tc.code)
		}
	}
	// The trading day at +08:00 opens at 16:00 UTC the day before (the clock says 12:1x UTC).
	var td struct{ OpenTime, CloseTime int64 }
	h.get("/api/v3/ticker/tradingDay", "symbol=BTCUSDT&timeZone=8").json(t, &td)
	if time.UnixMilli(td.OpenTime).UTC().Hour() != 16 || td.CloseTime-td.OpenTime != 86400000-1 {
		t.Fatalf("tradingDay +8: %+v", td)
	}
	// The rolling window starts on a minute: 5m covers the last 5-6 minutes' trades.
	var roll struct{ OpenTime, CloseTime, Count int64 }
	h.get("/api/v3/ticker", "symbol=BTCUSDT&windowSize=5m").json(t, &roll)
	if roll.OpenTime%60000 != 0 || roll.CloseTime-roll.OpenTime < 5*60000 || roll.CloseTime-roll.OpenTime >= 6*60000 {
		t.Fatalf("rolling 5m: %+v", roll)
	}
	// Microseconds on request.
	var agg []struct{ T int64 }
	h.do("GET", "/api/v3/aggTrades", "symbol=BTCUSDT&limit=1", "", map[string]string{"X-MBX-TIME-UNIT": "MICROSECOND"}).json(t, &agg)
	if len(agg) != 1 || agg[0].T < 1e15 {
		t.Fatalf("aggTrades in µs: %+v", agg)
	}

	// An unmodified go-binance reads them all.
	hs := httptest.NewServer(h.s)
	defer hs.Close()
	c := gobinance.NewClient("", "")
	c.BaseURL = hs.URL
	ctx := context.Background()
	stats, err := c.NewListPriceChangeStatsService().Symbols([]string{"BTCUSDT", "ETHUSDT"}).Do(ctx)
	if err != nil || len(stats) != 2 || stats[0].Symbol != "BTCUSDT" {
		t.Fatalf("24hr: %v %+v", err, stats)
	}
	avg, err := c.NewAveragePriceService().Symbol("BTCUSDT").Do(ctx)
	if err != nil || avg.Mins != 5 || avg.Price == "" {
		t.Fatalf("avgPrice: %v %+v", err, avg)
	}
	tk, err := c.NewListSymbolTickerService().Symbol("BTCUSDT").WindowSize("1h").Do(ctx)
	if err != nil || len(tk) != 1 || tk[0].Count == 0 {
		t.Fatalf("rolling ticker: %v %+v", err, tk)
	}
	ag, err := c.NewAggTradesService().Symbol("BTCUSDT").FromID(trades[10].ID).Limit(3).Do(ctx)
	if err != nil || len(ag) != 3 || ag[0].AggTradeID != trades[10].ID || ag[0].Price != trades[10].Price {
		t.Fatalf("aggTrades: %v %+v", err, ag)
	}
	ht, err := c.NewHistoricalTradesService().Symbol("BTCUSDT").FromID(trades[20].ID).Limit(2).Do(ctx)
	if err != nil || len(ht) != 2 || ht[0].ID != trades[20].ID || strconv.FormatInt(ht[1].ID, 10) != strconv.FormatInt(trades[21].ID, 10) {
		t.Fatalf("historicalTrades: %v %+v", err, ht)
	}
	// (go-binance's RecentTradesService asks the legacy /api/v1/trades, which rest-api.md no
	// longer documents and the simulator does not serve.)
}

// TestTimeUnitMicrosecond: with X-MBX-TIME-UNIT: MICROSECOND every time in an answer is in
// microseconds — server time, orders' times, trades' — and in milliseconds without it.
func TestTimeUnitMicrosecond(t *testing.T) {
	h := newHarness(t, nil)
	micro := map[string]string{"X-MBX-TIME-UNIT": "MICROSECOND"}
	var st struct{ ServerTime int64 }
	h.do("GET", "/api/v3/time", "", "", micro).json(t, &st)
	if st.ServerTime != h.clk.Now().UnixMicro() {
		t.Fatalf("serverTime %d, want %d", st.ServerTime, h.clk.Now().UnixMicro())
	}
	h.get("/api/v3/time", "").json(t, &st)
	if st.ServerTime != h.clk.Now().UnixMilli() {
		t.Fatalf("serverTime in ms %d", st.ServerTime)
	}
	r := h.signed("POST", "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "GTC",
		"quantity", "0.001", "price", "30000", "newClientOrderId", "tu-1"))
	if r.status != 200 {
		t.Fatalf("order: %s", r.body)
	}
	p := vals("symbol", "BTCUSDT", "origClientOrderId", "tu-1", "timestamp", h.ms())
	payload := p.Encode()
	q := h.do("GET", "/api/v3/order", payload+"&signature="+sim.SignHMAC(h.secret, payload), "",
		map[string]string{"X-MBX-APIKEY": h.key, "X-MBX-TIME-UNIT": "MICROSECOND"})
	var o struct{ Time, UpdateTime, WorkingTime int64 }
	q.json(t, &o)
	if o.Time < 1e15 || o.UpdateTime < 1e15 || o.WorkingTime < 1e15 {
		t.Fatalf("order times not in µs: %s", q.body)
	}
}

// TestAvgPriceIsTheLastFiveMinutes: /api/v3/avgPrice is the volume-weighted price of the
// trades of the last five minutes, whatever the trade rate.
func TestAvgPriceIsTheLastFiveMinutes(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.WalkInterval = 100 * time.Millisecond })
	h.get("/api/v3/time", "")
	for range 10 { // 10 minutes of 10 trades a second: more than the trades kept in full
		h.clk.Advance(time.Minute)
		h.get("/api/v3/time", "")
	}
	now := h.clk.Now()
	var ks [][]json.RawMessage
	h.get("/api/v3/klines", "symbol=BTCUSDT&interval=1s&limit=1000&startTime="+strconv.FormatInt(now.Add(-5*time.Minute).UnixMilli(), 10)).json(t, &ks)
	vol, quote := decimal.Zero, decimal.Zero
	for _, k := range ks {
		var v, q string
		json.Unmarshal(k[5], &v)
		json.Unmarshal(k[7], &q)
		vol, quote = vol.Add(decimal.RequireFromString(v)), quote.Add(decimal.RequireFromString(q))
	}
	var avg struct {
		Mins  int
		Price string
	}
	h.get("/api/v3/avgPrice", "symbol=BTCUSDT").json(t, &avg)
	if avg.Mins != 5 || avg.Price != quote.Div(vol).Round(8).StringFixed(8) {
		t.Fatalf("avgPrice %+v, want %s (from %d one-second candles)", avg, quote.Div(vol).Round(8).StringFixed(8), len(ks))
	}
}
