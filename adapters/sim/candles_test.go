package sim_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters/sim"
)

type tapeTrade struct {
	ID           int64  `json:"id"`
	Price        string `json:"price"`
	Qty          string `json:"qty"`
	QuoteQty     string `json:"quoteQty"`
	Time         int64  `json:"time"`
	IsBuyerMaker bool   `json:"isBuyerMaker"`
}

// kline is one row of /api/v3/klines.
type klineRow struct {
	open, close                   int64
	o, h, l, c, v, q, takerV, tkQ string
	n                             int64
}

func decodeKlines(t *testing.T, r resp) []klineRow {
	t.Helper()
	var raw [][]json.RawMessage
	r.json(t, &raw)
	out := make([]klineRow, len(raw))
	for i, row := range raw {
		if len(row) != 12 {
			t.Fatalf("kline row of %d fields, want 12: %s", len(row), r.body)
		}
		k := &out[i]
		for j, dst := range []any{&k.open, &k.o, &k.h, &k.l, &k.c, &k.v, &k.close, &k.q, &k.n, &k.takerV, &k.tkQ} {
			if err := json.Unmarshal(row[j], dst); err != nil {
				t.Fatalf("field %d of %s: %v", j, row, err)
			}
		}
	}
	return out
}

// TestKlinesAreTheTradeTape checks every candle against the public trades it covers: open,
// high, low, close, volume, quote volume, trade count and taker-buy volume are exactly those
// of the trades GET /api/v3/trades lists between its open and close times.
func TestKlinesAreTheTradeTape(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.WalkInterval = 250 * time.Millisecond })
	h.get("/api/v3/time", "") // the walk starts at the first request's time
	h.clk.Advance(150 * time.Second)
	var trades []tapeTrade
	r := h.get("/api/v3/trades", "symbol=BTCUSDT&limit=1000")
	r.json(t, &trades)
	if len(trades) != 600 {
		t.Fatalf("%d trades after 150s of 250ms steps, want 600", len(trades))
	}
	for _, iv := range []string{"1s", "1m"} {
		r := h.get("/api/v3/klines", "symbol=BTCUSDT&interval="+iv+"&limit=1000")
		if r.status != 200 {
			t.Fatalf("klines %s: %d %s", iv, r.status, r.body)
		}
		ks := decodeKlines(t, r)
		if len(ks) < 3 {
			t.Fatalf("%s: %d candles", iv, len(ks))
		}
		total := int64(0)
		for _, k := range ks {
			var o, hi, lo, c string
			var n int64
			vol, quote, tv, tq := decimal.Zero, decimal.Zero, decimal.Zero, decimal.Zero
			for _, tr := range trades {
				if tr.Time < k.open || tr.Time > k.close {
					continue
				}
				p := decimal.RequireFromString(tr.Price)
				if n == 0 {
					o, hi, lo = tr.Price, tr.Price, tr.Price
				}
				if p.GreaterThan(decimal.RequireFromString(hi)) {
					hi = tr.Price
				}
				if p.LessThan(decimal.RequireFromString(lo)) {
					lo = tr.Price
				}
				c = tr.Price
				n++
				q := decimal.RequireFromString(tr.Qty)
				vol, quote = vol.Add(q), quote.Add(p.Mul(q))
				if !tr.IsBuyerMaker {
					tv, tq = tv.Add(q), tq.Add(p.Mul(q))
				}
			}
			total += n
			if n == 0 {
				if k.n != 0 || k.v != "0.00000000" || k.o != k.c || k.h != k.l {
					t.Fatalf("%s candle at %d without trades: %+v, want flat with zero volume", iv, k.open, k)
				}
				continue
			}
			want := klineRow{open: k.open, close: k.close, o: o, h: hi, l: lo, c: c, n: n,
				v: vol.StringFixed(8), q: quote.StringFixed(8), takerV: tv.StringFixed(8), tkQ: tq.StringFixed(8)}
			if k != want {
				t.Fatalf("%s candle at %d:\n got %+v\nwant %+v", iv, k.open, k, want)
			}
			if k.close-k.open+1 != map[string]int64{"1s": 1000, "1m": 60000}[iv] {
				t.Fatalf("%s candle spans %d..%d", iv, k.open, k.close)
			}
		}
		if total != int64(len(trades)) {
			t.Fatalf("%s candles hold %d trades, the tape %d", iv, total, len(trades))
		}
	}
}

