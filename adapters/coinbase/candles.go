package coinbase

import (
	"context"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/rest"
)

// Candle is one candle of GET /market/products/{product_id}/candles.
type Candle struct {
	Start                  time.Time
	Open, High, Low, Close decimal.Decimal
	Volume                 decimal.Decimal
}

// Granularities Coinbase serves candles at, and their length.
var Granularities = map[string]time.Duration{
	"ONE_MINUTE": time.Minute, "FIVE_MINUTE": 5 * time.Minute, "FIFTEEN_MINUTE": 15 * time.Minute,
	"THIRTY_MINUTE": 30 * time.Minute, "ONE_HOUR": time.Hour, "TWO_HOUR": 2 * time.Hour,
	"FOUR_HOUR": 4 * time.Hour, "SIX_HOUR": 6 * time.Hour, "ONE_DAY": 24 * time.Hour,
}

// MaxCandles is the most candles one request may cover.
const MaxCandles = 350

// Candles returns symbol's candles of granularity (a key of Granularities) starting in
// [start, end), oldest first (GET /market/products/{product_id}/candles, public, market
// priority). A span of more than MaxCandles candles is refused before sending.
func (c *Client) Candles(ctx context.Context, symbol, granularity string, start, end time.Time, opts ...adapters.CallOption) ([]Candle, error) {
	step, ok := Granularities[granularity]
	if !ok {
		return nil, invalid("granularity %q is not one Coinbase serves", snippet([]byte(granularity)))
	}
	if !end.After(start) {
		return nil, invalid("candles: end %s is not after start %s", end, start)
	}
	if n := (end.Sub(start) + step - 1) / step; n > MaxCandles {
		return nil, invalid("candles: %d of %s in one request, at most %d", n, granularity, MaxCandles)
	}
	o := adapters.ApplyCallOptions(opts)
	prio := o.PriorityOr(epCandles.priority)
	p, err := c.product(ctx, symbol, prio)
	if err != nil {
		return nil, err
	}
	q := rest.Params{{"start", strconv.FormatInt(start.Unix(), 10)}, {"end", strconv.FormatInt(end.Unix(), 10)}, {"granularity", granularity}}
	return fetch(ctx, c, call{ep: epCandles, path: root + "/market/products/" + url.PathEscape(p.ProductID) + "/candles", query: q, priority: prio},
		parseCandles)
}

// parseCandles reads candles (newest first, as Coinbase sends them) into oldest first; a
// candle whose low is above its high, or whose open or close is outside them, is malformed.
func parseCandles(b []byte) ([]Candle, error) {
	var r struct {
		Candles []struct {
			Start  flexString `json:"start"`
			Low    string     `json:"low"`
			High   string     `json:"high"`
			Open   string     `json:"open"`
			Close  string     `json:"close"`
			Volume string     `json:"volume"`
		} `json:"candles"`
	}
	if err := decode("candles", b, &r); err != nil {
		return nil, err
	}
	out := make([]Candle, 0, len(r.Candles))
	for _, k := range r.Candles {
		secs, err := strconv.ParseInt(string(k.Start), 10, 64)
		if err != nil || secs <= 0 {
			return nil, malformed("candles: start %q", snippet([]byte(k.Start)))
		}
		cd := Candle{Start: time.Unix(secs, 0)}
		for _, f := range []struct {
			name, raw string
			to        *decimal.Decimal
		}{{"low", k.Low, &cd.Low}, {"high", k.High, &cd.High}, {"open", k.Open, &cd.Open}, {"close", k.Close, &cd.Close}, {"volume", k.Volume, &cd.Volume}} {
			if *f.to, err = amount("candle "+f.name, f.raw, false); err != nil {
				return nil, err
			}
		}
		if cd.Low.GreaterThan(cd.High) || cd.Open.LessThan(cd.Low) || cd.Open.GreaterThan(cd.High) || cd.Close.LessThan(cd.Low) || cd.Close.GreaterThan(cd.High) {
			return nil, malformed("candles: a candle at %d outside its own low and high", secs)
		}
		out = append(out, cd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}
