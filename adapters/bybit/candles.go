package bybit

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// GET /v5/market/kline (market/kline.mdx), category spot: a public read under the IP limit.
var epKline = endpoint{path: "/v5/market/kline", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket}

// bybitInterval is Bybit's name for a Keel interval; Bybit has no 1s, 3d or (per docs) 8h
// candles.
var bybitInterval = map[adapters.Interval]string{"1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30",
	"1h": "60", "2h": "120", "4h": "240", "6h": "360", "12h": "720", "1d": "D", "1w": "W", "1M": "M"}

// Candles reads candles of symbol (adapters.CandleReader), oldest first. Bybit's klines carry
// no trade count and no taker volumes: those fields are zero. timeZone is Binance's only:
// a query with one is refused, as is an interval Bybit does not serve, before anything is
// sent. A candle whose close is not past the answer's time (the exchange's clock) has Closed
// false.
func (c *Client) Candles(ctx context.Context, symbol string, interval adapters.Interval, q adapters.CandleQuery, opts ...adapters.CallOption) ([]adapters.Candle, error) {
	if err := checkSymbol(symbol); err != nil {
		return nil, err
	}
	name, ok := bybitInterval[interval]
	if !ok {
		return nil, invalid("candles: Bybit serves no %q candles (1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w 1M)", interval)
	}
	if q.TimeZone != "" {
		return nil, invalid("candles: timeZone is not a Bybit parameter")
	}
	if q.Limit < 0 || q.Limit > 1000 {
		return nil, invalid("candles: limit %d: want 1..1000 (0 for Bybit's default, 200)", q.Limit)
	}
	p := spot().Add("symbol", symbol).Add("interval", name)
	if !q.Start.IsZero() {
		p = p.Add("start", strconv.FormatInt(q.Start.UnixMilli(), 10))
	}
	if !q.End.IsZero() {
		p = p.Add("end", strconv.FormatInt(q.End.UnixMilli(), 10))
	}
	if q.Limit > 0 {
		p = p.Add("limit", strconv.Itoa(q.Limit))
	}
	now := c.clock.Now()
	serverNow := now.Add(c.time.Offset(now))
	return fetch(ctx, c, epKline, p, opts, func(raw json.RawMessage, env envelope) ([]adapters.Candle, error) {
		at := serverNow
		if env.Time > 0 {
			at = time.UnixMilli(env.Time) // the exchange's own clock when it answered
		}
		return parseKlines(raw, symbol, interval, at)
	})
}

// parseKlines reads list: [startTime, open, high, low, close, volume, turnover], newest first.
func parseKlines(raw json.RawMessage, symbol string, iv adapters.Interval, serverNow time.Time) ([]adapters.Candle, error) {
	var r struct {
		Symbol string     `json:"symbol"`
		List   [][]string `json:"list"`
	}
	if err := decode("kline", raw, &r); err != nil {
		return nil, err
	}
	if r.Symbol != symbol {
		return nil, malformed("kline: asked for %s, got %q", symbol, snippet([]byte(r.Symbol)))
	}
	if len(r.List) > 1000 {
		return nil, malformed("kline: more than 1000 candles")
	}
	out := make([]adapters.Candle, 0, len(r.List))
	for i, row := range r.List {
		if len(row) < 7 {
			return nil, malformed("kline: candle %d has %d fields, want 7", i, len(row))
		}
		ms, err := strconv.ParseInt(row[0], 10, 64)
		if err != nil || ms <= 0 {
			return nil, malformed("kline: candle %d: start time %q", i, snippet([]byte(row[0])))
		}
		k := adapters.Candle{Symbol: symbol, Interval: iv, OpenTime: time.UnixMilli(ms).UTC()}
		k.CloseTime = iv.Next(k.OpenTime, 0).Add(-time.Millisecond)
		if k.Open, err = nonNeg("open", row[1], false); err == nil {
			if k.High, err = nonNeg("high", row[2], false); err == nil {
				if k.Low, err = nonNeg("low", row[3], false); err == nil {
					if k.Close, err = nonNeg("close", row[4], false); err == nil {
						if k.Volume, err = nonNeg("volume", row[5], false); err == nil {
							k.QuoteVolume, err = nonNeg("turnover", row[6], false)
						}
					}
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if k.High.LessThan(k.Low) || k.Open.GreaterThan(k.High) || k.Open.LessThan(k.Low) || k.Close.GreaterThan(k.High) || k.Close.LessThan(k.Low) {
			return nil, malformed("kline: candle %d: open or close outside [low, high]", i)
		}
		k.Closed = k.CloseTime.Before(serverNow)
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OpenTime.Before(out[j].OpenTime) })
	for i := 1; i < len(out); i++ {
		if out[i].OpenTime.Equal(out[i-1].OpenTime) {
			return nil, malformed("kline: two candles open at %s", out[i].OpenTime.Format(time.RFC3339))
		}
	}
	return out, nil
}
