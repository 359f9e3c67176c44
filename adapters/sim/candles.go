package sim

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// Candles are the public trade tape aggregated: every step of the price walk is one public
// trade (the @trade stream's), and every trade lands in a one-second bar and a one-minute bar.
// Klines of any interval are built from those bars at the moment they are asked for, so a
// candle's open, high, low, close, volume and trade count are exactly those of the trades
// served on @trade and /api/v3/trades between its open and close times.
//
// History starts when the server does (or with the replayed file): the last secondBars
// one-second bars (an hour) and minuteBars one-minute bars (a week) are kept. A period
// without trades inside the kept history is a flat candle at the previous close with zero
// volume; nothing is served before the first trade, as Binance serves nothing before a
// symbol's listing.

const (
	secondBars = 3600
	minuteBars = 7 * 24 * 60
)

// bar is the trades of one second or one minute. Prices are in ticks and quantities in
// steps, so aggregation is exact integer arithmetic; quote volume is Σ ticks×steps, scaled
// back by tick×step when printed.
type bar struct {
	start               int64 // unix milliseconds
	open, high, low     int64 // ticks
	close               int64
	trades              int64
	volume, quote       int64 // steps; ticks×steps
	buyVolume, buyQuote int64 // taker buys only
	firstID, lastID     int64
}

func (b *bar) add(ticks, steps, id int64, takerBuy bool) {
	if b.trades == 0 {
		b.open, b.high, b.low, b.firstID = ticks, ticks, ticks, id
	}
	b.high, b.low = max(b.high, ticks), min(b.low, ticks)
	b.close, b.lastID = ticks, id
	b.trades++
	b.volume += steps
	b.quote += ticks * steps
	if takerBuy {
		b.buyVolume += steps
		b.buyQuote += ticks * steps
	}
}

// barSeries is the bars of one width, oldest first, at most keep of them.
type barSeries struct {
	width int64 // milliseconds
	keep  int
	bars  []bar
}

func (s *barSeries) add(atMs, ticks, steps, id int64, takerBuy bool) {
	start := atMs - atMs%s.width
	n := len(s.bars)
	if n == 0 || s.bars[n-1].start < start {
		s.bars = append(s.bars, bar{start: start})
		if len(s.bars) >= 2*s.keep {
			s.bars = append(s.bars[:0], s.bars[len(s.bars)-s.keep:]...)
		}
		n = len(s.bars)
	}
	// A time that went backwards (an admin clock offset) lands in the last bar.
	s.bars[n-1].add(ticks, steps, id, takerBuy)
}

// first is the start of the oldest kept bar, or false.
func (s *barSeries) first() (int64, bool) {
	if len(s.bars) == 0 {
		return 0, false
	}
	return s.bars[max(0, len(s.bars)-s.keep)].start, true
}

// tape is a market's trade tape: ids, the bars, and the recent trades for /api/v3/trades.
type tape struct {
	seconds, minutes barSeries
	lastTicks        int64
	recent           []walkTrade // newest last, at most recentTrades
}

// recentTrades is how many public trades are kept for /api/v3/trades, historicalTrades and
// aggTrades (Binance serves at most 1000 per call).
const recentTrades = 1000

func newTape() tape {
	return tape{seconds: barSeries{width: 1000, keep: secondBars}, minutes: barSeries{width: 60000, keep: minuteBars}}
}

// record adds one public trade.
func (m *market) record(t walkTrade) {
	steps := m.stepsOf(t.qty)
	at := t.at.UnixMilli()
	m.tape.seconds.add(at, t.ticks, steps, t.id, !t.buyer)
	m.tape.minutes.add(at, t.ticks, steps, t.id, !t.buyer)
	m.tape.lastTicks = t.ticks
	m.tape.recent = append(m.tape.recent, t)
	if len(m.tape.recent) >= 2*recentTrades {
		m.tape.recent = append(m.tape.recent[:0], m.tape.recent[len(m.tape.recent)-recentTrades:]...)
	}
}

// stepsOf is qty in whole steps (quantities on the tape are on the step grid).
func (m *market) stepsOf(qty decimal.Decimal) int64 {
	if m.step.IsZero() {
		return qty.IntPart()
	}
	return qty.Div(m.step).IntPart()
}

// klineQuery is a validated klines request.
type klineQuery struct {
	interval   adapters.Interval
	offset     time.Duration
	start, end time.Time // zero: unbounded
	limit      int
}

