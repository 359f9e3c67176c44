package sim

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// Market data beyond the book and the klines (rest-api.md "Market Data endpoints"):
//
//	GET /api/v3/ticker/24hr        weight 2 for symbol, 2/40/80 for 1-20/21-100/101+ symbols, 80 for all
//	GET /api/v3/ticker             rolling window (windowSize, default 1d); 4 a symbol, at most 200
//	GET /api/v3/ticker/tradingDay  the trading day in timeZone; 4 a symbol, at most 200
//	GET /api/v3/avgPrice           weight 2
//	GET /api/v3/historicalTrades   weight 25
//	GET /api/v3/aggTrades          weight 4
//
// Every statistic is computed from the public trade tape (candles.go), so a ticker agrees
// with /api/v3/trades, the klines and the @trade stream. Where the docs leave Binance's answer
// open, the simulator chooses, and says so here:
//   - the 24hr ticker and the rolling window count the one-minute bars that open inside the
//     window (the 24hr window opens at closeTime−24h, the rolling one on the minute at or
//     before closeTime−windowSize, as documented); trades of the minute cut by the 24hr
//     window's open are left out. Windows reach back a week at most (the bars kept).
//   - a window without trades is flat at the current price, with zero volume, count 0 and
//     firstId/lastId -1; prevClosePrice is the close of the last trade before the window, or
//     zero when there was none.
//   - avgPrice is the volume-weighted price of the trades of the last 5 minutes (one-second
//     bars opening inside them), the current price when there were none; closeTime is the
//     time of the last trade, or the current time before the first.
//   - each step of the price walk is one taker order filled in one trade, so every aggregate
//     trade is one trade: "a", "f" and "l" are the trade's id.
//   - historicalTrades and aggTrades serve the last 1000 trades (at least; the tape keeps
//     1000 to 2000). A fromId, startTime or endTime older than that starts at the oldest kept.
//     fromId, startTime and endTime of aggTrades may be combined; each narrows the answer.
//   - a windowSize outside 1m..59m, 1h..23h, 1d..7d, a type other than FULL or MINI, a
//     symbolStatus other than TRADING, HALT or BREAK, and more than 100 symbols for
//     /api/v3/ticker are -1130 (invalid data for the parameter).
//   - every symbol is TRADING: symbolStatus HALT or BREAK is -1220 for one symbol and
//     excludes every symbol from a list.
//
// Times (openTime, closeTime, time, T) are milliseconds, or microseconds with
// X-MBX-TIME-UNIT: MICROSECOND, as are startTime and endTime then.

// countSymbols is how many symbols a symbols=[...] parameter names (0 when absent or malformed).
func countSymbols(q *request) int {
	var list []string
	if v, ok := q.values["symbols"]; ok && json.Unmarshal([]byte(v), &list) == nil {
		return len(list)
	}
	return 0
}

// ticker24hrWeight: symbol 2; symbols 1-20: 2, 21-100: 40, 101 or more: 80; neither: 80.
func ticker24hrWeight(q *request) int64 {
	if v, ok := q.values["symbol"]; ok && v != "" {
		return 2
	}
	if _, ok := q.values["symbols"]; ok {
		switch n := countSymbols(q); {
		case n <= 20:
			return 2
		case n <= 100:
			return 40
		}
	}
	return 80
}

// rollingTickerWeight: 4 for each symbol, capped at 200 past 50 symbols.
func rollingTickerWeight(q *request) int64 {
	if _, ok := q.values["symbols"]; ok {
		return min(200, 4*int64(max(1, countSymbols(q))))
	}
	return 4
}

// statusFilter reads symbolStatus: every simulated symbol is TRADING, so the filter keeps
// everything or nothing. A single symbol that does not match is -1220.
func statusFilter(q *request, single bool) (keep bool, aerr *apiError) {
	v, ok := q.str("symbolStatus")
	if !ok {
		return true, nil
	}
	switch v {
	case "TRADING":
		return true, nil
	case "HALT", "BREAK":
		if single {
			return false, errf(http.StatusBadRequest, -1220, "The symbol's status does not match the requested symbolStatus.")
		}
		return false, nil
	}
	return false, errInvalidParam("symbolStatus")
}

