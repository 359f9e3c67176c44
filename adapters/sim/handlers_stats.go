package sim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// Market statistics (rest-api.md "24hr ticker price change statistics", "Rolling window price
// change statistics", "Current average price", "Compressed/Aggregate trades list", "Old trade
// lookup"), all from the public trade tape (candles.go). Where the docs leave the answer open:
//   - /ticker/24hr's window (and @ticker's) is exactly 24 h: openTime is closeTime − 24 h, as
//     the docs' examples show (openTime 1499783499040, closeTime 1499869899040); the tape keeps
//     one-minute bars, so the trades counted are those of the bars opening inside the window
//     (the minute the window's open cuts is left out). /ticker's window starts on a minute, as
//     documented.
//   - every walk step is one taker, so each aggregate trade is one trade (a = f = l = its id).
//   - /historicalTrades and /aggTrades serve the trades kept in memory (at least the last 1000);
//     an older fromId answers from the oldest kept.

// tapeStats are a market's statistics over [from, now].
type tapeStats struct {
	open, high, low, last, prevClose int64 // ticks
	volume, quote                    decimal.Decimal
	firstID, lastID, count           int64
	openTime                         time.Time
}

// stats sums the one-minute bars starting at or after from (floored to a minute).
func (m *market) stats(from time.Time) tapeStats {
	bars := m.tape.minutes.bars
	start := from.UnixMilli() - from.UnixMilli()%60000
	st := tapeStats{openTime: time.UnixMilli(start).UTC(), firstID: -1, lastID: -1, last: m.ticks, prevClose: m.ticks}
	var vol, quote int64
	seen := false
	for _, b := range bars {
		if b.start < start {
			if b.trades > 0 {
				st.prevClose = b.close
			}
			continue
		}
		if b.trades == 0 {
			continue
		}
		if !seen {
			seen = true
			st.open, st.high, st.low, st.firstID = b.open, b.high, b.low, b.firstID
		}
		st.high, st.low = max(st.high, b.high), min(st.low, b.low)
		st.last, st.lastID = b.close, b.lastID
		st.count += b.trades
		vol += b.volume
		quote += b.quote
	}
	if !seen {
		st.open, st.high, st.low = st.last, st.last, st.last
	}
	st.volume = decimal.NewFromInt(vol).Mul(m.stepOrOne())
	st.quote = decimal.NewFromInt(quote).Mul(m.tick.Mul(m.stepOrOne()))
	return st
}

// statsJSON is the FULL or MINI ticker of m over the window from.
func (s *Server) statsJSON(q *request, m *market, from, now time.Time, full, withBook bool) map[string]any {
	st := m.stats(from)
	px := m.tickPrice
	out := map[string]any{"symbol": m.sym.Name, "openPrice": fmt8(px(st.open)), "highPrice": fmt8(px(st.high)),
		"lowPrice": fmt8(px(st.low)), "lastPrice": fmt8(px(st.last)), "volume": fmt8(st.volume), "quoteVolume": fmt8(st.quote),
		"openTime": q.timeUnit(st.openTime), "closeTime": q.timeUnit(now), "firstId": st.firstID, "lastId": st.lastID, "count": st.count}
	if !full {
		return out
	}
	change := px(st.last).Sub(px(st.open))
	pct := decimal.Zero
	if st.open > 0 {
		pct = change.Div(px(st.open)).Mul(decimal.NewFromInt(100))
	}
	wavg := decimal.Zero
	if st.volume.IsPositive() {
		wavg = st.quote.Div(st.volume)
	}
	out["priceChange"], out["priceChangePercent"], out["weightedAvgPrice"] = fmt8(change), pct.StringFixed(3), fmt8(wavg)
	if withBook {
		lastQty := decimal.Zero
		if n := len(m.tape.recent); n > 0 {
			lastQty = m.tape.recent[n-1].qty
		}
		bids, asks := m.book(1)
		out["prevClosePrice"], out["lastQty"] = fmt8(px(st.prevClose)), fmt8(lastQty)
		out["bidPrice"], out["bidQty"], out["askPrice"], out["askQty"] = fmt8(zero), fmt8(zero), fmt8(zero), fmt8(zero)
		if len(bids) > 0 {
			out["bidPrice"], out["bidQty"] = bids[0][0], bids[0][1]
		}
		if len(asks) > 0 {
			out["askPrice"], out["askQty"] = asks[0][0], asks[0][1]
		}
	}
	return out
}

