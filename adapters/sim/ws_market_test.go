package sim_test

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
	"github.com/coder/websocket"

	"github.com/keelbot/keel/adapters/sim"
)

// TestStreamControlMessages answers every control message of web-socket-streams.md, and its
// documented errors, on a bare /ws connection, in Binance's shape.
func TestStreamControlMessages(t *testing.T) {
	s := wsSim(t, func(c *sim.Config) { c.Streams.MessagesPerSecond = 1000 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws")
	for _, tc := range []struct{ send, want string }{
		{`{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}`, `{"id":1,"result":null}`},
		{`{"method":"LIST_SUBSCRIPTIONS","id":3}`, `{"id":3,"result":["btcusdt@aggTrade","btcusdt@depth"]}`},
		{`{"method":"UNSUBSCRIBE","params":["btcusdt@depth"],"id":312}`, `{"id":312,"result":null}`},
		{`{"method":"LIST_SUBSCRIPTIONS","id":"list2"}`, `{"id":"list2","result":["btcusdt@aggTrade"]}`},
		{`{"method":"GET_PROPERTY","params":["combined"],"id":2}`, `{"id":2,"result":false}`},
		{`{"method":"SET_PROPERTY","params":["combined",true],"id":5}`, `{"id":5,"result":null}`},
		{`{"method":"GET_PROPERTY","params":["combined"],"id":null}`, `{"id":null,"result":true}`},
		// Every documented kind is accepted; a listed-nowhere symbol is accepted and silent.
		{`{"method":"SUBSCRIBE","params":["ethusdt@depth@1000ms","ethusdt@depth@100ms","ethusdt@depth5","ethusdt@depth10@100ms",
			"ethusdt@depth20","ethusdt@ticker","ethusdt@miniTicker","ethusdt@ticker_1h","ethusdt@ticker_4h","ethusdt@ticker_1d",
			"ethusdt@avgPrice","ethusdt@bookTicker","ethusdt@trade","ethusdt@kline_1m","!miniTicker@arr","!ticker_1d@arr","xrpxrp@trade"],"id":6}`,
			`{"id":6,"result":null}`},
		// The documented errors.
		{`{"method":"GET_PROPERTY","params":["compressed"],"id":7}`, `{"error":{"code":0,"msg":"Unknown property"},"id":7}`},
		{`{"method":"SET_PROPERTY","params":["combined","yes"],"id":8}`, `{"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":8}`},
		{`{"method":"SET_PROPERTY","params":[5,true],"id":9}`, `{"error":{"code":2,"msg":"Invalid request: property name must be a string"},"id":9}`},
		{`{"method":"GET_PROPERTY","params":[],"id":10}`, `{"error":{"code":2,"msg":"Invalid request: property name must be a string"},"id":10}`},
		{`{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":{"n":1}}`, `{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}`},
		{`{"method":"SUBSCRIBE","params":["btcusdt@trade"]}`, `{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"},"id":null}`},
		{`{"method":"PING","id":11}`, "{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown variant PING, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`\"},\"id\":11}"},
		{`{"params":[],"id":12}`, "{\"error\":{\"code\":2,\"msg\":\"Invalid request: missing field `method`\"},\"id\":12}"},
		{`{"method":"LIST_SUBSCRIPTIONS","params":["x"],"id":13}`, `{"error":{"code":2,"msg":"Invalid request: too many parameters"},"id":13}`},
		{`{"method":"GET_PROPERTY","params":["combined",true],"id":14}`, `{"error":{"code":2,"msg":"Invalid request: too many parameters"},"id":14}`},
		// Unknown streams are refused as such, and the request subscribes nothing.
		{`{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@nope"],"id":15}`, `{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":15}`},
		{`{"method":"SUBSCRIBE","params":["!ticker@arr"],"id":16}`, `{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":16}`},
		{`{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":17}`, `{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":17}`},
		{`{"method":"SUBSCRIBE","params":["btcusdt@depth15"],"id":18}`, `{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":18}`},
		{`{"method":"SUBSCRIBE","params":["btcusdt@ticker_2h"],"id":19}`, `{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":19}`},
		{`{"method":"UNSUBSCRIBE","params":["ethusdt@trade","xrpxrp@trade","ethusdt@depth@1000ms","ethusdt@depth@100ms","ethusdt@depth5","ethusdt@depth10@100ms","ethusdt@depth20","ethusdt@ticker","ethusdt@miniTicker","ethusdt@ticker_1h","ethusdt@ticker_4h","ethusdt@ticker_1d","ethusdt@avgPrice","ethusdt@bookTicker","ethusdt@kline_1m","!miniTicker@arr","!ticker_1d@arr"],"id":20}`, `{"id":20,"result":null}`},
		{`{"method":"LIST_SUBSCRIPTIONS","id":21}`, `{"id":21,"result":["btcusdt@aggTrade"]}`},
		{`not json`, ``},
	} {
		if err := c.Write(ctx, websocket.MessageText, []byte(tc.send)); err != nil {
			t.Fatal(err)
		}
		var b []byte
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("%s: %v", tc.send, err)
			}
			if !strings.HasPrefix(string(msg), `{"data":`) { // not an event of the streams subscribed
				b = msg
				break
			}
		}
		if tc.want == "" { // invalid JSON: code 3 with the parser's words
			if !strings.HasPrefix(string(b), `{"error":{"code":3,"msg":"Invalid JSON: `) {
				t.Fatalf("%s: %s", tc.send, b)
			}
			continue
		}
		if string(b) != tc.want {
			t.Fatalf("%.60s:\n got %s\nwant %s", tc.send, b, tc.want)
		}
	}
	// A URL naming something that is no stream is accepted, and the name ignored (ccxt opens
	// /ws/0 and subscribes with SUBSCRIBE).
	c2 := dialWS(t, ctx, s, "/ws/0/btcusdt@nope/ethusdt@trade")
	if err := c2.Write(ctx, websocket.MessageText, []byte(`{"method":"LIST_SUBSCRIPTIONS","id":1}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c2.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(b), `{"id":1`) {
			if string(b) != `{"id":1,"result":["ethusdt@trade"]}` {
				t.Fatalf("URL streams: %s", b)
			}
			break
		}
	}
}

// TestSetPropertyCombined: a raw connection switched to combined gets its events wrapped.
func TestSetPropertyCombined(t *testing.T) {
	s := wsSim(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws/btcusdt@depth@100ms")
	if err := s.SetPrice("BTCUSDT", "65000.05"); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	readJSON(t, ctx, c, &raw)
	if raw["e"] != "depthUpdate" {
		t.Fatalf("raw event %v", raw)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"method":"SET_PROPERTY","params":["combined",true],"id":1}`)); err != nil {
		t.Fatal(err)
	}
	for {
		if err := s.SetPrice("BTCUSDT", "65000.10"); err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		readJSON(t, ctx, c, &m)
		if _, ok := m["stream"]; ok {
			if string(m["stream"]) != `"btcusdt@depth@100ms"` || !strings.Contains(string(m["data"]), `"depthUpdate"`) {
				t.Fatalf("combined event %s %s", m["stream"], m["data"])
			}
			return
		}
	}
}

func readJSON(t *testing.T, ctx context.Context, c *websocket.Conn, v any) {
	t.Helper()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// TestDiffDepthSlowStream: <symbol>@depth (and @depth@1000ms) merges the @100ms diffs, so a
// snapshot plus its events equals a later snapshot, and both names carry the same events.
func TestDiffDepthSlowStream(t *testing.T) {
	s := wsSim(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/stream?streams=btcusdt@depth/btcusdt@depth@1000ms")
	if err := s.SetPrice("BTCUSDT", "65000.05"); err != nil {
		t.Fatal(err)
	}
	type env struct {
		Stream string     `json:"stream"`
		Data   depthEvent `json:"data"`
	}
	var first env
	readJSON(t, ctx, c, &first)
	snap := getDepth(t, s, "BTCUSDT")
	book := localBook{bids: map[string]string{}, asks: map[string]string{}}
	book.apply(book.bids, snap.Bids)
	book.apply(book.asks, snap.Asks)
	for _, p := range []string{"65000.09", "64999.50", "66000.00", "63000.01", "65000.00"} {
		if err := s.SetPrice("BTCUSDT", p); err != nil {
			t.Fatal(err)
		}
	}
	last := snap.LastUpdateID
	seen := map[string][]int64{first.Stream: {first.Data.LU}}
	for last < snap.LastUpdateID+5 {
		var ev env
		readJSON(t, ctx, c, &ev)
		seen[ev.Stream] = append(seen[ev.Stream], ev.Data.LU)
		if ev.Stream != "btcusdt@depth" || ev.Data.LU <= last {
			continue
		}
		if ev.Data.U > last+1 {
			t.Fatalf("gap: U %d after %d", ev.Data.U, last)
		}
		book.apply(book.bids, ev.Data.Bids)
		book.apply(book.asks, ev.Data.Asks)
		last = ev.Data.LU
	}
	if !book.equal(getDepth(t, s, "BTCUSDT")) {
		t.Fatal("local book from @depth events differs from the snapshot")
	}
	// The same event went to @depth@1000ms (it was sent first or right after).
	var twin env
	for len(seen["btcusdt@depth@1000ms"]) < len(seen["btcusdt@depth"]) {
		readJSON(t, ctx, c, &twin)
		seen[twin.Stream] = append(seen[twin.Stream], twin.Data.LU)
	}
	a, b := seen["btcusdt@depth"], seen["btcusdt@depth@1000ms"]
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("@depth %v, @depth@1000ms %v", a, b)
		}
	}
}

// streamsAt is a fake-clock simulator whose walk has traded 150 s, with connections to paths,
// and a function that runs n broadcaster ticks.
func streamsAt(t *testing.T, paths ...string) (*harness, []*websocket.Conn, func(n int)) {
	t.Helper()
	h := newHarness(t, func(c *sim.Config) {
		c.WalkInterval = 250 * time.Millisecond
		c.Streams.PingInterval = 1000 * time.Hour
	})
	h.get("/api/v3/time", "")
	h.clk.Advance(150 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	var conns []*websocket.Conn
	for _, p := range paths {
		conns = append(conns, dialWS(t, ctx, h.s, p))
	}
	timers := len(paths) + 1 // a pinger per connection and the broadcaster
	h.clk.BlockUntil(timers)
	tick := func(n int) {
		for i := 0; i < n; i++ {
			h.clk.Advance(100 * time.Millisecond)
			h.clk.BlockUntil(timers)
		}
	}
	return h, conns, tick
}

// collect reads combined events until every stream in want has one; it returns the last of
// each stream read.
func collect(t *testing.T, c *websocket.Conn, want ...string) map[string]json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[string]json.RawMessage{}
	missing := func() bool {
		for _, w := range want {
			if got[w] == nil {
				return true
			}
		}
		return false
	}
	for missing() {
		var ev struct {
			Stream string          `json:"stream"`
			Data   json.RawMessage `json:"data"`
		}
		readJSON(t, ctx, c, &ev)
		got[ev.Stream] = ev.Data
	}
	return got
}

// TestTickerStreamsAreTheTape: @ticker, @miniTicker, @ticker_1h, @avgPrice and the
// all-market arrays carry the documented fields with the statistics REST reports at the same
// instant; @aggTrade repeats @trade's trades; @depth5 is the depth snapshot's top.
func TestTickerStreamsAreTheTape(t *testing.T) {
	streams := []string{"btcusdt@ticker", "btcusdt@miniTicker", "btcusdt@ticker_1h", "btcusdt@avgPrice",
		"!miniTicker@arr", "!ticker_1h@arr", "btcusdt@depth5", "btcusdt@depth10@100ms"}
	h, conns, tick := streamsAt(t, "/stream?streams="+strings.Join(streams, "/"),
		"/stream?streams=btcusdt@trade/btcusdt@aggTrade&timeUnit=MICROSECOND")
	tick(10) // the tenth tick is a slow one (1000 ms)
	got := collect(t, conns[0], streams...)
	now := h.clk.Now()

	var rest, rest1h tickerJSON
	h.get("/api/v3/ticker/24hr", "symbol=BTCUSDT").json(t, &rest)
	h.get("/api/v3/ticker", "symbol=BTCUSDT&windowSize=1h").json(t, &rest1h)
	var fields map[string]any
	check := func(stream string, keys []string, want map[string]any) {
		t.Helper()
		sameKeys(t, stream, keysOf(t, got[stream]), keys...)
		if err := json.Unmarshal(got[stream], &fields); err != nil {
			t.Fatal(err)
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("%s %s = %v, want %v", stream, k, fields[k], v)
			}
		}
	}
	ms := float64(now.UnixMilli())
	check("btcusdt@ticker", []string{"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q", "O", "C", "F", "L", "n"},
		map[string]any{"e": "24hrTicker", "E": ms, "s": "BTCUSDT", "p": rest.PriceChange, "P": rest.PriceChangePercent,
			"w": rest.WeightedAvgPrice, "x": rest.PrevClosePrice, "c": rest.LastPrice, "Q": rest.LastQty, "b": rest.BidPrice,
			"a": rest.AskPrice, "o": rest.OpenPrice, "h": rest.HighPrice, "l": rest.LowPrice, "v": rest.Volume,
			"q": rest.QuoteVolume, "O": float64(rest.OpenTime), "C": float64(rest.CloseTime), "F": float64(rest.FirstID),
			"L": float64(rest.LastID), "n": float64(rest.Count)})
	check("btcusdt@miniTicker", []string{"e", "E", "s", "c", "o", "h", "l", "v", "q"},
		map[string]any{"e": "24hrMiniTicker", "E": ms, "c": rest.LastPrice, "o": rest.OpenPrice, "h": rest.HighPrice,
			"l": rest.LowPrice, "v": rest.Volume, "q": rest.QuoteVolume})
	check("btcusdt@ticker_1h", []string{"e", "E", "s", "p", "P", "o", "h", "l", "c", "w", "v", "q", "O", "C", "F", "L", "n"},
		map[string]any{"e": "1hTicker", "p": rest1h.PriceChange, "P": rest1h.PriceChangePercent, "o": rest1h.OpenPrice,
			"c": rest1h.LastPrice, "w": rest1h.WeightedAvgPrice, "v": rest1h.Volume, "O": float64(rest1h.OpenTime),
			"C": float64(rest1h.CloseTime), "n": float64(rest1h.Count)})
	var avg struct {
		Price     string `json:"price"`
		CloseTime int64  `json:"closeTime"`
	}
	h.get("/api/v3/avgPrice", "symbol=BTCUSDT").json(t, &avg)
	check("btcusdt@avgPrice", []string{"e", "E", "s", "i", "w", "T"},
		map[string]any{"e": "avgPrice", "i": "5m", "w": avg.Price, "T": float64(avg.CloseTime)})

	var arr []map[string]any
	if err := json.Unmarshal(got["!miniTicker@arr"], &arr); err != nil || len(arr) != 3 || arr[0]["e"] != "24hrMiniTicker" {
		t.Fatalf("!miniTicker@arr: %v %s", err, got["!miniTicker@arr"])
	}
	if err := json.Unmarshal(got["!ticker_1h@arr"], &arr); err != nil || len(arr) != 3 || arr[0]["e"] != "1hTicker" {
		t.Fatalf("!ticker_1h@arr: %v %s", err, got["!ticker_1h@arr"])
	}
	snap := getDepth(t, h.s, "BTCUSDT")
	for stream, n := range map[string]int{"btcusdt@depth5": 5, "btcusdt@depth10@100ms": 10} {
		var part snapshot
		sameKeys(t, stream, keysOf(t, got[stream]), "lastUpdateId", "bids", "asks")
		_ = json.Unmarshal(got[stream], &part)
		if part.LastUpdateID != snap.LastUpdateID || len(part.Bids) != n || len(part.Asks) != n ||
			part.Bids[0] != snap.Bids[0] || part.Asks[n-1] != snap.Asks[n-1] {
			t.Errorf("%s %+v, snapshot %d", stream, part, snap.LastUpdateID)
		}
	}

	// @aggTrade repeats @trade, times in µs on a timeUnit=MICROSECOND connection.
	var trades []tapeTrade
	h.get("/api/v3/trades", "symbol=BTCUSDT&limit=1000").json(t, &trades)
	byID := map[int64]tapeTrade{}
	for _, tr := range trades {
		byID[tr.ID] = tr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	aggs := 0
	for aggs < 20 {
		var ev struct {
			Stream string         `json:"stream"`
			Data   map[string]any `json:"data"`
		}
		readJSON(t, ctx, conns[1], &ev)
		if ev.Stream != "btcusdt@aggTrade" {
			continue
		}
		aggs++
		d := ev.Data
		tr, ok := byID[int64(d["a"].(float64))]
		if !ok || d["e"] != "aggTrade" || d["p"] != tr.Price || d["q"] != tr.Qty || d["m"] != tr.IsBuyerMaker ||
			d["f"] != d["a"] || d["l"] != d["a"] || int64(d["T"].(float64))/1000 != tr.Time || d["E"].(float64) < 1e15 {
			t.Fatalf("aggTrade %v, trade %+v", d, tr)
		}
	}
}

// TestStreamsThirdPartyClient follows the new streams with go-binance's unmodified Ws*Serve
// functions pointed at the simulator.
func TestStreamsThirdPartyClient(t *testing.T) {
	srv := listen(t, sim.Config{Seed: 5, WalkInterval: 20 * time.Millisecond, Streams: sim.StreamConfig{Interval: 5 * time.Millisecond}})
	prev, prevCombined := gobinance.BaseWsMainURL, gobinance.BaseCombinedMainURL
	gobinance.BaseWsMainURL = "ws://" + srv.Addr().String() + "/ws"
	gobinance.BaseCombinedMainURL = "ws://" + srv.Addr().String() + "/stream?streams="
	defer func() {
		gobinance.BaseWsMainURL, gobinance.BaseCombinedMainURL = prev, prevCombined
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan string, 64)
	note := func(what string) {
		select {
		case got <- what:
		default:
		}
	}
	serve := func(name string, done, stop chan struct{}, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { close(stop); <-done })
	}
	d, s, err := gobinance.WsAggTradeServe("BTCUSDT", func(ev *gobinance.WsAggTradeEvent) {
		if ev.Symbol == "BTCUSDT" && ev.AggTradeID > 0 && ev.FirstBreakdownTradeID == ev.AggTradeID {
			note("aggTrade")
		}
	}, func(error) {})
	serve("aggTrade", d, s, err)
	d, s, err = gobinance.WsMarketStatServe("BTCUSDT", func(ev *gobinance.WsMarketStatEvent) {
		if ev.Symbol == "BTCUSDT" && ev.Count > 0 && ev.LastPrice != "" {
			note("ticker")
		}
	}, func(error) {})
	serve("ticker", d, s, err)
	d, s, err = gobinance.WsAllMiniMarketsStatServe(func(ev gobinance.WsAllMiniMarketsStatEvent) {
		if len(ev) > 0 && ev[0].Event == "24hrMiniTicker" {
			note("!miniTicker@arr")
		}
	}, func(error) {})
	serve("!miniTicker@arr", d, s, err)
	d, s, err = gobinance.WsPartialDepthServe100Ms("BTCUSDT", "5", func(ev *gobinance.WsPartialDepthEvent) {
		if len(ev.Bids) == 5 && len(ev.Asks) == 5 && ev.LastUpdateID > 0 {
			note("depth5@100ms")
		}
	}, func(error) {})
	serve("depth5", d, s, err)
	d, s, err = gobinance.WsDepthServe("BTCUSDT", func(ev *gobinance.WsDepthEvent) {
		if ev.Event == "depthUpdate" && ev.LastUpdateID >= ev.FirstUpdateID {
			note("depth")
		}
	}, func(error) {})
	serve("depth", d, s, err)
	d, s, err = gobinance.WsCombinedBookTickerServe([]string{"BTCUSDT", "ETHUSDT"}, func(ev *gobinance.WsBookTickerEvent) {
		if ev.BestBidPrice != "" && ev.BestAskPrice > ev.BestBidPrice {
			note("bookTicker")
		}
	}, func(error) {})
	serve("bookTicker", d, s, err)
	want := map[string]bool{"aggTrade": true, "ticker": true, "!miniTicker@arr": true, "depth5@100ms": true, "depth": true, "bookTicker": true}
	for len(want) > 0 {
		select {
		case w := <-got:
			delete(want, w)
		case <-ctx.Done():
			var left []string
			for w := range want {
				left = append(left, w)
			}
			sort.Strings(left)
			t.Fatalf("no event from %v", left)
		}
	}
}
