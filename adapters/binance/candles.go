package binance

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/scheduler"
)

// GET /api/v3/klines, weight 2 (rest-api.md "Kline/Candlestick data"). At most 1000 candles
// of ~200 bytes: bodyLarge bounds the answer.
var epKlines = endpoint{path: "/api/v3/klines", method: http.MethodGet, bucket: BucketMarket, priority: scheduler.PriorityMarket, weight: 2, maxBody: bodyLarge}

// maxKlines is the most candles one klines call returns.
const maxKlines = 1000

// Candles reads candles of symbol (adapters.CandleReader): GET /api/v3/klines at market
// priority. A candle whose close time is not yet past the exchange's clock (the local clock
// corrected by the offset learnt from /api/v3/time) is returned with Closed false.
func (c *Client) Candles(ctx context.Context, symbol string, interval adapters.Interval, q adapters.CandleQuery, opts ...adapters.CallOption) ([]adapters.Candle, error) {
	if err := checkSymbol(symbol); err != nil {
		return nil, err
	}
	if !interval.Valid() {
		_, err := adapters.ParseInterval(string(interval))
		return nil, localError(scheduler.ClassValidation, err)
	}
	if q.Limit < 0 || q.Limit > maxKlines {
		return nil, invalid("candles: limit %d: want 1..%d (0 for the exchange's default, 500)", q.Limit, maxKlines)
	}
	if _, err := adapters.ParseTimeZone(q.TimeZone); err != nil {
		return nil, localError(scheduler.ClassValidation, err)
	}
	p := params{{"symbol", symbol}, {"interval", string(interval)}}
	if !q.Start.IsZero() {
		p = p.Add("startTime", strconv.FormatInt(q.Start.UnixMilli(), 10))
	}
	if !q.End.IsZero() {
		p = p.Add("endTime", strconv.FormatInt(q.End.UnixMilli(), 10))
	}
	if q.TimeZone != "" {
		p = p.Add("timeZone", q.TimeZone)
	}
	if q.Limit > 0 {
		p = p.Add("limit", strconv.Itoa(q.Limit))
	}
	now := c.clock.Now()
	serverNow := now.Add(c.time.Offset(now))
	return fetch(ctx, c, epKlines, p, 0, opts, func(b []byte) ([]adapters.Candle, error) {
		ks, err := parseKlines(b, symbol, interval)
		for i := range ks {
			ks[i].Closed = ks[i].CloseTime.Before(serverNow)
		}
		return ks, err
	})
}

// parseKlines reads the klines array: [openTime, open, high, low, close, volume, closeTime,
// quoteVolume, trades, takerBuyVolume, takerBuyQuoteVolume, ignore].
func parseKlines(body []byte, symbol string, interval adapters.Interval) ([]adapters.Candle, error) {
	var rows [][]json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, malformed("klines", err)
	}
	if len(rows) > maxKlines {
		return nil, malformed("klines: more than 1000 candles", nil)
	}
	out := make([]adapters.Candle, 0, len(rows))
	for i, row := range rows {
		k, err := parseKlineRow(row)
		if err != nil {
			return nil, malformed("klines: candle "+strconv.Itoa(i)+": "+err.Error(), nil)
		}
		k.Symbol, k.Interval = symbol, interval
		if i > 0 && !k.OpenTime.After(out[i-1].OpenTime) {
			return nil, malformed("klines: candles out of order", nil)
		}
		out = append(out, k)
	}
	return out, nil
}

func parseKlineRow(row []json.RawMessage) (adapters.Candle, error) {
	if len(row) < 11 {
		return adapters.Candle{}, errors.New("fewer than 11 fields")
	}
	var openMs, closeMs, trades int64
	var s [8]string
	for i, dst := range []any{&openMs, &s[0], &s[1], &s[2], &s[3], &s[4], &closeMs, &s[5], &trades, &s[6], &s[7]} {
		if err := json.Unmarshal(row[i], dst); err != nil {
			return adapters.Candle{}, errors.New("field " + strconv.Itoa(i) + " of the wrong type")
		}
	}
	return candleFrom(openMs, closeMs, trades, s)
}