// TestKlinesParameters checks the documented parameters and errors of /api/v3/klines and
// /api/v3/uiKlines, and their weight (2).
func TestKlinesParameters(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.WalkInterval = 10 * time.Second })
	h.get("/api/v3/time", "")
	for range 4 { // 4h of 10s steps, in catch-ups under the walk's cap
		h.clk.Advance(time.Hour)
		h.get("/api/v3/time", "")
	}
	before := h.get("/api/v3/time", "").weight()
	r := h.get("/api/v3/klines", "symbol=BTCUSDT&interval=1h")
	if r.status != 200 || r.weight() != before+2 {
		t.Fatalf("klines: %d, weight %d after %d", r.status, r.weight(), before)
	}
	ks := decodeKlines(t, r)
	// Started 12:00:30, now 16:00:30: the 12:00..16:00 hours, the last one open.
	if len(ks) != 5 || time.UnixMilli(ks[0].open).UTC().Hour() != 12 || time.UnixMilli(ks[4].open).UTC().Hour() != 16 {
		t.Fatalf("1h candles: %+v", ks)
	}
	// timeZone 05:30 moves hour boundaries to :30 past the hour.
	ks = decodeKlines(t, h.get("/api/v3/uiKlines", "symbol=BTCUSDT&interval=1h&timeZone=05:30"))
	if len(ks) == 0 || time.UnixMilli(ks[0].open).UTC().Minute() != 30 {
		t.Fatalf("1h candles at +05:30: %+v", ks)
	}
	// startTime/endTime select by open time; limit keeps the first ones from a start, the last ones otherwise.
	from := time.Date(2026, 5, 4, 13, 0, 0, 0, time.UTC).UnixMilli()
	to := time.Date(2026, 5, 4, 14, 59, 0, 0, time.UTC).UnixMilli()
	ks = decodeKlines(t, h.get("/api/v3/klines", "symbol=BTCUSDT&interval=15m&startTime="+strconv.FormatInt(from, 10)+
		"&endTime="+strconv.FormatInt(to, 10)+"&limit=3"))
	if len(ks) != 3 || ks[0].open != from || ks[2].open != from+30*60000 {
		t.Fatalf("15m from 13:00, 3 of them: %+v", ks)
	}
	ks = decodeKlines(t, h.get("/api/v3/klines", "symbol=BTCUSDT&interval=15m&endTime="+strconv.FormatInt(to, 10)+"&limit=2"))
	if len(ks) != 2 || ks[1].open != time.Date(2026, 5, 4, 14, 45, 0, 0, time.UTC).UnixMilli() {
		t.Fatalf("15m up to 14:59, the last 2: %+v", ks)
	}
	// Microseconds on request.
	r = h.do("GET", "/api/v3/klines", "symbol=BTCUSDT&interval=1d", "", map[string]string{"X-MBX-TIME-UNIT": "MICROSECOND"})
	ks = decodeKlines(t, r)
	if len(ks) != 1 || ks[0].open != time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC).UnixMicro() || ks[0].close != ks[0].open+86400e6-1 {
		t.Fatalf("1d in µs: %+v", ks)
	}
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"symbol=BTCUSDT&interval=2m", -1120},
		{"symbol=BTCUSDT&interval=1H", -1120},
		{"symbol=BTCUSDT", -1102},
		{"interval=1m", -1102},
		{"symbol=NOPE&interval=1m", -1121},
		{"symbol=BTCUSDT&interval=1m&limit=1001", -1130},
		{"symbol=BTCUSDT&interval=1m&limit=0", -1130},
		{"symbol=BTCUSDT&interval=1m&timeZone=15", -1130},
		{"symbol=BTCUSDT&interval=1m&timeZone=abc", -1130},
		{"symbol=BTCUSDT&interval=1m&startTime=x", -1100},
		{"symbol=BTCUSDT&interval=1m&foo=1", -1104},
	} {
		if r := h.get("/api/v3/klines", tc.query); r.status != 400 || r.code() != tc.code {
			t.Errorf("%s: %d %s, want code %d", tc.query, r.status, r.body, tc.code)
		}
	}
}

