package sim

import (
	"time"

	"github.com/shopspring/decimal"
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

// Top is a symbol's last trade price and best bid and ask, with the market moved to now;
// false for a symbol not listed.
func (s *Server) Top(symbol string) (last, bid, ask decimal.Decimal, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.markets[symbol]
	if m == nil {
		return last, bid, ask, false
	}
	s.sync(s.now())
	return m.price(), m.tickPrice(m.ticks - 1), m.tickPrice(m.ticks + 1), true
}

// Sync moves every market to the server's time now: the trades due are played and the
// resting orders they cross are filled (order listener events included).
func (s *Server) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sync(s.now())
}