// candleFrom checks and builds a candle from its times, trade count and the decimal strings
// open, high, low, close, volume, quote volume, taker buy volume and taker buy quote volume.
func candleFrom(openMs, closeMs, trades int64, s [8]string) (adapters.Candle, error) {
	if openMs <= 0 || closeMs < openMs || trades < 0 {
		return adapters.Candle{}, errors.New("times or trade count out of range")
	}
	var d decimals
	k := adapters.Candle{OpenTime: millis(openMs), CloseTime: millis(closeMs),
		Open: d.get("open", s[0]), High: d.get("high", s[1]), Low: d.get("low", s[2]), Close: d.get("close", s[3]),
		Volume: d.get("volume", s[4]), QuoteVolume: d.get("quote volume", s[5]), Trades: trades,
		TakerBuyVolume: d.get("taker buy volume", s[6]), TakerBuyQuoteVolume: d.get("taker buy quote volume", s[7])}
	if d.err != nil {
		return k, d.err
	}
	if k.High.LessThan(k.Low) || k.Open.GreaterThan(k.High) || k.Open.LessThan(k.Low) ||
		k.Close.GreaterThan(k.High) || k.Close.LessThan(k.Low) {
		return k, errors.New("open or close outside [low, high]")
	}
	return k, nil
}

// CandleStream follows candle series over one combined stream of <symbol>@kline_<interval>
// (adapters.CandleStreamer). It reconnects as the market stream does (adapters/stream);
// OnStatus says when it is down, so a caller can re-read what it missed over REST.
type CandleStream struct {
	h    adapters.CandleHandler
	conn *stream.Conn
	want map[string]adapters.Interval // "<symbol>@kline_<interval>" → interval
}

// CandleStream builds a candle stream (adapters.CandleStreamer).
func (c *Client) CandleStream(series []adapters.CandleSeries, h adapters.CandleHandler, o adapters.StreamOptions) (adapters.CandleStream, error) {
	if len(series) == 0 {
		return nil, errors.New("binance: CandleStream: no series")
	}
	cs := &CandleStream{h: h, want: map[string]adapters.Interval{}}
	var names []string
	for _, s := range series {
		if err := checkSymbol(s.Symbol); err != nil {
			return nil, err
		}
		if _, err := adapters.ParseInterval(string(s.Interval)); err != nil {
			return nil, err
		}
		n := strings.ToLower(s.Symbol) + "@kline_" + string(s.Interval)
		if _, dup := cs.want[n]; !dup {
			names = append(names, n)
		}
		cs.want[n] = s.Interval
	}
	opts := StreamOptions{Limiter: o.Limiter, Clock: o.Clock, Seed: o.Seed}
	u := strings.TrimRight(c.cfg.StreamURL, "/") + "/stream?streams=" + strings.Join(names, "/")
	cs.conn = stream.New(opts.conn(u, "candles:"+strings.Join(names, ",")), stream.Handler{
		OnMessage: cs.onMessage,
		OnState: func(st stream.State) {
			if h.OnStatus != nil {
				h.OnStatus(st.Up, st.Err)
			}
		},
	})
	return cs, nil
}

// Run follows the stream until ctx ends.
func (cs *CandleStream) Run(ctx context.Context) error { return cs.conn.Run(ctx) }

// klineEventJSON declares every key of the event: encoding/json matches keys
// case-insensitively when no field matches exactly, so an undeclared "E" would land in "e".
type klineEventJSON struct {
	Stream string `json:"stream"`
	Data   struct {
		Event     string `json:"e"`
		EventTime int64  `json:"E"`
		K         struct {
			First   int64  `json:"f"`
			Last    int64  `json:"L"`
			Ignore  string `json:"B"`
			Open    int64  `json:"t"`
			Close   int64  `json:"T"`
			Symbol  string `json:"s"`
			I       string `json:"i"`
			O       string `json:"o"`
			C       string `json:"c"`
			H       string `json:"h"`
			L       string `json:"l"`
			V       string `json:"v"`
			N       int64  `json:"n"`
			X       bool   `json:"x"`
			Q       string `json:"q"`
			TakerV  string `json:"V"`
			TakerQV string `json:"Q"`
		} `json:"k"`
	} `json:"data"`
}

// onMessage reads one kline event; anything else (a subscription reply) is skipped, and a
// malformed event is dropped rather than passed on.
func (cs *CandleStream) onMessage(b []byte) error {
	var ev klineEventJSON
	if err := json.Unmarshal(b, &ev); err != nil || ev.Data.Event != "kline" {
		return nil
	}
	iv, ok := cs.want[ev.Stream]
	k := ev.Data.K
	if !ok || string(iv) != k.I || !isName(k.Symbol, 32) || cs.h.OnCandle == nil {
		return nil
	}
	c, err := candleFrom(k.Open, k.Close, k.N, [8]string{k.O, k.H, k.L, k.C, k.V, k.Q, k.TakerV, k.TakerQV})
	if err != nil {
		return nil
	}
	c.Symbol, c.Interval, c.Closed = k.Symbol, iv, k.X
	cs.h.OnCandle(c)
	return nil
}