// TestKlinesThirdPartyClient reads candles and follows the kline stream with an unmodified
// go-binance client: a closed candle on the stream equals the REST answer for its open time.
func TestKlinesThirdPartyClient(t *testing.T) {
	srv := listen(t, sim.Config{Seed: 5, WalkInterval: 20 * time.Millisecond, Streams: sim.StreamConfig{Interval: 10 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := gobinance.NewClient("", "")
	c.BaseURL = srv.URL()

	prev := gobinance.BaseWsMainURL
	gobinance.BaseWsMainURL = "ws://" + srv.Addr().String() + "/ws"
	defer func() { gobinance.BaseWsMainURL = prev }()
	closed := make(chan *gobinance.WsKlineEvent, 16)
	done, stop, err := gobinance.WsKlineServe("BTCUSDT", "1s", func(ev *gobinance.WsKlineEvent) {
		if ev.Kline.IsFinal {
			select {
			case closed <- ev:
			default:
			}
		}
	}, func(err error) {})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(stop); <-done }()
	var ev *gobinance.WsKlineEvent
	select {
	case ev = <-closed:
	case <-ctx.Done():
		t.Fatal("no closed 1s candle on the kline stream")
	}
	k := ev.Kline
	if k.Interval != "1s" || k.Symbol != "BTCUSDT" || k.EndTime-k.StartTime != 999 || k.TradeNum == 0 {
		t.Fatalf("kline event: %+v", k)
	}
	rest, err := c.NewKlinesService().Symbol("BTCUSDT").Interval("1s").StartTime(k.StartTime).Limit(1).Do(ctx)
	if err != nil || len(rest) != 1 {
		t.Fatalf("klines: %v %+v", err, rest)
	}
	r := rest[0]
	if r.OpenTime != k.StartTime || r.CloseTime != k.EndTime || r.Open != k.Open || r.High != k.High || r.Low != k.Low ||
		r.Close != k.Close || r.Volume != k.Volume || r.TradeNum != k.TradeNum || r.QuoteAssetVolume != k.QuoteVolume ||
		r.TakerBuyBaseAssetVolume != k.ActiveBuyVolume {
		t.Fatalf("REST %+v\nstream %+v", r, k)
	}
	ui, err := c.NewUiKlinesService().Symbol("BTCUSDT").Interval("1m").Limit(2).Do(ctx)
	if err != nil || len(ui) == 0 {
		t.Fatalf("uiKlines: %v %+v", err, ui)
	}
}

// TestTakerFillsArePublicTrades: a market order's fill prints on the public tape: the last
// trade of /api/v3/trades, and in the current candle's volume.
func TestTakerFillsArePublicTrades(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.WalkInterval = time.Hour })
	before := decodeKlines(t, h.get("/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=1"))
	r := h.signed("POST", "/api/v3/order", vals("symbol", "BTCUSDT", "side", "SELL", "type", "MARKET", "quantity", "0.25"))
	if r.status != 200 {
		t.Fatalf("market sell: %s", r.body)
	}
	var trades []tapeTrade
	h.get("/api/v3/trades", "symbol=BTCUSDT&limit=1").json(t, &trades)
	if len(trades) != 1 || trades[0].Qty != "0.25000000" || !trades[0].IsBuyerMaker {
		t.Fatalf("last public trade %+v, want the 0.25 sell (the buyer was the maker)", trades)
	}
	after := decodeKlines(t, h.get("/api/v3/klines", "symbol=BTCUSDT&interval=1m&limit=1"))
	prev := decimal.Zero
	if len(before) == 1 && before[0].open == after[0].open {
		prev = decimal.RequireFromString(before[0].v)
	}
	if got := decimal.RequireFromString(after[0].v).Sub(prev); !got.Equal(decimal.RequireFromString("0.25")) {
		t.Fatalf("the candle's volume grew by %s, want 0.25", got)
	}
}
