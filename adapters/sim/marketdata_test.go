package sim_test

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters/sim"
)

// tapeHarness is a simulator whose walk has traded for 150 s in 250 ms steps (600 trades),
// with those trades as /api/v3/trades lists them.
func tapeHarness(t *testing.T) (*harness, []tapeTrade) {
	t.Helper()
	h := newHarness(t, func(c *sim.Config) { c.WalkInterval = 250 * time.Millisecond })
	h.get("/api/v3/time", "")
	h.clk.Advance(150 * time.Second)
	var trades []tapeTrade
	h.get("/api/v3/trades", "symbol=BTCUSDT&limit=1000").json(t, &trades)
	if len(trades) != 600 {
		t.Fatalf("%d trades, want 600", len(trades))
	}
	return h, trades
}

// tapeStats is what a ticker over trades must say.
type tapeStats struct {
	open, high, low, last, volume, quote decimal.Decimal
	first, lastID, count                 int64
}

func statsOf(trades []tapeTrade) tapeStats {
	var st tapeStats
	for i, tr := range trades {
		p, q := decimal.RequireFromString(tr.Price), decimal.RequireFromString(tr.Qty)
		if i == 0 {
			st.open, st.high, st.low, st.first = p, p, p, tr.ID
		}
		st.high, st.low = decimal.Max(st.high, p), decimal.Min(st.low, p)
		st.last, st.lastID = p, tr.ID
		st.volume = st.volume.Add(q)
		st.quote = st.quote.Add(p.Mul(q))
		st.count++
	}
	return st
}

type tickerJSON struct {
	Symbol             string `json:"symbol"`
	PriceChange        string `json:"priceChange"`
	PriceChangePercent string `json:"priceChangePercent"`
	WeightedAvgPrice   string `json:"weightedAvgPrice"`
	PrevClosePrice     string `json:"prevClosePrice"`
	LastPrice          string `json:"lastPrice"`
	LastQty            string `json:"lastQty"`
	BidPrice           string `json:"bidPrice"`
	AskPrice           string `json:"askPrice"`
	OpenPrice          string `json:"openPrice"`
	HighPrice          string `json:"highPrice"`
	LowPrice           string `json:"lowPrice"`
	Volume             string `json:"volume"`
	QuoteVolume        string `json:"quoteVolume"`
	OpenTime           int64  `json:"openTime"`
	CloseTime          int64  `json:"closeTime"`
	FirstID            int64  `json:"firstId"`
	LastID             int64  `json:"lastId"`
	Count              int64  `json:"count"`
}

func (tk tickerJSON) check(t *testing.T, what string, want tapeStats) {
	t.Helper()
	eq := func(field, got string, w decimal.Decimal) {
		t.Helper()
		if g := decimal.RequireFromString(got); !g.Equal(w) {
			t.Errorf("%s %s = %s, want %s", what, field, got, w)
		}
	}
	eq("openPrice", tk.OpenPrice, want.open)
	eq("highPrice", tk.HighPrice, want.high)
	eq("lowPrice", tk.LowPrice, want.low)
	eq("lastPrice", tk.LastPrice, want.last)
	eq("volume", tk.Volume, want.volume)
	eq("quoteVolume", tk.QuoteVolume, want.quote)
	if tk.FirstID != want.first || tk.LastID != want.lastID || tk.Count != want.count {
		t.Errorf("%s ids %d..%d count %d, want %d..%d %d", what, tk.FirstID, tk.LastID, tk.Count, want.first, want.lastID, want.count)
	}
	if tk.PriceChange != "" {
		eq("priceChange", tk.PriceChange, want.last.Sub(want.open))
		eq("weightedAvgPrice", tk.WeightedAvgPrice, want.quote.Div(want.volume).Round(8))
		pct := want.last.Sub(want.open).Div(want.open).Mul(decimal.NewFromInt(100)).StringFixed(3)
		if tk.PriceChangePercent != pct {
			t.Errorf("%s priceChangePercent %s, want %s", what, tk.PriceChangePercent, pct)
		}
	}
}