// candles answers q at now: candles opening in [start, end], the first limit of them when
// start is set, else the last limit (rest-api.md: "If startTime and endTime are not sent, the
// most recent klines are returned"). The current candle is included, not yet closed.
func (m *market) candles(q klineQuery, now time.Time) []kline {
	series := &m.tape.minutes
	if q.interval == "1s" {
		series = &m.tape.seconds
	}
	firstMs, ok := series.first()
	if !ok {
		return nil
	}
	iv, off := q.interval, q.offset
	lo := iv.OpenTime(time.UnixMilli(firstMs), off)
	hi := iv.OpenTime(now, off)
	if !q.end.IsZero() && q.end.Before(hi) {
		hi = q.end
	}
	if !q.start.IsZero() && q.start.After(lo) {
		lo = iv.OpenTime(q.start, off)
		if lo.Before(q.start) {
			lo = iv.Next(lo, off)
		}
	}
	if hi.Before(lo) {
		return nil
	}
	var opens []time.Time
	if q.start.IsZero() {
		// The last limit opens at or before hi, walking back.
		for t := iv.OpenTime(hi, off); !t.Before(lo) && len(opens) < q.limit; t = prevOpen(iv, t, off) {
			opens = append(opens, t)
		}
		for i, j := 0, len(opens)-1; i < j; i, j = i+1, j-1 {
			opens[i], opens[j] = opens[j], opens[i]
		}
	} else {
		for t := lo; !t.After(hi) && len(opens) < q.limit; t = iv.Next(t, off) {
			opens = append(opens, t)
		}
	}
	out := make([]kline, 0, len(opens))
	bars := series.bars[max(0, len(series.bars)-series.keep):]
	for _, open := range opens {
		next := iv.Next(open, off)
		out = append(out, m.aggregate(bars, open, next, iv, now))
	}
	return out
}

// prevOpen is the open of the candle before the one opening at open.
func prevOpen(iv adapters.Interval, open time.Time, off time.Duration) time.Time {
	return iv.OpenTime(open.Add(-time.Millisecond), off)
}

// kline is a candle with the ids of its first and last trade (-1 without trades), which the
// kline stream carries.
type kline struct {
	adapters.Candle
	firstID, lastID int64
}

// aggregate builds the candle [open, next) from bars; with no trades in it, a flat candle at
// the close before it.
func (m *market) aggregate(bars []bar, open, next time.Time, iv adapters.Interval, now time.Time) kline {
	o, n := open.UnixMilli(), next.UnixMilli()
	i := sort.Search(len(bars), func(i int) bool { return bars[i].start >= o })
	var agg bar
	var quote, buyQuote, volume, buyVolume decimal.Decimal
	for j := i; j < len(bars) && bars[j].start < n; j++ {
		b := bars[j]
		if b.trades == 0 {
			continue
		}
		if agg.trades == 0 {
			agg.open, agg.high, agg.low, agg.firstID = b.open, b.high, b.low, b.firstID
		}
		agg.high, agg.low = max(agg.high, b.high), min(agg.low, b.low)
		agg.close, agg.lastID = b.close, b.lastID
		agg.trades += b.trades
		// Summed as decimals across bars: a month of minutes may not fit an int64.
		volume = volume.Add(decimal.NewFromInt(b.volume))
		quote = quote.Add(decimal.NewFromInt(b.quote))
		buyVolume = buyVolume.Add(decimal.NewFromInt(b.buyVolume))
		buyQuote = buyQuote.Add(decimal.NewFromInt(b.buyQuote))
	}
	if agg.trades == 0 {
		prev := m.tape.lastTicks
		if i > 0 {
			prev = bars[i-1].close
		} else if len(bars) > 0 {
			prev = bars[0].open
		}
		agg.open, agg.high, agg.low, agg.close = prev, prev, prev, prev
		agg.firstID, agg.lastID = -1, -1
	}
	stepQ, tickStep := m.stepOrOne(), m.tick.Mul(m.stepOrOne())
	return kline{Candle: adapters.Candle{
		Symbol: m.sym.Name, Interval: iv,
		OpenTime: open, CloseTime: next.Add(-time.Millisecond),
		Open: m.tickPrice(agg.open), High: m.tickPrice(agg.high), Low: m.tickPrice(agg.low), Close: m.tickPrice(agg.close),
		Volume: volume.Mul(stepQ), QuoteVolume: quote.Mul(tickStep),
		TakerBuyVolume: buyVolume.Mul(stepQ), TakerBuyQuoteVolume: buyQuote.Mul(tickStep),
		Trades: agg.trades,
		Closed: !next.After(now),
	}, firstID: agg.firstID, lastID: agg.lastID}
}

func (m *market) stepOrOne() decimal.Decimal {
	if m.step.IsZero() {
		return decimal.NewFromInt(1)
	}
	return m.step
}

// publicTrade prints a trade that is not a walk step (a taker order's fill) on the tape and
// the @trade stream. buyerMaker: the taker sold.
// requires that s.mu is held.
func (m *market) publicTrade(px, qty decimal.Decimal, buyerMaker bool, at time.Time) {
	if m.depth.touchBid == nil {
		return // a market built without initDepth (not through New)
	}
	m.depth.tradeID++
	wt := walkTrade{id: m.depth.tradeID, ticks: px.Div(m.tick).IntPart(), qty: qty, buyer: buyerMaker, at: at}
	m.depth.trades = append(m.depth.trades, wt)
	if len(m.depth.trades) > 1000 {
		m.depth.trades = m.depth.trades[len(m.depth.trades)-1000:]
	}
	m.record(wt)
}
