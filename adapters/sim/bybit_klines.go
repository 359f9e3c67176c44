package sim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/keelbot/keel/adapters"
)

// GET /v5/market/kline for category spot (Bybit v5 market/kline): symbol, interval (1, 3, 5,
// 15, 30, 60, 120, 240, 360, 720, D, W, M), start and end (ms), limit [1, 1000] (default 200).
// list is [startTime, open, high, low, close, volume, turnover] as strings, newest first. The
// candles are the Binance dialect's (candles.go): the same trade tape. An interval not listed
// answers 10001; the docs do not give Bybit's message, the simulator says which parameter.
func init() {
	rt := bybitRoute{method: http.MethodGet, path: "/v5/market/kline", handler: (*Server).bybitKline}
	bybitRoutes[rt.key()] = rt
}

// BybitIntervals maps Bybit's kline intervals to Keel's.
var BybitIntervals = map[string]adapters.Interval{"1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m",
	"60": "1h", "120": "2h", "240": "4h", "360": "6h", "720": "12h", "D": "1d", "W": "1w", "M": "1M"}

func (s *Server) bybitKline(c *bybitCall) bybitReply {
	if r := bybitSpot(c.req); r != nil {
		return *r
	}
	m, r := s.bybitMarket(c.req, true)
	if r != nil {
		return *r
	}
	ivs, _ := c.req.str("interval")
	iv, ok := BybitIntervals[ivs]
	if !ok {
		return bybitErr(10001, "params error: interval invalid")
	}
	limit, r := bybitInt(c.req, "limit", 1, 1000, 200)
	if r != nil {
		return *r
	}
	q := klineQuery{interval: iv, limit: int(limit)}
	for name, dst := range map[string]*time.Time{"start": &q.start, "end": &q.end} {
		if v, ok := c.req.str(name); ok && v != "" {
			ms, r := bybitInt(c.req, name, 0, 1<<62, 0)
			if r != nil {
				return *r
			}
			*dst = time.UnixMilli(ms).UTC()
		}
	}
	if !q.start.IsZero() && !q.end.IsZero() && q.start.After(q.end) {
		q.limit = 0
	}
	ks := m.candles(q, c.now)
	list := make([][]string, 0, len(ks))
	for i := len(ks) - 1; i >= 0; i-- { // newest first
		k := ks[i]
		list = append(list, []string{itoa(k.OpenTime.UnixMilli()), k.Open.String(), k.High.String(), k.Low.String(),
			k.Close.String(), k.Volume.String(), k.QuoteVolume.String()})
	}
	return bybitOK(map[string]any{"category": "spot", "symbol": m.sym.Name, "list": list})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
