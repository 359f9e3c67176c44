package sim

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
)

// In-process access for programs that embed the simulator as their matching engine (the
// backtest): order changes as they happen, balances and the book's top, without a request.

// OrderEvent is one change of an order, as the user data stream's executionReport reports it.
type OrderEvent struct {
	APIKey, Symbol, ClientOrderID string
	OrderID                       int64
	Side, Type, TimeInForce       string
	// ExecType is NEW, TRADE, CANCELED or EXPIRED; Status the order's status after it.
	ExecType, Status                 string
	Price, OrigQty, ExecutedQty, Cum decimal.Decimal // Cum: cumulative quote quantity
	LastQty, LastPrice, Commission   decimal.Decimal // of this TRADE
	CommissionAsset                  string
	Maker                            bool
	Time                             time.Time
}

// SetOrderListener calls f with every order change, under the server's lock and in order:
// f must not call the server. Nil removes it.
func (s *Server) SetOrderListener(f func(OrderEvent)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orderListener = f
}

// notifyOrder tells the order listener of an order change.
// requires that s.mu is held.
func (s *Server) notifyOrder(o *order, execType string, t *trade, now time.Time) {
	if s.orderListener == nil {
		return
	}
	ev := OrderEvent{APIKey: o.acct.cfg.APIKey, Symbol: o.m.sym.Name, ClientOrderID: o.clientID, OrderID: o.id,
		Side: o.side, Type: o.typ, TimeInForce: o.tif, ExecType: execType, Status: o.status,
		Price: o.price, OrigQty: o.origQty, ExecutedQty: o.executed, Cum: o.cumQuote, Time: now}
	if t != nil {
		ev.LastQty, ev.LastPrice, ev.Commission, ev.CommissionAsset, ev.Maker = t.qty, t.price, t.commission, t.commissionAsset, t.isMaker
	}
	s.orderListener(ev)
}

// Book is the top depth levels per side of a symbol's book, with the market moved to now;
// false for a symbol not listed.
func (s *Server) Book(symbol string, depth int) (adapters.Book, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.markets[symbol]
	if m == nil {
		return adapters.Book{}, false
	}
	s.sync(s.now())
	bids, asks := m.book(depth)
	conv := func(ls []bookLevel) []adapters.Level {
		out := make([]adapters.Level, len(ls))
		for i, l := range ls {
			out[i] = adapters.Level{Price: decimal.RequireFromString(l[0]), Quantity: decimal.RequireFromString(l[1])}
		}
		return out
	}
	return adapters.Book{Symbol: symbol, LastUpdateID: m.updateID, Bids: conv(bids), Asks: conv(asks)}, true
}

// Candles are a symbol's candles as GET /api/v3/klines would answer q at now (the last
// q.Limit, or the first from q.Start), without a request; false for a symbol not listed or an
// interval not served.
func (s *Server) Candles(symbol string, interval adapters.Interval, q adapters.CandleQuery) ([]adapters.Candle, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.markets[symbol]
	off, err := adapters.ParseTimeZone(q.TimeZone)
	if m == nil || !interval.Valid() || err != nil {
		return nil, false
	}
	now := s.now()
	s.sync(now)
	if q.Limit <= 0 {
		q.Limit = 500
	}
	ks := m.candles(klineQuery{interval: interval, offset: off, start: q.Start, end: q.End, limit: q.Limit}, now)
	out := make([]adapters.Candle, len(ks))
	for i, k := range ks {
		out[i] = k.Candle
	}
	return out, true
}

// Sync moves every market to the server's time now: the trades due are played and the
// resting orders they cross are filled (order listener events included).
func (s *Server) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync(s.now())
}
