package sim

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The market streams beyond @trade, @bookTicker, @depth@100ms and the klines
// (web-socket-streams.md "Detailed Stream information"):
//
//	<symbol>@aggTrade                  real time: one event per trade of the walk (each is its
//	                                   own aggregate, as /api/v3/aggTrades says)
//	<symbol>@depth, @depth@1000ms      diff updates every slow tick: the @100ms diffs merged,
//	                                   U of the first, u of the last, each level's last quantity
//	<symbol>@depth<5|10|20>[@100ms]    the top levels {"lastUpdateId","bids","asks"}, every slow
//	                                   tick, or every tick with @100ms
//	<symbol>@ticker, @miniTicker       24hr rolling statistics (marketdata.go), every slow tick
//	<symbol>@ticker_<1h|4h|1d>         rolling window statistics ("1hTicker", ...), every slow tick
//	<symbol>@avgPrice                  the 5-minute average price, every slow tick
//	!miniTicker@arr, !ticker_<w>@arr   the symbols whose statistics changed (a trade since the
//	                                   last push), every slow tick; nothing when none did
//
// A tick is StreamConfig.Interval (100 ms by default, the documented @100ms speed); a slow tick
// is every tenth (1000 ms by default, the documented speed of the others), so a test that
// shortens Interval shortens both. Where the docs leave the answer open the simulator chooses:
//   - @depth@1000ms is not in the docs (they name <symbol>@depth for 1000 ms); it is accepted as
//     the same stream.
//   - !ticker@arr was retired on 2026-03-26 (CHANGELOG 2025-12-02) and is refused like any
//     unknown stream; so is every name not listed above.
//   - a stream of a well-formed name for a symbol the simulator does not list is accepted and
//     stays silent, as Binance does (it reports nothing for them either).
//   - the @ticker, @miniTicker, @ticker_<w> and @avgPrice events are pushed every slow tick
//     even when nothing changed; the docs give the speed, not whether unchanged ones are sent.

// streamState is what the streams keep between ticks; guarded by s.mu (tick is its only user).
type streamState struct {
	slow  map[string]*slowDiff // by symbol: the @100ms diffs since the last @depth event
	arr   map[string]int64     // by "<arr stream> <symbol>": the last trade id pushed
	ticks int64
}

// slowDiff merges diff updates: the first U, the last u, each level's last quantity.
type slowDiff struct {
	first, final int64
	bids, asks   map[string]string
}

func (d *slowDiff) merge(x depthDiff) {
	if d.first == 0 {
		d.first = x.first
	}
	d.final = x.final
	for _, l := range x.bids {
		d.bids[l[0]] = l[1]
	}
	for _, l := range x.asks {
		d.asks[l[0]] = l[1]
	}
}

// levels lists a side best first: bids by descending price, asks ascending.
func sortedLevels(side map[string]string, desc bool) []bookLevel {
	type lv struct {
		p decimal.Decimal
		l bookLevel
	}
	ls := make([]lv, 0, len(side))
	for p, q := range side {
		ls = append(ls, lv{decimal.RequireFromString(p), bookLevel{p, q}})
	}
	sort.Slice(ls, func(i, j int) bool {
		if desc {
			return ls[i].p.GreaterThan(ls[j].p)
		}
		return ls[i].p.LessThan(ls[j].p)
	})
	out := make([]bookLevel, len(ls))
	for i, x := range ls {
		out[i] = x.l
	}
	return out
}

// state is the hub's stream state, made on first use.
// requires that s.mu is held.
func (s *Server) streamState() *streamState {
	if s.hub.market == nil {
		s.hub.market = &streamState{slow: map[string]*slowDiff{}, arr: map[string]int64{}}
	}
	return s.hub.market
}

// slowDepth adds a @100ms diff of m to the @depth stream's next event; skipped discards what
// was gathered, so @depth clients see the gap too.
// requires that s.mu is held.
func (s *Server) slowDepth(m *market, d depthDiff, skipped bool) {
	st := s.streamState()
	if skipped {
		delete(st.slow, m.sym.Name)
		return
	}
	sd := st.slow[m.sym.Name]
	if sd == nil {
		sd = &slowDiff{bids: map[string]string{}, asks: map[string]string{}}
		st.slow[m.sym.Name] = sd
	}
	sd.merge(d)
}

var (
	reMarketStream = regexp.MustCompile(`^[a-z0-9]{1,64}$`)
	reArrStream    = regexp.MustCompile(`^!(miniTicker|ticker_(1h|4h|1d))@arr$`)
)

