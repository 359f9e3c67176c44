package sim

import (
	"net/http"

	"github.com/keelbot/keel/adapters"
)

// GET /api/v3/klines and /api/v3/uiKlines (rest-api.md "Kline/Candlestick data", "UIKlines"):
// symbol, interval (-1120 for one not in the documented list), startTime, endTime, timeZone,
// limit (default 500, 1..1000). Where the docs leave the answer open the simulator chooses,
// and says so:
//   - startTime and endTime select candles by open time: those opening in [startTime, endTime];
//     with startTime the first limit of them, else the last limit.
//   - startTime after endTime answers an empty list.
//   - a limit over 1000 is refused (-1130) rather than capped.
//   - uiKlines serves the same candles as klines: the docs say only that they are "modified
//     ... optimized for presentation", not how.
// Times are milliseconds, or microseconds with X-MBX-TIME-UNIT: MICROSECOND.

func errBadInterval() *apiError { return errf(http.StatusBadRequest, -1120, "Invalid interval.") }

func (s *Server) klines(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	ivs, aerr := q.mandatory("interval")
	if aerr != nil {
		return fail(aerr)
	}
	iv := adapters.Interval(ivs)
	if !iv.Valid() {
		return fail(errBadInterval())
	}
	kq, aerr := klineParams(q, iv)
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	out := [][]any{}
	for _, k := range m.candles(kq, c.now) {
		out = append(out, klineRow(q, k.Candle))
	}
	return ok(out)
}

// klineParams reads startTime, endTime, timeZone and limit.
func klineParams(q *request, iv adapters.Interval) (klineQuery, *apiError) {
	kq := klineQuery{interval: iv, limit: 500}
	var aerr *apiError
	if kq.start, _, aerr = q.timeParam("startTime"); aerr != nil {
		return kq, aerr
	}
	if kq.end, _, aerr = q.timeParam("endTime"); aerr != nil {
		return kq, aerr
	}
	if tz, ok := q.str("timeZone"); ok {
		off, err := adapters.ParseTimeZone(tz)
		if err != nil || tz == "" {
			return kq, errInvalidParam("timeZone")
		}
		kq.offset = off
	}
	n, ok, aerr := q.intParam("limit", 1, 1000)
	if aerr != nil {
		return kq, aerr
	}
	if ok {
		kq.limit = int(n)
	}
	if !kq.start.IsZero() && !kq.end.IsZero() && kq.start.After(kq.end) {
		kq.limit = 0
	}
	return kq, nil
}

// klineRow is one kline as rest-api.md prints it: open time, OHLC, volume, close time, quote
// volume, trades, taker buy base and quote volume, and an unused "0".
func klineRow(q *request, k adapters.Candle) []any {
	closeAt := q.timeUnit(k.CloseTime)
	if q.micro {
		closeAt += 999 // the candle's last microsecond
	}
	return []any{q.timeUnit(k.OpenTime), fmt8(k.Open), fmt8(k.High), fmt8(k.Low), fmt8(k.Close),
		fmt8(k.Volume), closeAt, fmt8(k.QuoteVolume), k.Trades,
		fmt8(k.TakerBuyVolume), fmt8(k.TakerBuyQuoteVolume), "0"}
}

// GET /api/v3/trades (rest-api.md "Recent trades list", weight 25): the last limit public
// trades (default 500, 1..1000), oldest first. The public trades are the price walk's steps,
// the same the @trade stream and the klines carry.
func (s *Server) recentTrades(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return fail(aerr)
	}
	n, aerr := q.limitParam()
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.unread(); aerr != nil {
		return fail(aerr)
	}
	return ok(tradeRows(q, m, m.lastTrades(n)))
}

// lastTrades is the n most recent kept trades, oldest first.
func (m *market) lastTrades(n int) []walkTrade {
	rec := m.tape.recent
	return rec[max(0, len(rec)-n):]
}

// tradeRows renders trades as the trade lists print them (rest-api.md "Recent trades list").
func tradeRows(q *request, m *market, ts []walkTrade) []map[string]any {
	out := make([]map[string]any, 0, len(ts))
	for _, t := range ts {
		px := m.tickPrice(t.ticks)
		out = append(out, map[string]any{"id": t.id, "price": fmt8(px), "qty": fmt8(t.qty),
			"quoteQty": fmt8(px.Mul(t.qty)), "time": q.timeUnit(t.at), "isBuyerMaker": t.buyer, "isBestMatch": true})
	}
	return out
}
