package sim

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The market streams beside @trade, @bookTicker, @depth@100ms and @kline_<interval>
// (web-socket-streams.md):
//
//	<symbol>@aggTrade                 each walk trade is its own aggregate (a = f = l)
//	<symbol>@depth, @depth@1000ms     diff depth every second: the 100ms diffs merged
//	<symbol>@depth<N>[@100ms]         top 5, 10 or 20 levels, every second or 100 ms
//	<symbol>@ticker, @miniTicker      24 h rolling statistics every second (handlers_stats.go)
//	!miniTicker@arr                   every symbol's mini ticker that changed
//	<symbol>@ticker_<1h|4h|1d>        rolling window statistics; !ticker_<w>@arr for all
//	<symbol>@avgPrice                 the 5-minute average price every second
//
// The 1000ms streams push on the second after a connection subscribes, whether or not
// anything changed, except the all-market arrays, which carry only the symbols that traded
// since their last push (as documented).

// slowDiff merges consecutive diff updates into one: first U, last u, and each level's latest
// quantity, which is what a diff update of the whole span carries.
type slowDiff struct {
	first, final int64
	bids, asks   map[string]string
}

func (d *slowDiff) merge(u depthDiff) {
	if d.bids == nil {
		d.bids, d.asks = map[string]string{}, map[string]string{}
	}
	if d.first == 0 {
		d.first = u.first
	}
	d.final = u.final
	for _, l := range u.bids {
		d.bids[l[0]] = l[1]
	}
	for _, l := range u.asks {
		d.asks[l[0]] = l[1]
	}
}

// take returns the merged update, bids best (highest) first and asks best first, and starts
// the next; false when nothing changed.
func (d *slowDiff) take() (depthDiff, bool) {
	if d.first == 0 {
		return depthDiff{}, false
	}
	levels := func(m map[string]string, desc bool) []bookLevel {
		out := make([]bookLevel, 0, len(m))
		for p, q := range m {
			out = append(out, bookLevel{p, q})
		}
		sort.Slice(out, func(i, j int) bool {
			a, b := decimal.RequireFromString(out[i][0]), decimal.RequireFromString(out[j][0])
			if desc {
				return a.GreaterThan(b)
			}
			return a.LessThan(b)
		})
		return out
	}
	u := depthDiff{first: d.first, final: d.final, bids: levels(d.bids, true), asks: levels(d.asks, false)}
	*d = slowDiff{}
	return u, true
}

// "T" is the trade's own time, as /api/v3/aggTrades prints it; "E" the push's.
func aggTradeEvent(m *market, t walkTrade, now time.Time) streamEvent {
	return streamEvent{at: now, build: func(micro bool) any {
		return map[string]any{"e": "aggTrade", "E": unit(now, micro), "s": m.sym.Name, "a": t.id, "p": fmt8(m.tickPrice(t.ticks)),
			"q": fmt8(t.qty), "f": t.id, "l": t.id, "T": unit(t.at, micro), "m": t.buyer, "M": true}
	}}
}

// tradeEvent is the @trade event of a walk trade: "T" is the trade's own time, as
// /api/v3/trades prints it (several trades of one push each keep theirs); "E" the push's.
func tradeEvent(m *market, t walkTrade, now time.Time) streamEvent {
	return streamEvent{at: now, build: func(micro bool) any {
		return map[string]any{"e": "trade", "E": unit(now, micro), "s": m.sym.Name, "t": t.id, "p": fmt8(m.tickPrice(t.ticks)),
			"q": fmt8(t.qty), "T": unit(t.at, micro), "m": t.buyer, "M": true}
	}}
}

// unit prints t in ms or µs.
func unit(t time.Time, micro bool) int64 {
	if micro {
		return t.UnixMicro()
	}
	return t.UnixMilli()
}

// rollingWindows are the window sizes of @ticker_<w>.
var rollingWindows = map[string]time.Duration{"1h": time.Hour, "4h": 4 * time.Hour, "1d": 24 * time.Hour}