// validStream reports whether name is a stream the simulator serves: a documented stream
// kind of a lower-case symbol (listed or not), or an all-market stream.
func (s *Server) validStream(name string) bool {
	if reArrStream.MatchString(name) {
		return true
	}
	sym, kind, ok := strings.Cut(name, "@")
	if !ok || !reMarketStream.MatchString(sym) {
		return false
	}
	switch kind {
	case "trade", "aggTrade", "bookTicker", "depth", "depth@100ms", "depth@1000ms",
		"ticker", "miniTicker", "avgPrice", "ticker_1h", "ticker_4h", "ticker_1d",
		"depth5", "depth10", "depth20", "depth5@100ms", "depth10@100ms", "depth20@100ms":
		return true
	}
	_, _, ok = parseKlineStream(kind)
	return ok
}

// unitOf prints t in ms, or µs for a timeUnit=MICROSECOND client.
func unitOf(t time.Time, micro bool) int64 {
	if micro {
		return t.UnixMicro()
	}
	return t.UnixMilli()
}

// aggTradeEvent is the @aggTrade event of one walk trade.
func (m *market) aggTradeEvent(t walkTrade, now time.Time) streamEvent {
	return streamEvent{payload: func(micro bool) any {
		ev := m.aggTradeJSON(unitOf(t.at, micro), t)
		ev["e"], ev["E"], ev["s"] = "aggTrade", unitOf(now, micro), m.sym.Name
		return ev
	}}
}

// tradeEvent is the @trade event of one walk trade: T is the trade's time, E the push's.
func (m *market) tradeEvent(t walkTrade, now time.Time) streamEvent {
	return streamEvent{payload: func(micro bool) any {
		return map[string]any{"e": "trade", "E": unitOf(now, micro), "s": m.sym.Name, "t": t.id,
			"p": fmt8(m.tickPrice(t.ticks)), "q": fmt8(t.qty), "T": unitOf(t.at, micro), "m": t.buyer, "M": true}
	}}
}

// tickerEvent is the @ticker (24hrTicker) payload.
func (s *Server) tickerEvent(m *market, now time.Time) streamEvent {
	st := m.ticker24(now)
	bid, ask := s.bestLevels(m, "")
	last := m.lastQty()
	return streamEvent{payload: func(micro bool) any {
		return map[string]any{"e": "24hrTicker", "E": unitOf(now, micro), "s": m.sym.Name,
			"p": fmt8(st.change()), "P": st.changePercent(), "w": fmt8(st.weightedAvg()), "x": fmt8(st.prevClose),
			"c": fmt8(st.last), "Q": fmt8(last), "b": bid[0], "B": bid[1], "a": ask[0], "A": ask[1],
			"o": fmt8(st.open), "h": fmt8(st.high), "l": fmt8(st.low), "v": fmt8(st.volume), "q": fmt8(st.quote),
			"O": unitOf(st.openTime, micro), "C": unitOf(st.closeTime, micro), "F": st.firstID, "L": st.lastID, "n": st.count}
	}}
}

// miniTicker is the @miniTicker payload (and an element of !miniTicker@arr).
func miniTicker(m *market, st windowStats, now time.Time, micro bool) map[string]any {
	return map[string]any{"e": "24hrMiniTicker", "E": unitOf(now, micro), "s": m.sym.Name,
		"c": fmt8(st.last), "o": fmt8(st.open), "h": fmt8(st.high), "l": fmt8(st.low),
		"v": fmt8(st.volume), "q": fmt8(st.quote)}
}

var windowSizes = map[string]time.Duration{"1h": time.Hour, "4h": 4 * time.Hour, "1d": 24 * time.Hour}

// windowTicker is the @ticker_<w> payload ("1hTicker", "4hTicker", "1dTicker").
func windowTicker(m *market, w string, st windowStats, now time.Time, micro bool) map[string]any {
	return map[string]any{"e": w + "Ticker", "E": unitOf(now, micro), "s": m.sym.Name,
		"p": fmt8(st.change()), "P": st.changePercent(), "o": fmt8(st.open), "h": fmt8(st.high),
		"l": fmt8(st.low), "c": fmt8(st.last), "w": fmt8(st.weightedAvg()), "v": fmt8(st.volume),
		"q": fmt8(st.quote), "O": unitOf(st.openTime, micro), "C": unitOf(st.closeTime, micro),
		"F": st.firstID, "L": st.lastID, "n": st.count}
}