// keysOf lists the field names of a JSON object.
func keysOf(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sameKeys(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if len(got) != len(want) {
		t.Fatalf("%s fields %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s fields %v, want %v", what, got, want)
		}
	}
}

var (
	miniFields    = []string{"symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime", "closeTime", "firstId", "lastId", "count"}
	rollingFields = append([]string{"priceChange", "priceChangePercent", "weightedAvgPrice"}, miniFields...)
	fullFields    = append([]string{"prevClosePrice", "lastQty", "bidPrice", "bidQty", "askPrice", "askQty"}, rollingFields...)
)

// TestTicker24hrIsTheTradeTape: the 24hr ticker's statistics are exactly those of the trades
// /api/v3/trades lists, in the documented FULL and MINI shapes, for one, several and all
// symbols, and symbolStatus filters as documented.
func TestTicker24hrIsTheTradeTape(t *testing.T) {
	h, trades := tapeHarness(t)
	want := statsOf(trades)
	r := h.get("/api/v3/ticker/24hr", "symbol=BTCUSDT")
	if r.status != 200 {
		t.Fatalf("24hr: %d %s", r.status, r.body)
	}
	sameKeys(t, "FULL", keysOf(t, r.body), fullFields...)
	var tk tickerJSON
	r.json(t, &tk)
	tk.check(t, "24hr FULL", want)
	now := h.clk.Now()
	if tk.CloseTime != now.UnixMilli() || tk.OpenTime != now.Add(-24*time.Hour).UnixMilli() {
		t.Errorf("window %d..%d, want 24h up to %d", tk.OpenTime, tk.CloseTime, now.UnixMilli())
	}
	if tk.LastQty != trades[len(trades)-1].Qty || tk.PrevClosePrice != "0.00000000" || tk.BidPrice >= tk.AskPrice {
		t.Errorf("lastQty %s prevClose %s bid %s ask %s", tk.LastQty, tk.PrevClosePrice, tk.BidPrice, tk.AskPrice)
	}

	r = h.get("/api/v3/ticker/24hr", "symbol=BTCUSDT&type=MINI")
	sameKeys(t, "MINI", keysOf(t, r.body), miniFields...)
	var mini tickerJSON
	r.json(t, &mini)
	mini.check(t, "24hr MINI", want)

	var list []tickerJSON
	h.get("/api/v3/ticker/24hr", "symbols="+url.QueryEscape(`["ETHUSDT","BTCUSDT"]`)).json(t, &list)
	if len(list) != 2 || list[0].Symbol != "ETHUSDT" || list[1].Symbol != "BTCUSDT" {
		t.Fatalf("symbols: %+v", list)
	}
	list[1].check(t, "24hr in a list", want)
	h.get("/api/v3/ticker/24hr", "").json(t, &list)
	if len(list) != 3 {
		t.Fatalf("all symbols: %d tickers", len(list))
	}

	// Every simulated symbol is TRADING.
	wantCode(t, h.get("/api/v3/ticker/24hr", "symbol=BTCUSDT&symbolStatus=HALT"), 400, -1220, "")
	if r := h.get("/api/v3/ticker/24hr", "symbolStatus=BREAK"); r.status != 200 || string(r.body) != "[]" {
		t.Fatalf("all symbols with BREAK: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"symbol=BTCUSDT&type=HALF", -1130},
		{"symbol=BTCUSDT&symbols=" + url.QueryEscape(`["BTCUSDT"]`), -1128},
		{"symbols=" + url.QueryEscape(`["BTCUSDT","BTCUSDT"]`), -1151},
		{"symbol=NOPE", -1121},
		{"symbol=BTCUSDT&symbolStatus=OPEN", -1130},
		{"symbol=BTCUSDT&extra=1", -1104},
	} {
		if r := h.get("/api/v3/ticker/24hr", tc.query); r.status != 400 || r.code() != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.query, r.status, r.body, tc.code)
		}
	}
}

