package backtest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
)

// tradeColumns are the columns of Binance's public trades files (data.binance.vision,
// spot/daily/trades): the fields of GET /api/v3/trades.
var tradeColumns = [...]string{"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}

// ReadTradeCSV reads public trades from a CSV in Binance's trades format (data.binance.vision):
// id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch. Times are milliseconds, or
// microseconds (spot files since 2025) when 16 digits long; a header line is skipped. Trades
// must be in time order. Every error names the line and the column. At most maxRows rows are
// read (0: no bound).
func ReadTradeCSV(r io.Reader, maxRows int) ([]sim.ReplayTrade, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []sim.ReplayTrade
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("trades csv: %w", err)
		}
		if line == 1 && len(rec) > 0 && strings.Contains(strings.ToLower(rec[0]), "id") {
			continue // header
		}
		if maxRows > 0 && len(out) == maxRows {
			return nil, fmt.Errorf("trades csv: more than %d rows", maxRows)
		}
		if len(rec) < len(tradeColumns) {
			return nil, fmt.Errorf("trades csv: line %d: %d columns, want %d (%s)", line, len(rec), len(tradeColumns),
				strings.Join(tradeColumns[:], ", "))
		}
		bad := func(col int, want string) error {
			return fmt.Errorf("trades csv: line %d, column %d (%s): want %s, got %q", line, col+1, tradeColumns[col], want, rec[col])
		}
		if _, err := strconv.ParseInt(strings.TrimSpace(rec[0]), 10, 64); err != nil {
			return nil, bad(0, "a trade id")
		}
		var t sim.ReplayTrade
		if t.Price, err = decimal.NewFromString(strings.TrimSpace(rec[1])); err != nil || !t.Price.IsPositive() || len(rec[1]) > 64 {
			return nil, bad(1, "a positive decimal")
		}
		if t.Qty, err = decimal.NewFromString(strings.TrimSpace(rec[2])); err != nil || t.Qty.IsNegative() || len(rec[2]) > 64 {
			return nil, bad(2, "a non-negative decimal")
		}
		if q, err := decimal.NewFromString(strings.TrimSpace(rec[3])); err != nil || q.IsNegative() || len(rec[3]) > 64 {
			return nil, bad(3, "a non-negative decimal")
		}
		n, err := strconv.ParseInt(strings.TrimSpace(rec[4]), 10, 64)
		if err != nil || n <= 0 {
			return nil, bad(4, "a positive time in ms or µs")
		}
		if n >= 1e15 {
			t.Time = time.UnixMicro(n).UTC()
		} else {
			t.Time = time.UnixMilli(n).UTC()
		}
		if t.BuyerMaker, err = strconv.ParseBool(strings.TrimSpace(rec[5])); err != nil {
			return nil, bad(5, "True or False")
		}
		if _, err := strconv.ParseBool(strings.TrimSpace(rec[6])); err != nil {
			return nil, bad(6, "True or False")
		}
		if k := len(out); k > 0 && t.Time.Before(out[k-1].Time) {
			return nil, fmt.Errorf("trades csv: line %d, column 5 (time): %s is before the previous trade's %s", line,
				t.Time.Format(time.RFC3339Nano), out[k-1].Time.Format(time.RFC3339Nano))
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, errors.New("trades csv: no trades")
	}
	return out, nil
}

// candlesFromTrades aggregates trades into candles of iv, from the first trade's candle to
// the last's; a candle without trades is flat at the previous close with zero volume (as
// Binance's klines are).
func candlesFromTrades(ts []sim.ReplayTrade, symbol string, iv adapters.Interval) []adapters.Candle {
	var out []adapters.Candle
	i := 0
	for open := iv.OpenTime(ts[0].Time, 0); i < len(ts); open = iv.Next(open, 0) {
		next := iv.Next(open, 0)
		c := adapters.Candle{Symbol: symbol, Interval: iv, OpenTime: open, CloseTime: next.Add(-time.Millisecond), Closed: true}
		if len(out) > 0 {
			px := out[len(out)-1].Close
			c.Open, c.High, c.Low, c.Close = px, px, px, px
		}
		for ; i < len(ts) && ts[i].Time.Before(next); i++ {
			t := ts[i]
			if c.Trades == 0 {
				c.Open, c.High, c.Low = t.Price, t.Price, t.Price
			}
			c.High, c.Low, c.Close = decimal.Max(c.High, t.Price), decimal.Min(c.Low, t.Price), t.Price
			c.Volume = c.Volume.Add(t.Qty)
			c.QuoteVolume = c.QuoteVolume.Add(t.Qty.Mul(t.Price))
			if !t.BuyerMaker {
				c.TakerBuyVolume = c.TakerBuyVolume.Add(t.Qty)
				c.TakerBuyQuoteVolume = c.TakerBuyQuoteVolume.Add(t.Qty.Mul(t.Price))
			}
			c.Trades++
		}
		out = append(out, c)
	}
	return out
}