// tickerType reads type: FULL (default) or MINI.
func tickerType(q *request) (bool, *apiError) {
	v, ok := q.str("type")
	if !ok || v == "FULL" {
		return true, nil
	}
	if v == "MINI" {
		return false, nil
	}
	return false, errInvalidParam("type")
}

// GET /api/v3/ticker/24hr: one symbol (an object), several or all (an array).
func (s *Server) ticker24hr(c *call) reply {
	q := c.req
	_, single := q.values["symbol"]
	names, aerr := s.symbolList(q)
	if aerr != nil {
		return fail(aerr)
	}
	full, aerr := tickerType(q)
	if aerr != nil {
		return fail(aerr)
	}
	from, open := window24(c.now)
	return s.tickerReply(q, single, names, func(m *market) map[string]any {
		out := s.statsJSON(q, m, from, c.now, full, true)
		out["openTime"] = q.timeUnit(open)
		return out
	})
}

// window24 is the 24-hour window ending at now: the first one-minute bar inside it (bars
// from), and its openTime, now − 24 h.
func window24(now time.Time) (bars, open time.Time) {
	open = now.Add(-24 * time.Hour)
	bars = open.Truncate(time.Minute)
	if bars.Before(open) {
		bars = bars.Add(time.Minute)
	}
	return bars, open
}

// symbolCount is how many symbols symbols lists (0 when absent or malformed: the handler
// refuses those).
func symbolCount(q *request) int {
	v, ok := q.values["symbols"]
	if !ok {
		return 0
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] == '"' {
			n++
		}
	}
	return n / 2
}

// ticker24hrWeight: symbol 2, none 80; symbols 1-20: 2, 21-100: 40, more: 80.
func ticker24hrWeight(q *request) int64 {
	if v, ok := q.values["symbol"]; ok && v != "" {
		return 2
	}
	switch n := symbolCount(q); {
	case n == 0:
		return 80
	case n <= 20:
		return 2
	case n <= 100:
		return 40
	}
	return 80
}

// rollingWeight: 4 per symbol, at most 200.
func rollingWeight(q *request) int64 {
	n := int64(1)
	if _, ok := q.values["symbols"]; ok {
		n = int64(max(1, symbolCount(q)))
	}
	return min(4*n, 200)
}