// TestRollingTicker: GET /api/v3/ticker opens on the minute at or before now−windowSize and
// closes now; its statistics are those of the trades in that span.
func TestRollingTicker(t *testing.T) {
	h, trades := tapeHarness(t)
	now := h.clk.Now()
	open := now.Add(-time.Minute).Truncate(time.Minute)
	var inWindow []tapeTrade
	for _, tr := range trades {
		if tr.Time >= open.UnixMilli() {
			inWindow = append(inWindow, tr)
		}
	}
	r := h.get("/api/v3/ticker", "symbol=BTCUSDT&windowSize=1m")
	sameKeys(t, "rolling FULL", keysOf(t, r.body), rollingFields...)
	var tk tickerJSON
	r.json(t, &tk)
	if tk.OpenTime != open.UnixMilli() || tk.CloseTime != now.UnixMilli() {
		t.Fatalf("window %d..%d, want %d..%d", tk.OpenTime, tk.CloseTime, open.UnixMilli(), now.UnixMilli())
	}
	tk.check(t, "rolling 1m", statsOf(inWindow))
	// The default window (1d) holds every trade; MINI drops the change fields.
	r = h.get("/api/v3/ticker", "symbols="+url.QueryEscape(`["BTCUSDT"]`)+"&type=MINI")
	var list []tickerJSON
	r.json(t, &list)
	if len(list) != 1 {
		t.Fatalf("symbols: %s", r.body)
	}
	list[0].check(t, "rolling 1d MINI", statsOf(trades))
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"", -1102},
		{"symbol=BTCUSDT&windowSize=60m", -1130},
		{"symbol=BTCUSDT&windowSize=8d", -1130},
		{"symbol=BTCUSDT&windowSize=1d2h", -1130},
		{"symbol=BTCUSDT&windowSize=0m", -1130},
	} {
		if r := h.get("/api/v3/ticker", tc.query); r.status != 400 || r.code() != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.query, r.status, r.body, tc.code)
		}
	}
}

// TestMarketDataWeights charges each endpoint its documented weight (rest-api.md).
func TestMarketDataWeights(t *testing.T) {
	h := newHarness(t, nil)
	syms := func(n int) string {
		list := make([]string, n)
		for i := range list {
			list[i] = []string{"BTCUSDT", "ETHUSDT", "DOGEUSDT"}[i%3]
		}
		b, _ := json.Marshal(list)
		return "symbols=" + url.QueryEscape(string(b))
	}
	prev := 0
	for _, tc := range []struct {
		path, query string
		weight      int
	}{
		{"/api/v3/ticker/24hr", "symbol=BTCUSDT", 2},
		{"/api/v3/ticker/24hr", "", 80},
		{"/api/v3/ticker/24hr", syms(3), 2},
		{"/api/v3/ticker/24hr", syms(20), 2}, // refused (duplicates) but charged as 20 symbols
		{"/api/v3/ticker/24hr", syms(21), 40},
		{"/api/v3/ticker/24hr", syms(101), 80},
		{"/api/v3/ticker/price", "symbol=BTCUSDT", 2},
		{"/api/v3/ticker/price", "", 4},
		{"/api/v3/ticker/price", syms(2), 4},
		{"/api/v3/ticker/bookTicker", "symbol=BTCUSDT", 2},
		{"/api/v3/ticker/bookTicker", syms(3), 4},
		{"/api/v3/ticker", "symbol=BTCUSDT", 4},
		{"/api/v3/ticker", syms(3), 12},
		{"/api/v3/ticker", syms(50), 200},
		{"/api/v3/ticker", syms(51), 200},
		{"/api/v3/ticker/tradingDay", "symbol=BTCUSDT", 4},
		{"/api/v3/ticker/tradingDay", syms(60), 200},
		{"/api/v3/avgPrice", "symbol=BTCUSDT", 2},
		{"/api/v3/historicalTrades", "symbol=BTCUSDT", 25},
		{"/api/v3/aggTrades", "symbol=BTCUSDT", 4},
	} {
		r := h.get(tc.path, tc.query)
		if got := r.weight() - prev; got != tc.weight {
			t.Errorf("%s?%.40s: weight %d, want %d (%d %.80s)", tc.path, tc.query, got, tc.weight, r.status, r.body)
		}
		prev = r.weight()
	}
}

