package adapters

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Candles (klines) are part of the contract as optional interfaces: an adapter that can read
// them implements CandleReader, one that can stream them CandleStreamer. Callers type-assert,
// so adapters without candles (and test fakes) still satisfy Exchange.

// ErrNoCandles is returned by an adapter (or a wrapper such as the embedded simulator) that
// cannot read or stream candles for this exchange.
var ErrNoCandles = errors.New("adapters: this exchange adapter has no candles")

// Interval is a candle's length, named as Binance names it (case-sensitive: "1m" is a minute,
// "1M" a calendar month).
type Interval string

// Intervals lists every interval, shortest first (rest-api.md "Kline/Candlestick data").
var Intervals = []Interval{"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}

var intervalLengths = map[Interval]time.Duration{
	"1s": time.Second, "1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute,
	"15m": 15 * time.Minute, "30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour,
	"4h": 4 * time.Hour, "6h": 6 * time.Hour, "8h": 8 * time.Hour, "12h": 12 * time.Hour,
	"1d": 24 * time.Hour, "3d": 72 * time.Hour, "1w": 7 * 24 * time.Hour,
	"1M": 31 * 24 * time.Hour, // the longest month; OpenTime/Next use the calendar
}

// ParseInterval checks s against Intervals.
func ParseInterval(s string) (Interval, error) {
	if _, ok := intervalLengths[Interval(s)]; ok {
		return Interval(s), nil
	}
	names := make([]string, len(Intervals))
	for i, iv := range Intervals {
		names[i] = string(iv)
	}
	return "", fmt.Errorf("unknown candle interval %q: want one of %s", s, strings.Join(names, ", "))
}

// Valid reports whether i is one of Intervals.
func (i Interval) Valid() bool { _, ok := intervalLengths[i]; return ok }

// Duration is the interval's length; for 1M the longest month (31 days).
func (i Interval) Duration() time.Duration { return intervalLengths[i] }

// epochMonday is the first Monday after the Unix epoch (a Thursday): weekly candles open on
// Mondays.
var epochMonday = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)

// OpenTime is the open time of the candle that contains t, with interval boundaries in the
// time zone offset from UTC (Binance's timeZone parameter; 0 is UTC). Weeks open on Mondays,
// months on the first; 3d candles are aligned to the Unix epoch, as every fixed interval is.
func (i Interval) OpenTime(t time.Time, offset time.Duration) time.Time {
	t = t.UTC()
	local := t.Add(offset)
	switch i {
	case "1M":
		m := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, time.UTC)
		return m.Add(-offset)
	case "1w":
		d := 7 * 24 * time.Hour
		since := local.Sub(epochMonday)
		n := since / d
		if since < 0 && since%d != 0 {
			n--
		}
		return epochMonday.Add(n * d).Add(-offset)
	}
	d := i.Duration()
	if d <= 0 {
		return t
	}
	ns := local.UnixNano()
	r := ns % int64(d)
	if r < 0 {
		r += int64(d)
	}
	return time.Unix(0, ns-r).UTC().Add(-offset)
}

// Next is the open time of the candle after the one opening at open.
func (i Interval) Next(open time.Time, offset time.Duration) time.Time {
	if i == "1M" {
		local := open.UTC().Add(offset)
		return time.Date(local.Year(), local.Month()+1, 1, 0, 0, 0, 0, time.UTC).Add(-offset)
	}
	return open.Add(i.Duration())
}

// ParseTimeZone reads Binance's timeZone parameter: hours ("8", "-1") or hours and minutes
// ("05:45", "-1:00", "+08:00"), strictly within [-12:00, +14:00].
func ParseTimeZone(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	sign := time.Duration(1)
	body := s
	switch body[0] {
	case '-':
		sign, body = -1, body[1:]
	case '+':
		body = body[1:]
	}
	hs, ms, hasMin := strings.Cut(body, ":")
	h, err := strconv.Atoi(hs)
	if err != nil || hs == "" || len(hs) > 2 {
		return 0, fmt.Errorf("time zone %q: want hours (8, -1) or hours:minutes (05:45)", s)
	}
	m := 0
	if hasMin {
		if m, err = strconv.Atoi(ms); err != nil || len(ms) != 2 || m > 59 {
			return 0, fmt.Errorf("time zone %q: want hours (8, -1) or hours:minutes (05:45)", s)
		}
	}
	off := sign * (time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	if off < -12*time.Hour || off > 14*time.Hour {
		return 0, fmt.Errorf("time zone %q: outside [-12:00, +14:00]", s)
	}
	return off, nil
}

// Candle is one kline: the trades of Symbol between OpenTime and CloseTime aggregated.
type Candle struct {
	Symbol   string
	Interval Interval
	// OpenTime is the first instant of the candle; CloseTime its last millisecond, as Binance
	// reports it (the next candle opens at CloseTime + 1ms).
	OpenTime, CloseTime    time.Time
	Open, High, Low, Close decimal.Decimal
	// Volume is in the base asset, QuoteVolume in the quote asset.
	Volume, QuoteVolume decimal.Decimal
	// TakerBuyVolume and TakerBuyQuoteVolume count the trades whose taker bought.
	TakerBuyVolume, TakerBuyQuoteVolume decimal.Decimal
	Trades                              int64
	// Closed is true once the candle's time is over: its numbers no longer change.
	Closed bool
}

// CandleQuery selects candles: those opening in [Start, End] (zero: unbounded), at most
// Limit of them (0: the exchange's default), the most recent when Start is zero. TimeZone
// shifts interval boundaries (ParseTimeZone's form); Start and End are instants whatever it is.
type CandleQuery struct {
	Start, End time.Time
	Limit      int
	TimeZone   string
}

// CandleReader is implemented by adapters that read candles over REST.
type CandleReader interface {
	// Candles returns candles of symbol at interval, oldest first, at market priority
	// unless WithPriority says otherwise. The last one may still be open (Closed false).
	Candles(ctx context.Context, symbol string, interval Interval, q CandleQuery, opts ...CallOption) ([]Candle, error)
}

// CandleSeries names one stream of candles.
type CandleSeries struct {
	Symbol   string
	Interval Interval
}

// CandleHandler receives a candle stream's events, on the stream's goroutine. Nil fields are
// skipped.
type CandleHandler struct {
	// OnCandle gets every update of a series' current candle, and the candle once more with
	// Closed set when its time is over.
	OnCandle func(Candle)
	// OnStatus reports the stream going up or down: candles may have been missed while down.
	OnStatus func(up bool, err error)
}

// CandleStream follows some candle series. Run it until ctx ends.
type CandleStream interface {
	Run(ctx context.Context) error
}

// CandleStreamer is implemented by adapters that stream candles.
type CandleStreamer interface {
	CandleStream(series []CandleSeries, h CandleHandler, o StreamOptions) (CandleStream, error)
}
