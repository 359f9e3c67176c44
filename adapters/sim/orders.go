package sim

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// Order statuses and the enums the engine uses (enums.md).
const (
	statusNew      = "NEW"
	statusFilled   = "FILLED"
	statusCanceled = "CANCELED"
	statusExpired  = "EXPIRED"
)

// account is one exchange account: its keys, balances, orders, trades and unfilled-order
// windows ("The number of unfilled orders is tracked for each account"). Guarded by s.mu.
type account struct {
	cfg                  Account
	key                  keyState
	revoked              bool
	balances             map[string]*balance
	orders10s, ordersDay window
	orders               []*order
	trades               []*trade
}

type balance struct{ free, locked decimal.Decimal }

// requires that s.mu is held.
func (a *account) bal(asset string) *balance {
	b, ok := a.balances[asset]
	if !ok {
		b = &balance{}
		a.balances[asset] = b
	}
	return b
}

// order is one order. In this engine an order fills completely in one trade (the simulated
// book has the depth), so PARTIALLY_FILLED never occurs.
type order struct {
	acct                   *account
	m                      *market
	id                     int64
	clientID               string
	side, typ, tif         string
	price, origQty         decimal.Decimal
	origQuoteQty           decimal.Decimal
	executed, cumQuote     decimal.Decimal
	status                 string
	created, updated       time.Time
	locked                 decimal.Decimal // funds still held: quote for BUY, base for SELL
	counted10s, countedDay time.Time       // the order-count windows it was counted in
	fills                  []*trade
}

func (o *order) live() bool { return o.status == statusNew }

type trade struct {
	id, orderID      int64
	symbol           string
	price, qty       decimal.Decimal
	quoteQty         decimal.Decimal
	commission       decimal.Decimal
	commissionAsset  string
	time             time.Time
	isBuyer, isMaker bool
}

// orderSpec is a validated new order.
type orderSpec struct {
	m              *market
	side, typ, tif string
	price, qty     decimal.Decimal
	quoteQty       decimal.Decimal // MARKET with quoteOrderQty
	clientID       string
	respType       string
}

// sync advances every market's price walk to now and fills the resting orders each step
// crosses. Every handler calls it first, so state is a pure function of the clock.
// requires that s.mu is held.
func (s *Server) sync(now time.Time) {
	streaming := s.hub.streaming()
	for _, name := range s.marketOrder {
		m := s.markets[name]
		// A resting order fills at the time of the step that crossed it, however late the
		// catch-up runs.
		m.walk(now, s.walkInterval, func() { s.matchResting(m, m.stepAt) })
		if !streaming {
			m.discardDiff()
		}
	}
}

// matchResting fills every resting order the current price crosses, at its limit price
// (the order is the maker): a BUY when the price falls to or below it, a SELL when the price
// rises to or above it.
// requires that s.mu is held.
func (s *Server) matchResting(m *market, now time.Time) {
	p := m.price()
	kept := m.open[:0]
	for _, o := range m.open {
		if !o.live() {
			continue
		}
		if (o.side == "BUY" && p.LessThanOrEqual(o.price)) || (o.side == "SELL" && p.GreaterThanOrEqual(o.price)) {
			s.fill(o, o.price, true, now)
			continue
		}
		kept = append(kept, o)
	}
	m.open = kept
}

// crosses reports whether a LIMIT order at price would trade at once against the last price.
func crosses(side string, price, last decimal.Decimal) bool {
	if side == "BUY" {
		return price.GreaterThanOrEqual(last)
	}
	return price.LessThanOrEqual(last)
}

// place runs a validated order through the engine checks (errors.md "Messages for -2010") and
// books it. It returns the order, or the rejection.
// requires that s.mu is held.
func (s *Server) place(a *account, sp orderSpec, now time.Time) (*order, *apiError) {
	m := sp.m
	last := m.price()
	for _, o := range a.orders {
		if o.live() && o.clientID == sp.clientID {
			return nil, errOrderRejected(msgDuplicateOrder)
		}
	}
	qty := sp.qty
	if sp.typ == "MARKET" && !sp.quoteQty.IsZero() {
		qty = sp.quoteQty.Div(last).Truncate(m.qtyScale)
		if !m.step.IsZero() {
			qty = qty.Div(m.step).Floor().Mul(m.step)
		}
		if err := m.checkLot(qty); err != nil {
			return nil, err
		}
	}
	taker := sp.typ == "MARKET" || (sp.typ != "LIMIT_MAKER" && crosses(sp.side, sp.price, last))
	if sp.typ == "LIMIT_MAKER" && crosses(sp.side, sp.price, last) {
		return nil, errOrderRejected(msgWouldTake)
	}
	// Funds: a LIMIT BUY holds price*qty of the quote asset, a SELL holds qty of the base
	// asset; a MARKET BUY needs last*qty.
	base, quote := a.bal(m.sym.Base), a.bal(m.sym.Quote)
	var need decimal.Decimal
	var from *balance
	if sp.side == "BUY" {
		from = quote
		if sp.typ == "MARKET" {
			need = last.Mul(qty)
		} else {
			need = sp.price.Mul(qty)
		}
	} else {
		from, need = base, qty
	}
	if from.free.LessThan(need) {
		return nil, errOrderRejected(msgInsufficient)
	}
	s.nextOrderID++
	o := &order{
		acct: a, m: m, id: s.nextOrderID, clientID: sp.clientID,
		side: sp.side, typ: sp.typ, tif: sp.tif, price: sp.price, origQty: qty, origQuoteQty: sp.quoteQty,
		status: statusNew, created: now, updated: now,
	}
	if sp.typ == "MARKET" {
		o.price = decimal.Zero
		o.tif = "GTC"
	}
	from.free = from.free.Sub(need)
	from.locked = from.locked.Add(need)
	o.locked = need
	// Unfilled order count (rest-api.md "Unfilled Order Count"): every accepted order counts,
	// its first fill takes it back (faqs/order_count_decrement.md).
	a.orders10s.at(now)
	a.ordersDay.at(now)
	a.orders10s.count++
	a.ordersDay.count++
	o.counted10s, o.countedDay = a.orders10s.start, a.ordersDay.start
	a.orders = append(a.orders, o)
	s.allOrders = append(s.allOrders, o)
	s.orderEvent(o, "NEW", nil, now)
	switch {
	case taker:
		px := sp.price
		if sp.typ == "MARKET" || last.LessThan(px) && sp.side == "BUY" || last.GreaterThan(px) && sp.side == "SELL" {
			px = last // a taker trades at the market, never worse than its limit
		}
		s.fill(o, px, false, now)
	case sp.tif == "IOC" || sp.tif == "FOK":
		s.finish(o, statusExpired, now)
	default:
		m.open = append(m.open, o)
	}
	return o, nil
}