type aggJSON struct {
	A, F, L int64
	P, Q    string
	T       int64 `json:"T"`
	M       bool  `json:"m"`
}

// TestTradeLookups: avgPrice is the volume-weighted price of the last five minutes' trades;
// historicalTrades reads from fromId; aggTrades narrows by fromId, startTime, endTime and
// limit; X-MBX-TIME-UNIT: MICROSECOND prints (and reads) times in microseconds.
func TestTradeLookups(t *testing.T) {
	h, trades := tapeHarness(t)
	st := statsOf(trades)
	var avg struct {
		Mins      int    `json:"mins"`
		Price     string `json:"price"`
		CloseTime int64  `json:"closeTime"`
	}
	r := h.get("/api/v3/avgPrice", "symbol=BTCUSDT")
	sameKeys(t, "avgPrice", keysOf(t, r.body), "mins", "price", "closeTime")
	r.json(t, &avg)
	if avg.Mins != 5 || avg.Price != st.quote.Div(st.volume).StringFixed(8) || avg.CloseTime != trades[len(trades)-1].Time {
		t.Fatalf("avgPrice %+v, want %s at %d", avg, st.quote.Div(st.volume).StringFixed(8), trades[len(trades)-1].Time)
	}

	var hist []tapeTrade
	h.get("/api/v3/historicalTrades", "symbol=BTCUSDT&fromId="+strconv.FormatInt(trades[10].ID, 10)+"&limit=3").json(t, &hist)
	if len(hist) != 3 || hist[0] != trades[10] || hist[2] != trades[12] {
		t.Fatalf("historicalTrades from %d: %+v", trades[10].ID, hist)
	}
	h.get("/api/v3/historicalTrades", "symbol=BTCUSDT&limit=2").json(t, &hist)
	if len(hist) != 2 || hist[1] != trades[len(trades)-1] {
		t.Fatalf("recent historicalTrades: %+v", hist)
	}

	var agg []aggJSON
	h.get("/api/v3/aggTrades", "symbol=BTCUSDT&fromId="+strconv.FormatInt(trades[5].ID, 10)+"&limit=2").json(t, &agg)
	if len(agg) != 2 || agg[0].A != trades[5].ID || agg[0].F != agg[0].A || agg[0].L != agg[0].A ||
		agg[0].P != trades[5].Price || agg[0].Q != trades[5].Qty || agg[0].T != trades[5].Time || agg[0].M != trades[5].IsBuyerMaker {
		t.Fatalf("aggTrades from id: %+v, trade %+v", agg, trades[5])
	}
	from, to := trades[100].Time, trades[103].Time
	h.get("/api/v3/aggTrades", "symbol=BTCUSDT&startTime="+strconv.FormatInt(from, 10)+"&endTime="+strconv.FormatInt(to, 10)).json(t, &agg)
	if len(agg) != 4 || agg[0].A != trades[100].ID || agg[3].A != trades[103].ID {
		t.Fatalf("aggTrades by time: %+v", agg)
	}
	h.get("/api/v3/aggTrades", "symbol=BTCUSDT&endTime="+strconv.FormatInt(to, 10)+"&limit=2").json(t, &agg)
	if len(agg) != 2 || agg[1].A != trades[103].ID {
		t.Fatalf("aggTrades up to endTime: %+v", agg)
	}

	micro := map[string]string{"X-MBX-TIME-UNIT": "MICROSECOND"}
	r = h.do("GET", "/api/v3/aggTrades", "symbol=BTCUSDT&startTime="+strconv.FormatInt(from*1000, 10)+"&limit=1", "", micro)
	r.json(t, &agg)
	if len(agg) != 1 || agg[0].A != trades[100].ID || agg[0].T/1000 != from || agg[0].T < 1e15 {
		t.Fatalf("aggTrades in µs: %s", r.body)
	}
	for _, path := range []string{"/api/v3/ticker/24hr", "/api/v3/ticker"} {
		var tk tickerJSON
		h.do("GET", path, "symbol=BTCUSDT", "", micro).json(t, &tk)
		if tk.CloseTime != h.clk.Now().UnixMicro() {
			t.Errorf("%s closeTime %d, want µs %d", path, tk.CloseTime, h.clk.Now().UnixMicro())
		}
	}
	h.do("GET", "/api/v3/avgPrice", "symbol=BTCUSDT", "", micro).json(t, &avg)
	h.do("GET", "/api/v3/historicalTrades", "symbol=BTCUSDT&limit=1", "", micro).json(t, &hist)
	if avg.CloseTime/1000 != trades[len(trades)-1].Time || avg.CloseTime < 1e15 || hist[0].Time/1000 != trades[len(trades)-1].Time {
		t.Fatalf("µs: avgPrice closeTime %d, historical time %d", avg.CloseTime, hist[0].Time)
	}
	wantCode(t, h.get("/api/v3/historicalTrades", "symbol=BTCUSDT&limit=1001"), 400, -1130, "")
	wantCode(t, h.get("/api/v3/aggTrades", "symbol=BTCUSDT&fromId=x"), 400, -1100, "")
	wantCode(t, h.get("/api/v3/avgPrice", ""), 400, -1102, "")
}

