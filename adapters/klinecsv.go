package adapters

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// ReadKlineCSV reads candles of symbol from a CSV in Binance's kline format, the files of
// data.binance.vision: open time, open, high, low, close, volume, close time, quote volume,
// trades, taker buy base volume, taker buy quote volume, ignore. Times are milliseconds, or
// microseconds (spot files since 2025) when the open time has 16 digits; a header line is
// skipped. Candles must be in order, all of one interval (one of Intervals, read from the
// first close time), with low <= open, close <= high; every error names the line. At most
// maxRows rows are read (0: no bound).
func ReadKlineCSV(r io.Reader, symbol string, maxRows int) ([]Candle, Interval, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []Candle
	var iv Interval
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("kline csv: %w", err)
		}
		if line == 1 && len(rec) > 0 && strings.Contains(strings.ToLower(rec[0]), "open") {
			continue // header
		}
		if maxRows > 0 && len(out) == maxRows {
			return nil, "", fmt.Errorf("kline csv: more than %d rows", maxRows)
		}
		c, err := klineRecord(rec)
		if err != nil {
			return nil, "", fmt.Errorf("kline csv: line %d: %w", line, err)
		}
		c.Symbol = symbol
		if iv == "" {
			span := c.CloseTime.Sub(c.OpenTime) + time.Millisecond
			for _, cand := range Intervals {
				if cand.Next(c.OpenTime, 0).Sub(c.OpenTime) == span && cand.OpenTime(c.OpenTime, 0).Equal(c.OpenTime) {
					iv = cand
					break
				}
			}
			if iv == "" {
				return nil, "", fmt.Errorf("kline csv: line %d: a candle of %s is no Binance interval", line, span)
			}
		}
		c.Interval = iv
		if n := len(out); n > 0 && !c.OpenTime.After(out[n-1].OpenTime) {
			return nil, "", fmt.Errorf("kline csv: line %d: open time %s not after the previous candle's", line, c.OpenTime.Format(time.RFC3339))
		}
		if !iv.OpenTime(c.OpenTime, 0).Equal(c.OpenTime) || !iv.Next(c.OpenTime, 0).Add(-time.Millisecond).Equal(c.CloseTime) {
			return nil, "", fmt.Errorf("kline csv: line %d: not a %s candle (open %s, close %s)", line, iv,
				c.OpenTime.Format(time.RFC3339Nano), c.CloseTime.Format(time.RFC3339Nano))
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, "", errors.New("kline csv: no candles")
	}
	return out, iv, nil
}

func klineRecord(rec []string) (Candle, error) {
	if len(rec) < 11 {
		return Candle{}, fmt.Errorf("%d fields, want 12 (open time, open, high, low, close, volume, close time, quote volume, trades, taker buy volume, taker buy quote volume, ignore)", len(rec))
	}
	times := [2]time.Time{}
	for i, f := range [2]int{0, 6} {
		n, err := strconv.ParseInt(strings.TrimSpace(rec[f]), 10, 64)
		if err != nil || n <= 0 {
			return Candle{}, fmt.Errorf("field %d: want a positive time in ms or µs, got %q", f+1, rec[f])
		}
		if n >= 1e15 { // microseconds
			times[i] = time.UnixMicro(n).UTC()
			if i == 1 {
				times[i] = times[i].Add(time.Microsecond).Add(-time.Millisecond) // the candle's last millisecond
			}
		} else {
			times[i] = time.UnixMilli(n).UTC()
		}
	}
	names := [...]string{1: "open", 2: "high", 3: "low", 4: "close", 5: "volume", 7: "quote volume", 9: "taker buy volume", 10: "taker buy quote volume"}
	var d [11]decimal.Decimal
	for _, f := range []int{1, 2, 3, 4, 5, 7, 9, 10} {
		v, err := decimal.NewFromString(strings.TrimSpace(rec[f]))
		if err != nil || v.IsNegative() || len(rec[f]) > 64 {
			return Candle{}, fmt.Errorf("field %d (%s): want a non-negative decimal, got %q", f+1, names[f], rec[f])
		}
		d[f] = v
	}
	trades, err := strconv.ParseInt(strings.TrimSpace(rec[8]), 10, 64)
	if err != nil || trades < 0 {
		return Candle{}, fmt.Errorf("field 9 (trades): want a count, got %q", rec[8])
	}
	c := Candle{OpenTime: times[0], CloseTime: times[1], Open: d[1], High: d[2], Low: d[3], Close: d[4], Volume: d[5],
		QuoteVolume: d[7], Trades: trades, TakerBuyVolume: d[9], TakerBuyQuoteVolume: d[10], Closed: true}
	if !c.Open.IsPositive() || c.Low.GreaterThan(c.Open) || c.Low.GreaterThan(c.Close) || c.High.LessThan(c.Open) || c.High.LessThan(c.Close) {
		return Candle{}, fmt.Errorf("prices out of order: want 0 < low <= open, close <= high, got open %s high %s low %s close %s", c.Open, c.High, c.Low, c.Close)
	}
	return c, nil
}
