package sim

import (
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// Bybit's order endpoints for spot (docs/v5/order/*.mdx) over the shared engine.
//
// orderLinkId is "A max of 36 characters. Combinations of numbers, letters (upper and lower
// cases), dashes, and underscores" and "always unique". The docs define no scope: the
// simulator refuses an orderLinkId any order of the account ever had, with 170141
// "Duplicate clientOrderId" (the Spot Trade table's code; the UTA table's 110072 is the other
// documented one, and which one spot answers is not documented).
//
// Creation and cancellation are asynchronous at Bybit ("retCode 0 only means accepted");
// the simulator applies them before answering, so a query right after sees the result.

var bybitLinkID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,36}$`)

// bybitEngineErrors is the one table that turns the engine's Binance-coded refusals into
// Bybit's spot codes (error.mdx "Spot Trade").
var bybitEngineErrors = []struct {
	code int
	msg  string
	to   bybitReply
}{
	{-2010, msgDuplicateOrder, bybitReply{code: 170141, msg: "Duplicate clientOrderId"}},
	{-2010, msgInsufficient, bybitReply{code: 170131, msg: "Balance insufficient"}},
	{-2010, msgWouldTake, bybitReply{code: 170218, msg: "The LIMIT-MAKER order is rejected due to invalid price."}},
	{-1013, "Filter failure: PRICE_FILTER", bybitReply{code: 170134, msg: "Order price decimal too long."}},
	{-1013, "Filter failure: LOT_SIZE", bybitReply{code: 170136, msg: "Order quantity lower than the minimum."}},
	{-1013, "Filter failure: NOTIONAL", bybitReply{code: 170140, msg: "Order value exceeded lower limit"}},
}

// bybitFromEngine translates an engine refusal; anything not in the table is 170210
// "New order rejected."
func bybitFromEngine(e *apiError) bybitReply {
	for _, row := range bybitEngineErrors {
		if row.code == e.Code && row.msg == e.Msg {
			return row.to
		}
	}
	return bybitErr(170210, "New order rejected.")
}

// bybitDecimal reads a positive decimal parameter; absent or empty is 170105, malformed
// 170130 (the spot texts, typos included).
func bybitDecimal(q *bybitRequest, name string) (decimal.Decimal, bool, *bybitReply) {
	v, ok := q.str(name)
	if !ok || v == "" {
		r := bybitErr(170105, "Parameter '"+name+"' was empty.")
		return decimal.Zero, false, &r
	}
	d, err := decimal.NewFromString(v)
	if err != nil || !d.IsPositive() || !reDecimal.MatchString(v) {
		r := bybitErr(170130, "Data sent for paramter '"+name+"' is not valid.")
		return decimal.Zero, true, &r
	}
	return d, true, nil
}

// bybitOrderSpec validates POST /v5/order/create's body for spot.
// requires that s.mu is held.
func (s *Server) bybitOrderSpec(c *bybitCall) (orderSpec, *bybitReply) {
	q := c.req
	var sp orderSpec
	fail := func(code int, msg string) (orderSpec, *bybitReply) {
		r := bybitErr(code, msg)
		return sp, &r
	}
	if r := bybitSpot(q); r != nil {
		return sp, r
	}
	name, _ := q.str("symbol")
	if name == "" {
		return fail(181002, "symbol is null.")
	}
	m, ok := s.markets[name]
	if !ok {
		return fail(170121, "Invalid symbol.")
	}
	sp.m = m
	switch side, _ := q.str("side"); side {
	case "Buy":
		sp.side = "BUY"
	case "Sell":
		sp.side = "SELL"
	case "":
		return fail(181003, "side is null.")
	default:
		return fail(170117, "Invalid side.")
	}
	typ, _ := q.str("orderType")
	tif, hasTIF := q.str("timeInForce")
	if !hasTIF || tif == "" {
		tif = "GTC"
	}
	switch typ {
	case "Limit":
		switch tif {
		case "GTC", "IOC", "FOK":
			sp.typ, sp.tif = "LIMIT", tif
		case "PostOnly":
			sp.typ, sp.tif = "LIMIT_MAKER", "GTC"
		default:
			return fail(170115, "Invalid timeInForce.")
		}
	case "Market":
		// "Market order will always use IOC".
		sp.typ, sp.tif = "MARKET", "GTC"
	default:
		return fail(170116, "Invalid orderType.")
	}
	if f, ok := q.str("orderFilter"); ok && f != "" && f != "Order" {
		return fail(10001, "params error: orderFilter "+f+" is not simulated")
	}
	if l, ok := q.str("isLeverage"); ok && l != "" && l != "0" {
		return fail(10001, "params error: margin trading is not simulated")
	}
	qty, _, r := bybitDecimal(q, "qty")
	if r != nil {
		return sp, r
	}
	if sp.typ != "MARKET" {
		price, _, r := bybitDecimal(q, "price")
		if r != nil {
			return sp, r
		}
		if aerr := m.checkPrice(price); aerr != nil {
			return sp, ptr(bybitFromEngine(aerr))
		}
		sp.price = price
	}
	unit, _ := q.str("marketUnit")
	switch {
	case sp.typ == "MARKET" && (unit == "quoteCoin" || unit == "" && sp.side == "BUY"):
		// "Spot: Market Buy order by value by default".
		if qty.Exponent() < -8 {
			return fail(170148, "Market order amount decimal too long")
		}
		sp.quoteQty = qty
	case unit != "" && unit != "baseCoin" && unit != "quoteCoin":
		return fail(170130, "Data sent for paramter 'marketUnit' is not valid.")
	default:
		if r := bybitCheckQty(m, qty); r != nil {
			return sp, r
		}
		sp.qty = qty
	}
	if id, ok := q.str("orderLinkId"); ok && id != "" {
		if !bybitLinkID.MatchString(id) {
			return fail(10001, "params error: orderLinkId must be 1-36 characters of [A-Za-z0-9_-]")
		}
		for _, o := range c.acct.orders {
			if o.clientID == id {
				return fail(170141, "Duplicate clientOrderId")
			}
		}
		sp.clientID = id
	}
	notional := sp.price.Mul(sp.qty)
	switch {
	case sp.typ == "MARKET" && sp.quoteQty.IsPositive():
		notional = sp.quoteQty
	case sp.typ == "MARKET":
		notional = m.price().Mul(sp.qty)
	}
	if !m.minNotional.IsZero() && notional.LessThan(m.minNotional) {
		return fail(170140, "Order value exceeded lower limit")
	}
	if sp.typ != "MARKET" && !m.maxNotional.IsZero() && notional.GreaterThan(m.maxNotional) {
		return fail(170124, "Order amount too large.")
	}
	return sp, nil
}

func ptr[T any](v T) *T { return &v }

// bybitCheckQty holds a base quantity to the symbol's lot rules: basePrecision (the step),
// the minimum and the maximum.
func bybitCheckQty(m *market, qty decimal.Decimal) *bybitReply {
	switch {
	case !m.step.IsZero() && !qty.Mod(m.step).IsZero():
		return ptr(bybitErr(170137, "Order volume decimal too long"))
	case !m.minQty.IsZero() && qty.LessThan(m.minQty):
		return ptr(bybitErr(170136, "Order quantity lower than the minimum."))
	case !m.maxQty.IsZero() && qty.GreaterThan(m.maxQty):
		return ptr(bybitErr(170381, "Order quantity too large."))
	}
	return nil
}

func (s *Server) bybitCreate(c *bybitCall) bybitReply {
	sp, r := s.bybitOrderSpec(c)
	if r != nil {
		return *r
	}
	if c.acct.cfg.TradingDisabled {
		return bybitErr(10027, "Transactions are banned.")
	}
	if sp.clientID == "" {
		// Bybit fills in an id of its own; the simulator's is the next order id plus one.
		sp.clientID = strconv.FormatInt(bybitIDBase+s.nextOrderID+2, 10)
	}
	o, aerr := s.place(c.acct, sp, c.now)
	if aerr != nil {
		return bybitFromEngine(aerr)
	}
	c.ep.OrdersCreated++
	s.stats.total.OrdersCreated++
	return bybitOK(map[string]string{"orderId": bybitOrderID(o), "orderLinkId": o.clientID})
}

// bybitFind looks an order of a up by orderId (which wins, cancel-order.mdx) or orderLinkId
// (the latest order with it).
func bybitFind(a *account, orderID, linkID string) *order {
	for i := len(a.orders) - 1; i >= 0; i-- {
		o := a.orders[i]
		if orderID != "" && bybitOrderID(o) == orderID || orderID == "" && linkID != "" && o.clientID == linkID {
			return o
		}
	}
	return nil
}

// bybitCancel is POST /v5/order/cancel: only New or PartiallyFilled orders can be cancelled;
// an unknown or already closed one is 170213 "Order does not exist." (a guess for the closed
// ones: 170139/170142 are documented too, without saying when).
func (s *Server) bybitCancel(c *bybitCall) bybitReply {
	q := c.req
	if r := bybitSpot(q); r != nil {
		return *r
	}
	m, r := s.bybitMarket(q, true)
	if r != nil {
		return bybitErr(170121, "Invalid symbol.")
	}
	id, _ := q.str("orderId")
	link, _ := q.str("orderLinkId")
	if id == "" && link == "" {
		return bybitErr(10001, "params error: orderId or orderLinkId is required")
	}
	if c.acct.cfg.TradingDisabled {
		return bybitErr(10027, "Transactions are banned.")
	}
	o := bybitFind(c.acct, id, link)
	if o == nil || o.m != m || !o.live() {
		return bybitErr(170213, "Order does not exist.")
	}
	s.finish(o, statusCanceled, c.now)
	return bybitOK(map[string]string{"orderId": bybitOrderID(o), "orderLinkId": o.clientID})
}

// bybitCancelAll is POST /v5/order/cancel-all: every open order of the symbol, or of every
// symbol ("Spot: ... without passing other params"); nothing to cancel is an empty list.
func (s *Server) bybitCancelAll(c *bybitCall) bybitReply {
	q := c.req
	if r := bybitSpot(q); r != nil {
		return *r
	}
	m, r := s.bybitMarket(q, false)
	if r != nil {
		return bybitErr(170121, "Invalid symbol.")
	}
	if c.acct.cfg.TradingDisabled {
		return bybitErr(10027, "Transactions are banned.")
	}
	list := []map[string]string{}
	for _, o := range c.acct.openOrders(m) {
		s.finish(o, statusCanceled, c.now)
		list = append(list, map[string]string{"orderId": bybitOrderID(o), "orderLinkId": o.clientID})
	}
	return bybitOK(map[string]any{"list": list, "success": "1"})
}

// bybitRecentClosed is the set of closed orders /v5/order/realtime still shows: the last
// RealtimeClosed closed orders of the account.
func bybitRecentClosed(a *account, n int) map[*order]bool {
	var closed []*order
	for _, o := range a.orders {
		if !o.live() {
			closed = append(closed, o)
		}
	}
	sort.SliceStable(closed, func(i, j int) bool { return closed[i].updated.After(closed[j].updated) })
	out := map[*order]bool{}
	for i := 0; i < len(closed) && i < n; i++ {
		out[closed[i]] = true
	}
	return out
}

// newestFirst sorts orders by creation, newest first ("Sorted by createdTime").
func newestFirst(os []*order) {
	sort.SliceStable(os, func(i, j int) bool { return os[i].id > os[j].id })
}

// bybitRealtime is GET /v5/order/realtime: open orders; with openOnly=1 the recent closed
// ones; by orderId or orderLinkId ("openOnly param will be ignored") the order if it is open
// or among the recent closed ones.
func (s *Server) bybitRealtime(c *bybitCall) bybitReply {
	q := c.req
	if r := bybitSpot(q); r != nil {
		return *r
	}
	m, r := s.bybitMarket(q, false)
	if r != nil {
		return *r
	}
	openOnly, r := bybitInt(q, "openOnly", 0, 2, 0)
	if r != nil {
		return *r
	}
	limit, r := bybitInt(q, "limit", 1, 50, 20)
	if r != nil {
		return *r
	}
	id, _ := q.str("orderId")
	link, _ := q.str("orderLinkId")
	recent := bybitRecentClosed(c.acct, c.b.cfg.RealtimeClosed)
	var sel []*order
	for _, o := range c.acct.orders {
		if m != nil && o.m != m {
			continue
		}
		switch {
		case id != "" || link != "":
			if (id != "" && bybitOrderID(o) == id || id == "" && o.clientID == link) && (o.live() || recent[o]) {
				sel = append(sel, o)
			}
		case openOnly == 0 && o.live(), openOnly == 1 && recent[o]:
			sel = append(sel, o)
		}
	}
	return s.bybitOrderList(c, sel, limit)
}

// bybitHistory is GET /v5/order/history: orders created in the time range (default the last
// 7 days), except cancelled or rejected orders without fills older than 24 hours (order-list.mdx:
// "Cancelled ... Rejected ... Deactivated are queryable" for the last 24 hours). Both spans
// are time-scaled.
func (s *Server) bybitHistory(c *bybitCall) bybitReply {
	q := c.req
	if r := bybitSpot(q); r != nil {
		return *r
	}
	m, r := s.bybitMarket(q, false)
	if r != nil {
		return *r
	}
	limit, r := bybitInt(q, "limit", 1, 50, 20)
	if r != nil {
		return *r
	}
	start, end, r := s.bybitTimeRange(q, c.now, 7*24*time.Hour)
	if r != nil {
		return *r
	}
	id, _ := q.str("orderId")
	link, _ := q.str("orderLinkId")
	status, _ := q.str("orderStatus")
	day := s.scaled(24 * time.Hour)
	var sel []*order
	for _, o := range c.acct.orders {
		switch {
		case m != nil && o.m != m, id != "" && bybitOrderID(o) != id, id == "" && link != "" && o.clientID != link,
			o.created.Before(start), o.created.After(end):
			continue
		case !o.live() && o.executed.IsZero() && c.now.Sub(o.updated) > day:
			continue
		}
		if status != "" && bybitOrderJSON(o)["orderStatus"] != status {
			continue
		}
		sel = append(sel, o)
	}
	return s.bybitOrderList(c, sel, limit)
}

func (s *Server) bybitOrderList(c *bybitCall, sel []*order, limit int64) bybitReply {
	newestFirst(sel)
	page, next, r := bybitPage(c.req, sel, limit)
	if r != nil {
		return *r
	}
	list := []map[string]any{}
	for _, o := range page {
		list = append(list, bybitOrderJSON(o))
	}
	return bybitOK(map[string]any{"category": "spot", "list": list, "nextPageCursor": next})
}

// bybitExecutions is GET /v5/execution/list: the account's fills, newest first, limit
// [1,100] default 50, in the time range (default the last 7 days, time-scaled).
func (s *Server) bybitExecutions(c *bybitCall) bybitReply {
	q := c.req
	if r := bybitSpot(q); r != nil {
		return *r
	}
	m, r := s.bybitMarket(q, false)
	if r != nil {
		return *r
	}
	limit, r := bybitInt(q, "limit", 1, 100, 50)
	if r != nil {
		return *r
	}
	start, end, r := s.bybitTimeRange(q, c.now, 7*24*time.Hour)
	if r != nil {
		return *r
	}
	id, _ := q.str("orderId")
	link, _ := q.str("orderLinkId")
	byID := map[int64]*order{}
	for _, o := range c.acct.orders {
		byID[o.id] = o
	}
	var sel []*trade
	for _, t := range c.acct.trades {
		o := byID[t.orderID]
		switch {
		case m != nil && t.symbol != m.sym.Name, id != "" && bybitOrderID(o) != id, link != "" && o.clientID != link,
			t.time.Before(start), t.time.After(end):
			continue
		}
		sel = append(sel, t)
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].id > sel[j].id })
	page, next, r := bybitPage(q, sel, limit)
	if r != nil {
		return *r
	}
	list := []map[string]any{}
	for _, t := range page {
		o := byID[t.orderID]
		side := "Buy"
		if !t.isBuyer {
			side = "Sell"
		}
		j := bybitOrderJSON(o)
		list = append(list, map[string]any{
			"symbol": t.symbol, "orderId": bybitOrderID(o), "orderLinkId": o.clientID, "side": side,
			"orderPrice": j["price"], "orderQty": j["qty"], "leavesQty": j["leavesQty"], "orderType": j["orderType"],
			"stopOrderType": "", "execFee": t.commission.String(), "feeCurrency": t.commissionAsset,
			"execId": strconv.FormatInt(bybitExecBase+t.id, 10), "execPrice": t.price.String(),
			"execQty": t.qty.String(), "execValue": t.quoteQty.String(), "execType": "Trade",
			"execTime": strconv.FormatInt(t.time.UnixMilli(), 10), "isMaker": t.isMaker,
			"feeRate": s.commission.String(), "markPrice": "", "indexPrice": "", "underlyingPrice": "",
			"blockTradeId": "", "closedSize": "", "seq": t.id, "extraFees": "",
		})
	}
	return bybitOK(map[string]any{"category": "spot", "list": list, "nextPageCursor": next})
}