// marketEvents computes this tick's events of the streams in subs other than @trade,
// @bookTicker, @depth@100ms and the klines; slow is a slow tick.
// requires that s.mu is held.
func (s *Server) marketEvents(subs map[string]bool, now time.Time, slow bool) []namedEvent {
	st := s.streamState()
	var out []namedEvent
	add := func(stream string, ev streamEvent) {
		if subs[stream] {
			out = append(out, namedEvent{stream, ev})
		}
	}
	for _, name := range s.marketOrder {
		m := s.markets[name]
		lower := strings.ToLower(name)
		for _, n := range []int{5, 10, 20} {
			kind := lower + "@depth" + strconv.Itoa(n)
			if !subs[kind+"@100ms"] && !(slow && subs[kind]) {
				continue
			}
			bids, asks := m.book(n)
			body := map[string]any{"lastUpdateId": m.updateID, "bids": bids, "asks": asks}
			ev := streamEvent{payload: func(bool) any { return body }}
			add(kind+"@100ms", ev)
			if slow {
				add(kind, ev)
			}
		}
		if !slow {
			continue
		}
		if sd := st.slow[name]; sd != nil {
			body := map[string]any{"e": "depthUpdate", "s": name, "U": sd.first, "u": sd.final,
				"b": sortedLevels(sd.bids, true), "a": sortedLevels(sd.asks, false)}
			ev := streamEvent{body: body, timeKey: []string{"E"}, at: now}
			add(lower+"@depth", ev)
			add(lower+"@depth@1000ms", ev)
			delete(st.slow, name)
		}
		if subs[lower+"@ticker"] {
			add(lower+"@ticker", s.tickerEvent(m, now))
		}
		if subs[lower+"@miniTicker"] {
			t := m.ticker24(now)
			add(lower+"@miniTicker", streamEvent{payload: func(micro bool) any { return miniTicker(m, t, now, micro) }})
		}
		for w, d := range windowSizes {
			if stream := lower + "@ticker_" + w; subs[stream] {
				t := m.rollingStats(d, now)
				add(stream, streamEvent{payload: func(micro bool) any { return windowTicker(m, w, t, now, micro) }})
			}
		}
		if subs[lower+"@avgPrice"] {
			p, last := m.avgPrice(now)
			add(lower+"@avgPrice", streamEvent{payload: func(micro bool) any {
				return map[string]any{"e": "avgPrice", "E": unitOf(now, micro), "s": name,
					"i": strconv.Itoa(avgPriceMins) + "m", "w": fmt8(p), "T": unitOf(last, micro)}
			}})
		}
	}
	if slow {
		out = append(out, s.arrEvents(subs, now)...)
	}
	return out
}

// arrEvents are the all-market streams' events: the symbols with a trade since the last push.
// requires that s.mu is held.
func (s *Server) arrEvents(subs map[string]bool, now time.Time) []namedEvent {
	st := s.streamState()
	var out []namedEvent
	for _, stream := range []string{"!miniTicker@arr", "!ticker_1h@arr", "!ticker_4h@arr", "!ticker_1d@arr"} {
		if !subs[stream] {
			continue
		}
		var build []func(micro bool) map[string]any
		for _, name := range s.marketOrder {
			m := s.markets[name]
			lastID := int64(-1)
			if n := len(m.tape.recent); n > 0 {
				lastID = m.tape.recent[n-1].id
			}
			key := stream + " " + name
			if prev, seen := st.arr[key]; lastID < 0 || (seen && prev == lastID) {
				continue
			}
			st.arr[key] = lastID
			if stream == "!miniTicker@arr" {
				t := m.ticker24(now)
				build = append(build, func(micro bool) map[string]any { return miniTicker(m, t, now, micro) })
				continue
			}
			w := strings.TrimSuffix(strings.TrimPrefix(stream, "!ticker_"), "@arr")
			t := m.rollingStats(windowSizes[w], now)
			build = append(build, func(micro bool) map[string]any { return windowTicker(m, w, t, now, micro) })
		}
		if len(build) == 0 {
			continue
		}
		out = append(out, namedEvent{stream, streamEvent{payload: func(micro bool) any {
			arr := make([]map[string]any, len(build))
			for i, b := range build {
				arr[i] = b(micro)
			}
			return arr
		}}})
	}
	return out
}
