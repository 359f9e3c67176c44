package sim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// TestStreamTradeTimes: @trade's and @aggTrade's "T" is the trade's own time, the one
// /api/v3/trades and /api/v3/aggTrades print for the same id, though several trades go out in
// one push ("E").
func TestStreamTradeTimes(t *testing.T) {
	s := wsSim(t, func(c *sim.Config) {
		c.WalkInterval = 10 * time.Millisecond
		c.Streams.Interval = 50 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/stream?streams=btcusdt@trade/btcusdt@aggTrade")
	got := map[string]map[int64]int64{} // stream -> id -> T
	for len(got["btcusdt@trade"]) < 20 || len(got["btcusdt@aggTrade"]) < 20 {
		var ev struct {
			Stream string `json:"stream"`
			Data   struct {
				T  int64 `json:"T"`
				ID int64 `json:"t"`
				A  int64 `json:"a"`
			} `json:"data"`
		}
		readJSONMsg(t, ctx, c, &ev)
		id := ev.Data.ID
		if ev.Stream == "btcusdt@aggTrade" {
			id = ev.Data.A
		}
		if got[ev.Stream] == nil {
			got[ev.Stream] = map[int64]int64{}
		}
		got[ev.Stream][id] = ev.Data.T
	}
	res, err := http.Get(s.URL() + "/api/v3/trades?symbol=BTCUSDT&limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var trades []tapeTrade
	if err := json.NewDecoder(res.Body).Decode(&trades); err != nil {
		t.Fatal(err)
	}
	rest := map[int64]int64{}
	for _, tr := range trades {
		rest[tr.ID] = tr.Time
	}
	distinct := map[int64]bool{}
	compared := 0
	for stream, byID := range got {
		for id, at := range byID {
			if want, ok := rest[id]; ok {
				compared++
				if at != want {
					t.Fatalf("%s trade %d: T %d, REST time %d", stream, id, at, want)
				}
			}
			distinct[at] = true
		}
	}
	if compared == 0 {
		t.Fatal("no streamed trade is on the REST page: nothing was compared")
	}
	if len(distinct) < 10 {
		t.Fatalf("only %d distinct trade times among %d trades: T is the push's time", len(distinct), len(got["btcusdt@trade"]))
	}
}

// TestTicker24hrWindowIsExact: /api/v3/ticker/24hr's and @ticker's window is exactly 24 hours
// ending now (the docs' examples: closeTime − openTime = 86400000), not floored to a minute.
func TestTicker24hrWindowIsExact(t *testing.T) {
	h := newHarness(t, nil) // the clock stands at 12:00:30
	var tk struct{ OpenTime, CloseTime int64 }
	h.get("/api/v3/ticker/24hr", "symbol=BTCUSDT").json(t, &tk)
	now := h.clk.Now()
	if tk.CloseTime != now.UnixMilli() || tk.OpenTime != now.Add(-24*time.Hour).UnixMilli() {
		t.Fatalf("24hr window %d..%d, want %d..%d", tk.OpenTime, tk.CloseTime, now.Add(-24*time.Hour).UnixMilli(), now.UnixMilli())
	}

	s := wsSim(t, func(c *sim.Config) { c.WalkInterval = 10 * time.Millisecond; c.Streams.Interval = 5 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, s, "/ws/btcusdt@ticker")
	var ev map[string]any // "e" and "E", "o" and "O": a struct would mix them up
	readJSONMsg(t, ctx, c, &ev)
	if ev["e"] != "24hrTicker" || ev["C"].(float64)-ev["O"].(float64) != 86400000 {
		t.Fatalf("@ticker window %v, want 24 h", ev)
	}
}