// TestMarketDataThirdPartyClient reads every ticker and trade lookup with an unmodified
// go-binance client.
func TestMarketDataThirdPartyClient(t *testing.T) {
	h, trades := tapeHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := gobinance.NewClient("", "")
	c.BaseURL = h.base
	st := statsOf(trades)

	stats, err := c.NewListPriceChangeStatsService().Symbol("BTCUSDT").Do(ctx)
	if err != nil || len(stats) != 1 || stats[0].Count != st.count || stats[0].LastPrice != st.last.StringFixed(8) {
		t.Fatalf("24hr: %v %+v", err, stats)
	}
	stats, err = c.NewListPriceChangeStatsService().Symbols([]string{"BTCUSDT", "ETHUSDT"}).Do(ctx)
	if err != nil || len(stats) != 2 {
		t.Fatalf("24hr symbols: %v %+v", err, stats)
	}
	prices, err := c.NewListPricesService().Symbols([]string{"BTCUSDT", "DOGEUSDT"}).Do(ctx)
	if err != nil || len(prices) != 2 || prices[0].Price != st.last.StringFixed(8) {
		t.Fatalf("prices: %v %+v", err, prices)
	}
	books, err := c.NewListBookTickersService().Do(ctx)
	if err != nil || len(books) != 3 || books[0].BidPrice >= books[0].AskPrice {
		t.Fatalf("book tickers: %v %+v", err, books)
	}
	rolling, err := c.NewListSymbolTickerService().Symbol("BTCUSDT").WindowSize("2h").Do(ctx)
	if err != nil || len(rolling) != 1 || rolling[0].Count != st.count || rolling[0].OpenTime%60000 != 0 {
		t.Fatalf("rolling: %v %+v", err, rolling)
	}
	avg, err := c.NewAveragePriceService().Symbol("BTCUSDT").Do(ctx)
	if err != nil || avg.Mins != 5 || avg.Price != st.quote.Div(st.volume).StringFixed(8) {
		t.Fatalf("avgPrice: %v %+v", err, avg)
	}
	hist, err := c.NewHistoricalTradesService().Symbol("BTCUSDT").FromID(trades[0].ID).Limit(5).Do(ctx)
	if err != nil || len(hist) != 5 || hist[0].ID != trades[0].ID {
		t.Fatalf("historicalTrades: %v %+v", err, hist)
	}
	agg, err := c.NewAggTradesService().Symbol("BTCUSDT").StartTime(trades[1].Time).Limit(3).Do(ctx)
	if err != nil || len(agg) != 3 || agg[0].AggTradeID != trades[1].ID || agg[0].Price != trades[1].Price {
		t.Fatalf("aggTrades: %v %+v", err, agg)
	}
}