// marketEvents are the events of the streams above due at now for the streams in want.
// requires that s.mu is held.
func (s *Server) marketEvents(want map[string]bool, now time.Time, second bool) []namedEvent {
	var out []namedEvent
	add := func(stream string, ev streamEvent) { out = append(out, namedEvent{stream, ev}) }
	var minis []func(bool) any
	rolling := map[string][]func(bool) any{}
	for _, name := range s.marketOrder {
		m := s.markets[name]
		lower := strings.ToLower(name)
		traded := m.depth.tradeID != m.depth.lastPushedID
		for _, n := range []int{5, 10, 20} {
			stream := lower + "@depth" + strconv.Itoa(n)
			if want[stream+"@100ms"] {
				add(stream+"@100ms", m.partialDepth(n))
			}
			if second && want[stream] {
				add(stream, m.partialDepth(n))
			}
		}
		if !second {
			continue
		}
		if d, ok := m.depth.slow.take(); ok {
			ev := streamEvent{body: map[string]any{"e": "depthUpdate", "s": name, "U": d.first, "u": d.final,
				"b": nonNil(d.bids), "a": nonNil(d.asks)}, timeKey: []string{"E"}, at: now}
			for _, stream := range []string{lower + "@depth", lower + "@depth@1000ms"} {
				if want[stream] {
					add(stream, ev)
				}
			}
		}
		from, _ := window24(now)
		if want[lower+"@ticker"] {
			add(lower+"@ticker", streamEvent{at: now, build: s.tickerEvent(m, "24hrTicker", from, now, true)})
		}
		if want[lower+"@miniTicker"] || (traded && want["!miniTicker@arr"]) {
			mini := s.tickerEvent(m, "24hrMiniTicker", from, now, false)
			if want[lower+"@miniTicker"] {
				add(lower+"@miniTicker", streamEvent{at: now, build: mini})
			}
			if traded {
				minis = append(minis, mini)
			}
		}
		for w, d := range rollingWindows {
			if !want[lower+"@ticker_"+w] && !(traded && want["!ticker_"+w+"@arr"]) {
				continue
			}
			ev := s.tickerEvent(m, w+"Ticker", now.Add(-d), now, false)
			if want[lower+"@ticker_"+w] {
				add(lower+"@ticker_"+w, streamEvent{at: now, build: ev})
			}
			if traded {
				rolling[w] = append(rolling[w], ev)
			}
		}
		if want[lower+"@avgPrice"] {
			px, last := m.avg(now)
			add(lower+"@avgPrice", streamEvent{at: now, build: func(micro bool) any {
				return map[string]any{"e": "avgPrice", "E": unit(now, micro), "s": name, "i": "5m", "w": fmt8(px), "T": unit(last, micro)}
			}})
		}
		m.depth.lastPushedID = m.depth.tradeID
	}
	arr := func(stream string, evs []func(bool) any) {
		if !want[stream] || len(evs) == 0 {
			return
		}
		add(stream, streamEvent{at: now, build: func(micro bool) any {
			list := make([]any, len(evs))
			for i, f := range evs {
				list[i] = f(micro)
			}
			return list
		}})
	}
	if second {
		arr("!miniTicker@arr", minis)
		for w := range rollingWindows {
			arr("!ticker_"+w+"@arr", rolling[w])
		}
	}
	return out
}

func nonNil(ls []bookLevel) []bookLevel {
	if ls == nil {
		return []bookLevel{}
	}
	return ls
}

// partialDepth is a partial book depth event: the top n levels a side.
func (m *market) partialDepth(n int) streamEvent {
	bids, asks := m.book(n)
	return streamEvent{body: map[string]any{"lastUpdateId": m.updateID, "bids": nonNil(bids), "asks": nonNil(asks)}}
}

// tickerEvent builds a @ticker (full: with the book and last quantity), @miniTicker or
// @ticker_<w> payload over [from, now].
// requires that s.mu is held (it computes at once; the closure only formats).
func (s *Server) tickerEvent(m *market, kind string, from, now time.Time, full bool) func(bool) any {
	st := m.stats(from)
	px := m.tickPrice
	name := m.sym.Name
	change := px(st.last).Sub(px(st.open))
	pct, wavg := decimal.Zero, decimal.Zero
	if st.open > 0 {
		pct = change.Div(px(st.open)).Mul(decimal.NewFromInt(100))
	}
	if st.volume.IsPositive() {
		wavg = st.quote.Div(st.volume)
	}
	var lastQty decimal.Decimal
	if n := len(m.tape.recent); n > 0 {
		lastQty = m.tape.recent[n-1].qty
	}
	bids, asks := m.book(1)
	return func(micro bool) any {
		ev := map[string]any{"e": kind, "E": unit(now, micro), "s": name, "c": fmt8(px(st.last)), "o": fmt8(px(st.open)),
			"h": fmt8(px(st.high)), "l": fmt8(px(st.low)), "v": fmt8(st.volume), "q": fmt8(st.quote)}
		if kind == "24hrMiniTicker" {
			return ev
		}
		ev["p"], ev["P"], ev["w"] = fmt8(change), pct.StringFixed(3), fmt8(wavg)
		open := st.openTime
		if kind == "24hrTicker" {
			_, open = window24(now) // exactly 24 h, as /api/v3/ticker/24hr's openTime
		}
		ev["O"], ev["C"], ev["F"], ev["L"], ev["n"] = unit(open, micro), unit(now, micro), st.firstID, st.lastID, st.count
		if full {
			ev["x"], ev["Q"] = fmt8(px(st.prevClose)), fmt8(lastQty)
			ev["b"], ev["B"], ev["a"], ev["A"] = fmt8(zero), fmt8(zero), fmt8(zero), fmt8(zero)
			if len(bids) > 0 {
				ev["b"], ev["B"] = bids[0][0], bids[0][1]
			}
			if len(asks) > 0 {
				ev["a"], ev["A"] = asks[0][0], asks[0][1]
			}
		}
		return ev
	}
}

// validMarketStream reports whether kind (after "<symbol>@") is one of the streams above.
func validMarketStream(kind string) bool {
	switch kind {
	case "aggTrade", "depth", "depth@1000ms", "ticker", "miniTicker", "avgPrice",
		"depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms", "depth20@100ms":
		return true
	}
	if w, ok := strings.CutPrefix(kind, "ticker_"); ok {
		_, ok := rollingWindows[w]
		return ok
	}
	return false
}

// validAllMarketStream reports whether name is an all-market stream served.
func validAllMarketStream(name string) bool {
	if name == "!miniTicker@arr" {
		return true
	}
	if w, ok := strings.CutPrefix(name, "!ticker_"); ok {
		w, ok = strings.CutSuffix(w, "@arr")
		_, known := rollingWindows[w]
		return ok && known
	}
	return false
}