// tickers answers an object for symbol and an array for symbols or all symbols, after the
// symbolStatus filter. extra reads the endpoint's other parameters before -1104 is judged.
func (s *Server) tickers(c *call, extra func(*request) *apiError, one func(*market) map[string]any) reply {
	q := c.req
	_, single := q.values["symbol"]
	names, aerr := s.symbolList(q)
	if aerr != nil {
		return fail(aerr)
	}
	keep, aerr := statusFilter(q, single)
	if aerr != nil {
		return fail(aerr)
	}
	if extra != nil {
		if aerr := extra(q); aerr != nil {
			return fail(aerr)
		}
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	if single {
		return ok(one(s.markets[names[0]]))
	}
	out := make([]map[string]any, 0, len(names))
	if keep {
		for _, n := range names {
			out = append(out, one(s.markets[n]))
		}
	}
	return ok(out)
}

// tickerType reads type: FULL (default) or MINI.
func tickerType(q *request) (mini bool, aerr *apiError) {
	v, ok := q.str("type")
	if !ok || v == "FULL" {
		return false, nil
	}
	if v == "MINI" {
		return true, nil
	}
	return false, errInvalidParam("type")
}

// windowStats are a market's statistics over [openTime, closeTime].
type windowStats struct {
	open, high, low, last decimal.Decimal
	volume, quote         decimal.Decimal
	prevClose             decimal.Decimal
	firstID, lastID       int64
	count                 int64
	openTime, closeTime   time.Time
}

// stats aggregates the bars of series opening in [from, now].
// requires that s.mu is held.
func (m *market) stats(series *barSeries, from, now time.Time) windowStats {
	bars := series.bars[max(0, len(series.bars)-series.keep):]
	k := m.aggregate(bars, from, now.Add(time.Millisecond), "", now)
	st := windowStats{open: k.Open, high: k.High, low: k.Low, last: k.Close, volume: k.Volume, quote: k.QuoteVolume,
		firstID: k.firstID, lastID: k.lastID, count: k.Trades, openTime: from, closeTime: now}
	if k.Trades == 0 {
		p := m.price()
		st.open, st.high, st.low, st.last = p, p, p, p
	}
	for i := len(bars) - 1; i >= 0; i-- {
		if bars[i].start < from.UnixMilli() && bars[i].trades > 0 {
			st.prevClose = m.tickPrice(bars[i].close)
			break
		}
	}
	return st
}

func (st windowStats) change() decimal.Decimal { return st.last.Sub(st.open) }

// changePercent is the relative change in percent with three decimals, as Binance prints it.
func (st windowStats) changePercent() string {
	if st.open.IsZero() {
		return "0.000"
	}
	return st.change().Div(st.open).Mul(decimal.NewFromInt(100)).StringFixed(3)
}

func (st windowStats) weightedAvg() decimal.Decimal {
	if st.volume.IsZero() {
		return decimal.Zero
	}
	return st.quote.Div(st.volume)
}

// miniJSON is the MINI response of /ticker/24hr and /ticker.
func (st windowStats) miniJSON(q *request, symbol string) map[string]any {
	return map[string]any{
		"symbol": symbol, "openPrice": fmt8(st.open), "highPrice": fmt8(st.high), "lowPrice": fmt8(st.low),
		"lastPrice": fmt8(st.last), "volume": fmt8(st.volume), "quoteVolume": fmt8(st.quote),
		"openTime": q.timeUnit(st.openTime), "closeTime": q.timeUnit(st.closeTime),
		"firstId": st.firstID, "lastId": st.lastID, "count": st.count,
	}
}

// rollingJSON is the FULL response of /api/v3/ticker.
func (st windowStats) rollingJSON(q *request, symbol string) map[string]any {
	out := st.miniJSON(q, symbol)
	out["priceChange"] = fmt8(st.change())
	out["priceChangePercent"] = st.changePercent()
	out["weightedAvgPrice"] = fmt8(st.weightedAvg())
	return out
}

// ticker24 is the 24-hour statistics of m at now.
// requires that s.mu is held.
func (m *market) ticker24(now time.Time) windowStats {
	return m.stats(&m.tape.minutes, now.Add(-24*time.Hour), now)
}

// fullJSON24 is the FULL response of /api/v3/ticker/24hr: the rolling fields with the last
// trade's quantity, the close before the window and the best bid and ask.
func (s *Server) fullJSON24(q *request, m *market, st windowStats) map[string]any {
	out := st.rollingJSON(q, m.sym.Name)
	out["prevClosePrice"] = fmt8(st.prevClose)
	out["lastQty"] = fmt8(m.lastQty())
	bid, ask := s.bestLevels(m, "/api/v3/ticker/24hr")
	out["bidPrice"], out["bidQty"], out["askPrice"], out["askQty"] = bid[0], bid[1], ask[0], ask[1]
	return out
}

// lastQty is the quantity of the last public trade, zero before the first.
func (m *market) lastQty() decimal.Decimal {
	if n := len(m.tape.recent); n > 0 {
		return m.tape.recent[n-1].qty
	}
	return decimal.Zero
}

// bestLevels is the best bid and ask, zeros for an empty side.
// requires that s.mu is held.
func (s *Server) bestLevels(m *market, path string) (bid, ask bookLevel) {
	bids, asks := m.book(1)
	bids, asks = s.faults.bendBook(path, bids, asks)
	bid, ask = bookLevel{fmt8(zero), fmt8(zero)}, bookLevel{fmt8(zero), fmt8(zero)}
	if len(bids) > 0 {
		bid = bids[0]
	}
	if len(asks) > 0 {
		ask = asks[0]
	}
	return bid, ask
}

func (s *Server) ticker24hr(c *call) reply {
	var mini bool
	return s.tickers(c, func(q *request) (aerr *apiError) {
		mini, aerr = tickerType(q)
		return aerr
	}, func(m *market) map[string]any {
		st := m.ticker24(c.now)
		if mini {
			return st.miniJSON(c.req, m.sym.Name)
		}
		return s.fullJSON24(c.req, m, st)
	})
}

var reWindowSize = regexp.MustCompile(`^([1-9][0-9]?)([mhd])$`)

// parseWindowSize reads a rolling window: 1m..59m, 1h..23h or 1d..7d.
func parseWindowSize(v string) (time.Duration, bool) {
	sm := reWindowSize.FindStringSubmatch(v)
	if sm == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(sm[1])
	switch sm[2] {
	case "m":
		return time.Duration(n) * time.Minute, n <= 59
	case "h":
		return time.Duration(n) * time.Hour, n <= 23
	default:
		return time.Duration(n) * 24 * time.Hour, n <= 7
	}
}

// rollingStats is m's statistics over window at now: from the minute at or before
// now−window, to now.
// requires that s.mu is held.
func (m *market) rollingStats(window time.Duration, now time.Time) windowStats {
	from := now.Add(-window).Truncate(time.Minute)
	return m.stats(&m.tape.minutes, from, now)
}

// rollingTicker answers GET /api/v3/ticker: symbol or symbols (one of them mandatory, at most
// 100 symbols), windowSize, type, symbolStatus.
func (s *Server) rollingTicker(c *call) reply {
	q := c.req
	_, hasOne := q.values["symbol"]
	_, hasMany := q.values["symbols"]
	if !hasOne && !hasMany {
		q.accept("symbol", "symbols")
		return fail(errEitherParam("symbol", "symbols"))
	}
	if countSymbols(q) > 100 {
		q.accept("symbols")
		return fail(errInvalidParam("symbols"))
	}
	window := 24 * time.Hour
	var mini bool
	return s.tickers(c, func(q *request) *apiError {
		if v, ok := q.str("windowSize"); ok {
			w, valid := parseWindowSize(v)
			if !valid {
				return errInvalidParam("windowSize")
			}
			window = w
		}
		var aerr *apiError
		mini, aerr = tickerType(q)
		return aerr
	}, func(m *market) map[string]any {
		st := m.rollingStats(window, c.now)
		if mini {
			return st.miniJSON(c.req, m.sym.Name)
		}
		return st.rollingJSON(c.req, m.sym.Name)
	})
}

// tradingDayTicker answers GET /api/v3/ticker/tradingDay (rest-api.md "Trading Day Ticker"):
// symbol or symbols (one mandatory, at most 100), timeZone (default UTC), type, symbolStatus;
// 4 a symbol, at most 200. The day is the one holding now in timeZone: openTime its start,
// closeTime its last millisecond (as the docs' example), the statistics those of its trades
// so far.
func (s *Server) tradingDayTicker(c *call) reply {
	q := c.req
	_, hasOne := q.values["symbol"]
	_, hasMany := q.values["symbols"]
	if !hasOne && !hasMany {
		q.accept("symbol", "symbols")
		return fail(errEitherParam("symbol", "symbols"))
	}
	if countSymbols(q) > 100 {
		q.accept("symbols")
		return fail(errInvalidParam("symbols"))
	}
	var off time.Duration
	var mini bool
	return s.tickers(c, func(q *request) *apiError {
		if tz, ok := q.str("timeZone"); ok {
			o, err := adapters.ParseTimeZone(tz)
			if err != nil || tz == "" {
				return errInvalidParam("timeZone")
			}
			off = o
		}
		var aerr *apiError
		mini, aerr = tickerType(q)
		return aerr
	}, func(m *market) map[string]any {
		open := adapters.Interval("1d").OpenTime(c.now, off)
		st := m.stats(&m.tape.minutes, open, c.now)
		st.closeTime = open.Add(24*time.Hour - time.Millisecond)
		if mini {
			return st.miniJSON(c.req, m.sym.Name)
		}
		return st.rollingJSON(c.req, m.sym.Name)
	})
}

// avgPriceMins is the average price interval in minutes, as exchangeInfo's NOTIONAL filter
// announces it (avgPriceMins).
const avgPriceMins = 5

// avgPrice is the volume-weighted price of the last avgPriceMins minutes' trades and the
// time of the last trade.
// requires that s.mu is held.
func (m *market) avgPrice(now time.Time) (decimal.Decimal, time.Time) {
	st := m.stats(&m.tape.seconds, now.Add(-avgPriceMins*time.Minute), now)
	last := now
	if n := len(m.tape.recent); n > 0 {
		last = m.tape.recent[n-1].at
	}
	if st.count == 0 {
		return m.price(), last
	}
	return st.weightedAvg().Round(8), last
}

func (s *Server) avgPriceHandler(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	p, last := m.avgPrice(c.now)
	return ok(map[string]any{"mins": avgPriceMins, "price": fmt8(p), "closeTime": q.timeUnit(last)})
}

// tradeJSON is a public trade as /api/v3/trades and /api/v3/historicalTrades print it.
func (m *market) tradeJSON(q *request, t walkTrade) map[string]any {
	px := m.tickPrice(t.ticks)
	return map[string]any{"id": t.id, "price": fmt8(px), "qty": fmt8(t.qty), "quoteQty": fmt8(px.Mul(t.qty)),
		"time": q.timeUnit(t.at), "isBuyerMaker": t.buyer, "isBestMatch": true}
}

// limitParam reads limit: default 500, 1..1000.
func limitParam(q *request) (int, *apiError) {
	n, given, aerr := q.intParam("limit", 1, 1000)
	if aerr != nil {
		return 0, aerr
	}
	if !given {
		return 500, nil
	}
	return int(n), nil
}

// historicalTrades answers GET /api/v3/historicalTrades: from fromId on, or the most recent.
func (s *Server) historicalTrades(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	n, aerr := limitParam(q)
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
	sel := m.tape.recent
	if hasFrom {
		i := 0
		for i < len(sel) && sel[i].id < from {
			i++
		}
		sel = sel[i:min(len(sel), i+n)]
	} else {
		sel = sel[max(0, len(sel)-n):]
	}
	out := make([]map[string]any, 0, len(sel))
	for _, t := range sel {
		out = append(out, m.tradeJSON(q, t))
	}
	return ok(out)
}

// aggTrades answers GET /api/v3/aggTrades: fromId, startTime and endTime narrow the trades;
// with fromId or startTime the first limit of them, else the last limit.
func (s *Server) aggTrades(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	from, hasFrom, aerr := q.longParam("fromId")
	if aerr != nil {
		return fail(aerr)
	}
	startT, hasStart, aerr := q.timeParam("startTime")
	if aerr != nil {
		return fail(aerr)
	}
	endT, hasEnd, aerr := q.timeParam("endTime")
	if aerr != nil {
		return fail(aerr)
	}
	n, aerr := limitParam(q)
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	var sel []walkTrade
	for _, t := range m.tape.recent {
		if (hasFrom && t.id < from) || (hasStart && t.at.Before(startT)) || (hasEnd && t.at.After(endT)) {
			continue
		}
		sel = append(sel, t)
	}
	if hasFrom || hasStart {
		sel = sel[:min(len(sel), n)]
	} else {
		sel = sel[max(0, len(sel)-n):]
	}
	out := make([]map[string]any, 0, len(sel))
	for _, t := range sel {
		out = append(out, m.aggTradeJSON(q.timeUnit(t.at), t))
	}
	return ok(out)
}

// aggTradeJSON is one aggregate trade (one walk trade) with its time already in the
// client's unit.
func (m *market) aggTradeJSON(at int64, t walkTrade) map[string]any {
	return map[string]any{"a": t.id, "p": fmt8(m.tickPrice(t.ticks)), "q": fmt8(t.qty), "f": t.id, "l": t.id,
		"T": at, "m": t.buyer, "M": true}
}
