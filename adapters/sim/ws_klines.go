package sim

import (
	"strings"
	"time"

	"github.com/keelbot/keel/adapters"
)

// The kline stream, <symbol>@kline_<interval> and <symbol>@kline_<interval>@+08:00
// (web-socket-streams.md "Kline/Candlestick Streams"): the current candle of the trade tape
// (candles.go), pushed at the documented update speed (every 1000ms for 1s, 2000ms for the
// other intervals) while it changes, and once more with "x": true as soon as it closes, every
// closed candle in order. A candle the stream has not yet pushed when a client subscribes is
// not replayed: the first event is the current candle.

// parseKlineStream reads "kline_<interval>[@+08:00]", the part after "<symbol>@". Only
// +08:00 is documented as a time zone for streams.
func parseKlineStream(kind string) (adapters.Interval, time.Duration, bool) {
	rest, ok := strings.CutPrefix(kind, "kline_")
	if !ok {
		return "", 0, false
	}
	ivs, tz, hasTZ := strings.Cut(rest, "@")
	iv := adapters.Interval(ivs)
	if !iv.Valid() {
		return "", 0, false
	}
	if hasTZ {
		if tz != "+08:00" {
			return "", 0, false
		}
		return iv, 8 * time.Hour, true
	}
	return iv, 0, true
}

// klineState is what the stream last pushed of one kline stream.
type klineState struct {
	open   time.Time // the open time of the candle last pushed
	pushed time.Time // when
	trades int64     // its trade count then, to push only changes
}

// klineEvents computes the kline events due at now for the streams subscribed to.
// requires that s.mu is held.
func (s *Server) klineEvents(names []string, now time.Time) []namedEvent {
	if s.klineSent == nil {
		s.klineSent = map[string]*klineState{}
	}
	var out []namedEvent
	live := map[string]bool{}
	for _, name := range names {
		live[name] = true
		sym, kind, _ := strings.Cut(name, "@")
		iv, off, ok := parseKlineStream(kind)
		m := s.markets[strings.ToUpper(sym)]
		if !ok || m == nil {
			continue
		}
		speed := 2 * time.Second
		if iv == "1s" {
			speed = time.Second
		}
		st := s.klineSent[name]
		if st == nil {
			st = &klineState{}
			s.klineSent[name] = st
		}
		cur := iv.OpenTime(now, off)
		from := cur
		if !st.open.IsZero() && st.open.Before(cur) {
			from = st.open // push the candles that closed since, from the last one pushed
		}
		ks := m.candles(klineQuery{interval: iv, offset: off, start: from, end: cur, limit: 100}, now)
		for _, k := range ks {
			closing := k.Closed
			due := closing || !st.open.Equal(k.OpenTime) || (now.Sub(st.pushed) >= speed && k.Trades != st.trades)
			if !due {
				continue
			}
			st.open, st.pushed, st.trades = k.OpenTime, now, k.Trades
			out = append(out, namedEvent{name, klineEvent(k, now)})
		}
	}
	for name := range s.klineSent {
		if !live[name] {
			delete(s.klineSent, name)
		}
	}
	return out
}

// namedEvent is an event of one stream.
type namedEvent struct {
	stream string
	ev     streamEvent
}

// klineEvent is the stream's payload: times in ms, or µs for a timeUnit=MICROSECOND client.
func klineEvent(k kline, now time.Time) streamEvent {
	return streamEvent{at: now, build: func(micro bool) any {
		unit := func(t time.Time) int64 {
			if micro {
				return t.UnixMicro()
			}
			return t.UnixMilli()
		}
		closeAt := unit(k.CloseTime)
		if micro {
			closeAt += 999
		}
		return map[string]any{"e": "kline", "E": unit(now), "s": k.Symbol, "k": map[string]any{
			"t": unit(k.OpenTime), "T": closeAt, "s": k.Symbol, "i": string(k.Interval),
			"f": k.firstID, "L": k.lastID,
			"o": fmt8(k.Open), "c": fmt8(k.Close), "h": fmt8(k.High), "l": fmt8(k.Low),
			"v": fmt8(k.Volume), "n": k.Trades, "x": k.Closed, "q": fmt8(k.QuoteVolume),
			"V": fmt8(k.TakerBuyVolume), "Q": fmt8(k.TakerBuyQuoteVolume), "B": "0"}}
	}}
}
