package sim

import (
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// Candles (GET /market/products/{product_id}/candles, public, and /products/{product_id}/candles,
// private): the price walk's trades in one-minute candles, kept for the last cbCandleMinutes
// minutes from the moment the dialect first saw them (a request or a feed push absorbs the
// trades the walk made since). Query start and end (Unix seconds) and granularity are required;
// limit defaults to 350, the most one request may cover (more is INVALID_ARGUMENT, as on
// Coinbase). Candles are newest first; a minute without a trade has no candle.

// cbCandleMinutes is how many one-minute candles a product keeps.
const cbCandleMinutes = 1440

// cbGranularities are the granularities Coinbase documents.
var cbGranularities = map[string]time.Duration{
	"ONE_MINUTE": time.Minute, "FIVE_MINUTE": 5 * time.Minute, "FIFTEEN_MINUTE": 15 * time.Minute,
	"THIRTY_MINUTE": 30 * time.Minute, "ONE_HOUR": time.Hour, "TWO_HOUR": 2 * time.Hour,
	"FOUR_HOUR": 4 * time.Hour, "SIX_HOUR": 6 * time.Hour, "ONE_DAY": 24 * time.Hour,
}

// cbHistory is one product's one-minute candles and the last walk trade absorbed.
type cbHistory struct {
	lastTrade int64
	minutes   map[int64]*cbCandle // minute start (Unix seconds) → candle
}

// cbAbsorb folds the walk's trades not yet seen into every product's candles. Call it before
// anything drains m.depth.trades.
// requires that s.mu is held.
func (s *Server) cbAbsorb(cb *coinbaseState) {
	if cb.history == nil {
		cb.history = map[string]*cbHistory{}
	}
	for id, m := range cb.products {
		h := cb.history[id]
		if h == nil {
			h = &cbHistory{minutes: map[int64]*cbCandle{}}
			cb.history[id] = h
		}
		for _, t := range m.depth.trades {
			if t.id <= h.lastTrade {
				continue
			}
			h.lastTrade = t.id
			px := m.tickPrice(t.ticks)
			start := t.at.Truncate(time.Minute)
			c := h.minutes[start.Unix()]
			if c == nil {
				c = &cbCandle{start: start, open: px, high: px, low: px, close: px, volume: decimal.Zero}
				h.minutes[start.Unix()] = c
			}
			c.high, c.low, c.close = decimal.Max(c.high, px), decimal.Min(c.low, px), px
			c.volume = c.volume.Add(t.qty)
		}
		if len(h.minutes) > cbCandleMinutes {
			keys := make([]int64, 0, len(h.minutes))
			for k := range h.minutes {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			for _, k := range keys[:len(keys)-cbCandleMinutes] {
				delete(h.minutes, k)
			}
		}
	}
}

// cbCandles is GET /market/products/{product_id}/candles.
func (s *Server) cbCandles(c *coinbaseCall) coinbaseReply {
	m, r := c.market(c.req.params["product_id"])
	if r != nil {
		return *r
	}
	gran, ok := cbGranularities[c.req.qstr("granularity")]
	if !ok {
		return cbInvalid("granularity: want one of ONE_MINUTE, FIVE_MINUTE, FIFTEEN_MINUTE, THIRTY_MINUTE, ONE_HOUR, TWO_HOUR, FOUR_HOUR, SIX_HOUR, ONE_DAY")
	}
	start, err1 := strconv.ParseInt(c.req.qstr("start"), 10, 64)
	end, err2 := strconv.ParseInt(c.req.qstr("end"), 10, 64)
	if err1 != nil || err2 != nil || end <= start {
		return cbInvalid("start and end: Unix seconds, start before end")
	}
	limit := int64(350)
	if v := c.req.qstr("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > 350 {
			return cbInvalid("limit: 1-350")
		}
		limit = n
	}
	step := int64(gran / time.Second)
	if (end-start+step-1)/step > limit {
		return cbInvalid("number of candles requested should be less than " + strconv.FormatInt(limit+1, 10))
	}
	s.cbAbsorb(c.cb)
	hist := c.cb.history[CoinbaseProductID(m.sym)].minutes
	mins := make([]int64, 0, len(hist))
	for k := range hist {
		if k >= start && k < end {
			mins = append(mins, k)
		}
	}
	sort.Slice(mins, func(i, j int) bool { return mins[i] < mins[j] })
	agg := map[int64]*cbCandle{}
	for _, k := range mins { // oldest first: the first minute opens a bucket, the last closes it
		mc, b := hist[k], k-(k%step)
		a := agg[b]
		if a == nil {
			cp := *mc
			agg[b] = &cp
			continue
		}
		a.high, a.low, a.close = decimal.Max(a.high, mc.high), decimal.Min(a.low, mc.low), mc.close
		a.volume = a.volume.Add(mc.volume)
	}
	keys := make([]int64, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] > keys[j] })
	out := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		a := agg[k]
		out = append(out, map[string]string{"start": strconv.FormatInt(k, 10), "low": a.low.String(), "high": a.high.String(),
			"open": a.open.String(), "close": a.close.String(), "volume": a.volume.String()})
	}
	return cbOK(map[string]any{"candles": out})
}