// parseWindowSize reads windowSize: 1m..59m, 1h..23h, 1d..7d (default 1d).
func parseWindowSize(q *request) (time.Duration, *apiError) {
	v, ok := q.str("windowSize")
	if !ok {
		return 24 * time.Hour, nil
	}
	if len(v) < 2 {
		return 0, errInvalidParam("windowSize")
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 1 {
		return 0, errInvalidParam("windowSize")
	}
	switch unit := v[len(v)-1]; {
	case unit == 'm' && n <= 59:
		return time.Duration(n) * time.Minute, nil
	case unit == 'h' && n <= 23:
		return time.Duration(n) * time.Hour, nil
	case unit == 'd' && n <= 7:
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return 0, errInvalidParam("windowSize")
}

// GET /api/v3/ticker: rolling window statistics; symbol or symbols (at most 100) required.
func (s *Server) rollingTicker(c *call) reply {
	q := c.req
	_, single := q.values["symbol"]
	if _, many := q.values["symbols"]; !single && !many {
		return fail(errEitherParam("symbol", "symbols"))
	}
	names, aerr := s.symbolList(q)
	if aerr != nil {
		return fail(aerr)
	}
	if len(names) > 100 {
		return fail(errf(http.StatusBadRequest, -1101, "Too many values sent for parameter 'symbols', max is 100."))
	}
	win, aerr := parseWindowSize(q)
	if aerr != nil {
		return fail(aerr)
	}
	full, aerr := tickerType(q)
	if aerr != nil {
		return fail(aerr)
	}
	from := c.now.Add(-win)
	return s.tickerReply(q, single, names, func(m *market) map[string]any {
		return s.statsJSON(q, m, from, c.now, full, false)
	})
}

// GET /api/v3/avgPrice: the volume-weighted price of the last 5 minutes' trades.
func (s *Server) avgPrice(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	px, closeAt := m.avg(c.now)
	return ok(map[string]any{"mins": 5, "price": fmt8(px), "closeTime": q.timeUnit(closeAt)})
}

// avg is the volume-weighted price of the trades of the last 5 minutes (the last price when
// none traded) and the last trade's time, from the one-second bars (an hour of them is kept,
// whatever the trade rate).
func (m *market) avg(now time.Time) (decimal.Decimal, time.Time) {
	from := now.Add(-5 * time.Minute).UnixMilli()
	var vol, quote int64
	for _, b := range m.tape.seconds.bars {
		if b.start >= from-from%1000 && b.trades > 0 {
			vol += b.volume
			quote += b.quote
		}
	}
	last := now
	if n := len(m.tape.recent); n > 0 {
		last = m.tape.recent[n-1].at
	}
	if vol == 0 {
		return m.price(), last
	}
	return decimal.NewFromInt(quote).Mul(m.tick).Div(decimal.NewFromInt(vol)).Round(8), last
}

// tradesFrom is the kept trades with id >= fromID, at most limit.
func (m *market) tradesFrom(fromID int64, limit int) []walkTrade {
	rec := m.tape.recent
	i := 0
	for i < len(rec) && rec[i].id < fromID {
		i++
	}
	return rec[i:min(len(rec), i+limit)]
}

// GET /api/v3/historicalTrades (weight 25): trades from fromId, or the most recent.
func (s *Server) historicalTrades(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	n, aerr := q.limitParam()
	if aerr != nil {
		return fail(aerr)
	}
	from, hasFrom, aerr := q.longParam("fromId")
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	ts := m.lastTrades(n)
	if hasFrom {
		ts = m.tradesFrom(from, n)
	}
	return ok(tradeRows(q, m, ts))
}

// GET /api/v3/aggTrades (weight 4): fromId, startTime/endTime (at most an hour apart), limit.
func (s *Server) aggTrades(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	n, aerr := q.limitParam()
	if aerr != nil {
		return fail(aerr)
	}
	from, hasFrom, aerr := q.longParam("fromId")
	if aerr != nil {
		return fail(aerr)
	}
	start, hasStart, aerr := q.timeParam("startTime")
	if aerr != nil {
		return fail(aerr)
	}
	end, hasEnd, aerr := q.timeParam("endTime")
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	if hasStart && hasEnd && end.Sub(start) > time.Hour {
		return fail(errf(http.StatusBadRequest, -1127, "More than 1 hours between startTime and endTime."))
	}
	var ts []walkTrade
	switch {
	case hasFrom:
		ts = m.tradesFrom(from, n)
	case hasStart || hasEnd:
		for _, t := range m.tape.recent {
			if (hasStart && t.at.Before(start)) || (hasEnd && t.at.After(end)) {
				continue
			}
			if len(ts) == n {
				break
			}
			ts = append(ts, t)
		}
	default:
		ts = m.lastTrades(n)
	}
	out := make([]map[string]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, map[string]any{"a": t.id, "p": fmt8(m.tickPrice(t.ticks)), "q": fmt8(t.qty), "f": t.id, "l": t.id,
			"T": q.timeUnit(t.at), "m": t.buyer, "M": true})
	}
	return ok(out)
}

// GET /api/v3/ticker/tradingDay (weight 4 per symbol, at most 200): the statistics of the
// current trading day in timeZone (default UTC), from the day's open to now; closeTime is the
// day's last millisecond, as the docs' example shows.
func (s *Server) tradingDayTicker(c *call) reply {
	q := c.req
	_, single := q.values["symbol"]
	if _, many := q.values["symbols"]; !single && !many {
		return fail(errEitherParam("symbol", "symbols"))
	}
	names, aerr := s.symbolList(q)
	if aerr != nil {
		return fail(aerr)
	}
	if len(names) > 100 {
		return fail(errf(http.StatusBadRequest, -1101, "Too many values sent for parameter 'symbols', max is 100."))
	}
	var off time.Duration
	if tz, ok := q.str("timeZone"); ok {
		o, err := adapters.ParseTimeZone(tz)
		if err != nil || tz == "" {
			return fail(errInvalidParam("timeZone"))
		}
		off = o
	}
	full, aerr := tickerType(q)
	if aerr != nil {
		return fail(aerr)
	}
	if keep, aerr := statusFilter(q, single); aerr != nil {
		return fail(aerr)
	} else if !keep {
		names = nil
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	day := adapters.Interval("1d")
	open := day.OpenTime(c.now, off)
	end := day.Next(open, off).Add(-time.Millisecond)
	one := func(m *market) map[string]any {
		out := s.statsJSON(q, m, open, c.now, full, false)
		out["openTime"], out["closeTime"] = q.timeUnit(open), q.timeUnit(end)
		return out
	}
	if single {
		return ok(one(s.markets[names[0]]))
	}
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		out = append(out, one(s.markets[n]))
	}
	return ok(out)
}