// fill trades the whole remaining quantity of o at px, moves the balances and charges the
// commission in the asset received.
// requires that s.mu is held.
func (s *Server) fill(o *order, px decimal.Decimal, maker bool, now time.Time) {
	a, m := o.acct, o.m
	qty := o.origQty.Sub(o.executed)
	quoteAmt := px.Mul(qty)
	base, quote := a.bal(m.sym.Base), a.bal(m.sym.Quote)
	t := &trade{orderID: o.id, symbol: m.sym.Name, price: px, qty: qty, quoteQty: quoteAmt, time: now, isBuyer: o.side == "BUY", isMaker: maker}
	if o.side == "BUY" {
		quote.locked = quote.locked.Sub(o.locked)
		quote.free = quote.free.Add(o.locked.Sub(quoteAmt))
		t.commission = qty.Mul(s.commission).Truncate(8)
		t.commissionAsset = m.sym.Base
		base.free = base.free.Add(qty.Sub(t.commission))
	} else {
		base.locked = base.locked.Sub(o.locked)
		base.free = base.free.Add(o.locked.Sub(qty))
		t.commission = quoteAmt.Mul(s.commission).Truncate(8)
		t.commissionAsset = m.sym.Quote
		quote.free = quote.free.Add(quoteAmt.Sub(t.commission))
	}
	o.locked = decimal.Zero
	if o.executed.IsZero() {
		// First fill: the order no longer counts as unfilled in the windows it was counted in.
		if a.orders10s.at(now); a.orders10s.start.Equal(o.counted10s) && a.orders10s.count > 0 {
			a.orders10s.count--
		}
		if a.ordersDay.at(now); a.ordersDay.start.Equal(o.countedDay) && a.ordersDay.count > 0 {
			a.ordersDay.count--
		}
	}
	s.nextTradeID++
	t.id = s.nextTradeID
	o.executed = o.executed.Add(qty)
	o.cumQuote = o.cumQuote.Add(quoteAmt)
	o.fills = append(o.fills, t)
	a.trades = append(a.trades, t)
	o.status, o.updated = statusFilled, now
	if !maker {
		// A taker's fill prints on the public tape (trades, @trade, klines) as any trade does;
		// a maker's fill is the walk step that crossed it, already printed.
		m.publicTrade(px, qty, o.side == "SELL", now)
	}
	s.orderEvent(o, "TRADE", t, now)
}

// finish ends a live order without a trade (cancel or expiry) and releases its funds.
// requires that s.mu is held.
func (s *Server) finish(o *order, status string, now time.Time) {
	a, m := o.acct, o.m
	b := a.bal(m.sym.Base)
	if o.side == "BUY" {
		b = a.bal(m.sym.Quote)
	}
	b.locked = b.locked.Sub(o.locked)
	b.free = b.free.Add(o.locked)
	o.locked = decimal.Zero
	o.status, o.updated = status, now
	kept := m.open[:0]
	for _, x := range m.open {
		if x != o {
			kept = append(kept, x)
		}
	}
	m.open = kept
	s.orderEvent(o, status, nil, now)
}

// find looks an order up as GET/DELETE /api/v3/order do: by orderId, then checking
// origClientOrderId against it, or by origClientOrderId alone (the latest such order).
// requires that s.mu is held.
func (a *account) find(m *market, id int64, hasID bool, clientID string) (*order, bool) {
	if hasID {
		for _, o := range a.orders {
			if o.id == id && o.m == m {
				return o, clientID == "" || o.clientID == clientID
			}
		}
		return nil, true
	}
	for i := len(a.orders) - 1; i >= 0; i-- {
		if o := a.orders[i]; o.m == m && o.clientID == clientID {
			return o, true
		}
	}
	return nil, true
}

// openOrders lists the live orders of a (on m, or on every market when m is nil), oldest first.
// requires that s.mu is held.
func (a *account) openOrders(m *market) []*order {
	var out []*order
	for _, o := range a.orders {
		if o.live() && (m == nil || o.m == m) {
			out = append(out, o)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}
