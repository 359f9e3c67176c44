package sim_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"

	"github.com/keelbot/keel/adapters/sim"
)

// TestStreamControlMessages: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and
// GET_PROPERTY answer as web-socket-streams.md documents, and every refusal nests its code
// and message under "error" with the request's id.
func TestStreamControlMessages(t *testing.T) {
	s := wsSim(t, func(c *sim.Config) { c.Streams.MessagesPerSecond = 100 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws")
	send := func(msg string) map[string]any {
		t.Helper()
		if err := c.Write(ctx, 1, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if json.Unmarshal(b, &v) == nil {
				_, id := v["id"]
				_, refusal := v["error"]
				if !id && !refusal {
					continue // a market event (raw, a partial book without "e", or combined)
				}
				return v
			}
		}
	}
	errOf := func(v map[string]any) (float64, string) {
		e, _ := v["error"].(map[string]any)
		code, _ := e["code"].(float64)
		msg, _ := e["msg"].(string)
		return code, msg
	}
	if v := send(`{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth5@100ms"],"id":1}`); v["result"] != nil || v["id"] != 1.0 {
		t.Fatalf("subscribe: %v", v)
	}
	if v := send(`{"method":"LIST_SUBSCRIPTIONS","id":"ls1"}`); v["id"] != "ls1" || len(v["result"].([]any)) != 2 {
		t.Fatalf("list: %v", v)
	}
	if v := send(`{"method":"GET_PROPERTY","params":["combined"],"id":2}`); v["result"] != false {
		t.Fatalf("combined on /ws: %v", v)
	}
	if v := send(`{"method":"SET_PROPERTY","params":["combined",true],"id":3}`); v["result"] != nil || v["id"] != 3.0 {
		t.Fatalf("set: %v", v)
	}
	if v := send(`{"method":"GET_PROPERTY","params":["combined"],"id":4}`); v["result"] != true {
		t.Fatalf("combined after set: %v", v)
	}
	for _, tc := range []struct {
		msg  string
		code float64
		want string
	}{
		{`{"method":"SET_PROPERTY","params":["color",true],"id":5}`, 0, "Unknown property"},
		{`{"method":"SET_PROPERTY","params":["combined","yes"],"id":6}`, 1, "expected Boolean"},
		{`{"method":"GET_PROPERTY","params":[7],"id":7}`, 2, "property name must be a string"},
		{`{"method":"SUBSCRIB","params":[],"id":8}`, 2, "unknown variant SUBSCRIB"},
		{`{"method":"SUBSCRIBE","params":["btcusdt@nope"],"id":9}`, 2, "unknown stream btcusdt@nope"},
		{`{"method":"SUBSCRIBE","params":["xyzusdt@trade"],"id":10}`, 2, "unknown stream xyzusdt@trade"},
		{`{"method":"SUBSCRIBE","params":[],"id":{"a":1}}`, 2, "request ID must be"},
		{`{"params":[],"id":11}`, 2, "missing field `method`"},
	} {
		v := send(tc.msg)
		code, msg := errOf(v)
		if code != tc.code || !strings.Contains(msg, tc.want) || v["result"] != nil && v["error"] == nil {
			t.Errorf("%s: %v, want code %v and %q", tc.msg, v, tc.code, tc.want)
		}
	}
	if v := send(`not json`); v["error"] == nil {
		t.Fatalf("bad JSON: %v", v)
	}
	// A URL naming what is no stream is accepted and the name ignored, as Binance does (ccxt
	// opens /ws/0 and subscribes with SUBSCRIBE): the connection lists only the real stream.
	c = dialWS(t, ctx, s, "/ws/0/btcusdt@nope/xyzusdt@trade/ethusdt@trade")
	if v := send(`{"method":"LIST_SUBSCRIPTIONS","id":12}`); len(v["result"].([]any)) != 1 || v["result"].([]any)[0] != "ethusdt@trade" {
		t.Fatalf("URL streams: %v", v)
	}
}

// TestMarketStreamsWithGoBinance follows @aggTrade, @depth5@100ms, @depth (1000ms diffs),
// @ticker and !miniTicker@arr with an unmodified go-binance, and @ticker_1h, @miniTicker and
// @avgPrice with a plain client: each arrives, in its documented shape, consistent with the
// simulator's trades and book.
func TestMarketStreamsWithGoBinance(t *testing.T) {
	s := wsSim(t, func(c *sim.Config) {
		c.WalkInterval = 20 * time.Millisecond
		c.Streams.Interval = 20 * time.Millisecond
	})
	prev := gobinance.BaseWsMainURL
	gobinance.BaseWsMainURL = wsURL(s, "/ws")
	defer func() { gobinance.BaseWsMainURL = prev }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var mu sync.Mutex
	got := map[string]int{}
	var depth []*gobinance.WsDepthEvent
	note := func(k string) { mu.Lock(); got[k]++; mu.Unlock() }
	var stops []chan struct{}
	var dones []chan struct{}
	serve := func(done, stop chan struct{}, err error) {
		if err != nil {
			t.Fatal(err)
		}
		stops, dones = append(stops, stop), append(dones, done)
	}
	serve(gobinance.WsAggTradeServe("BTCUSDT", func(e *gobinance.WsAggTradeEvent) {
		if e.Event == "aggTrade" && e.Price != "" && e.FirstBreakdownTradeID == e.AggTradeID {
			note("aggTrade")
		}
	}, func(error) {}))
	serve(gobinance.WsPartialDepthServe100Ms("BTCUSDT", "5", func(e *gobinance.WsPartialDepthEvent) {
		if len(e.Bids) == 5 && len(e.Asks) == 5 && e.LastUpdateID > 0 {
			note("depth5")
		}
	}, func(error) {}))
	serve(gobinance.WsDepthServe("BTCUSDT", func(e *gobinance.WsDepthEvent) {
		mu.Lock()
		depth = append(depth, e)
		mu.Unlock()
	}, func(error) {}))
	serve(gobinance.WsMarketStatServe("BTCUSDT", func(e *gobinance.WsMarketStatEvent) {
		if e.Event == "24hrTicker" && e.LastPrice != "" && e.Count > 0 && e.BidPrice != "" {
			note("ticker")
		}
	}, func(error) {}))
	serve(gobinance.WsAllMiniMarketsStatServe(func(e gobinance.WsAllMiniMarketsStatEvent) {
		if len(e) == 3 && e[0].Event == "24hrMiniTicker" {
			note("miniArr")
		}
	}, func(error) {}))
	raw := dialWS(t, ctx, s, "/stream?streams=btcusdt@ticker_1h/btcusdt@miniTicker/btcusdt@avgPrice")
	go func() {
		for {
			_, b, err := raw.Read(ctx)
			if err != nil {
				return
			}
			var env struct {
				Stream string         `json:"stream"`
				Data   map[string]any `json:"data"`
			}
			if json.Unmarshal(b, &env) == nil {
				e, _ := env.Data["e"].(string) // a partial book has none: noted as "<stream>:"
				note(env.Stream + ":" + e)
			}
		}
	}()
	want := []string{"aggTrade", "depth5", "ticker", "miniArr", "btcusdt@ticker_1h:1hTicker", "btcusdt@miniTicker:24hrMiniTicker", "btcusdt@avgPrice:avgPrice"}
	for {
		mu.Lock()
		missing := ""
		for _, k := range want {
			if got[k] == 0 {
				missing = k
			}
		}
		nd := len(depth)
		mu.Unlock()
		if missing == "" && nd >= 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("missing %q (got %v, %d depth updates)", missing, got, nd)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, stop := range stops {
		close(stop)
	}
	for _, d := range dones {
		<-d
	}
	// The 1000ms diffs chain: each U is the previous u + 1.
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(depth); i++ {
		if depth[i].FirstUpdateID != depth[i-1].LastUpdateID+1 {
			t.Fatalf("@depth update %d: U %d after u %d", i, depth[i].FirstUpdateID, depth[i-1].LastUpdateID)
		}
	}
}
