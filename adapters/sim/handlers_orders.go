package sim

import (
	"net/http"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// Order endpoints (security type TRADE / USER_DATA). Shapes follow rest-api.md "Trading
// endpoints" and "Account Endpoints".

// orderParams validates the parameters of POST /api/v3/order (and /order/test).
// requires that s.mu is held.
func (s *Server) orderParams(c *call) (orderSpec, *apiError) {
	q := c.req
	var sp orderSpec
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return sp, aerr
	}
	sp.m = m
	side, aerr := q.mandatory("side")
	if aerr != nil {
		return sp, aerr
	}
	if side != "BUY" && side != "SELL" {
		return sp, errInvalidSide()
	}
	sp.side = side
	typ, aerr := q.mandatory("type")
	if aerr != nil {
		return sp, aerr
	}
	switch typ {
	case "LIMIT", "MARKET", "LIMIT_MAKER":
	case "STOP_LOSS":
		return sp, errOrderRejected("Stop loss orders are not supported for this symbol.")
	case "STOP_LOSS_LIMIT":
		return sp, errOrderRejected("Stop loss limit orders are not supported for this symbol.")
	case "TAKE_PROFIT":
		return sp, errOrderRejected("Take profit orders are not supported for this symbol.")
	case "TAKE_PROFIT_LIMIT":
		return sp, errOrderRejected("Take profit limit orders are not supported for this symbol.")
	default:
		return sp, errInvalidType()
	}
	sp.typ = typ
	tif, hasTIF := q.str("timeInForce")
	price, hasPrice, aerr := q.decimalParam("price", 8)
	if aerr != nil {
		return sp, aerr
	}
	qty, hasQty, aerr := q.decimalParam("quantity", 8)
	if aerr != nil {
		return sp, aerr
	}
	quoteQty, hasQuoteQty, aerr := q.decimalParam("quoteOrderQty", 8)
	if aerr != nil {
		return sp, aerr
	}
	for _, p := range []string{"stopPrice", "trailingDelta", "icebergQty", "pegPriceType", "pegOffsetValue", "pegOffsetType"} {
		if q.has(p) {
			q.read[p] = true
			return sp, errf(http.StatusBadRequest, -1014, "%s", msgUnsupportedCombo+".")
		}
	}
	switch typ {
	case "LIMIT":
		if !hasTIF || tif == "" {
			return sp, errMandatory("timeInForce")
		}
		if tif != "GTC" && tif != "IOC" && tif != "FOK" {
			return sp, errInvalidTIF()
		}
		if !hasQty {
			return sp, errMandatory("quantity")
		}
		if !hasPrice {
			return sp, errMandatory("price")
		}
		if hasQuoteQty {
			return sp, errNotRequired("quoteOrderQty")
		}
	case "LIMIT_MAKER":
		if hasTIF {
			return sp, errNotRequired("timeInForce")
		}
		if !hasQty {
			return sp, errMandatory("quantity")
		}
		if !hasPrice {
			return sp, errMandatory("price")
		}
		if hasQuoteQty {
			return sp, errNotRequired("quoteOrderQty")
		}
		tif = "GTC"
	case "MARKET":
		if hasTIF {
			return sp, errNotRequired("timeInForce")
		}
		if hasPrice {
			return sp, errNotRequired("price")
		}
		if !hasQty && !hasQuoteQty {
			return sp, errEitherParam("quantity", "quoteOrderQty")
		}
		if hasQty && hasQuoteQty {
			return sp, errNotRequired("quoteOrderQty")
		}
		tif = "GTC"
	}
	sp.tif, sp.price, sp.qty, sp.quoteQty = tif, price, qty, quoteQty
	if id, has := q.str("newClientOrderId"); has {
		if id == "" {
			return sp, errEmptyNewClID()
		}
		if !reClOrdID.MatchString(id) {
			return sp, errIllegalChars("newClientOrderId", legalClOrdID)
		}
		sp.clientID = id
	}
	sp.respType = "ACK"
	if typ == "LIMIT" || typ == "MARKET" {
		sp.respType = "FULL"
	}
	if rt, has := q.str("newOrderRespType"); has {
		if rt != "ACK" && rt != "RESULT" && rt != "FULL" {
			return sp, errInvalidParam("newOrderRespType")
		}
		sp.respType = rt
	}
	if stp, has := q.str("selfTradePreventionMode"); has && stp != "NONE" {
		return sp, errInvalidParam("selfTradePreventionMode")
	}
	if _, _, aerr := q.longParam("strategyId"); aerr != nil {
		return sp, aerr
	}
	if st, has, aerr := q.longParam("strategyType"); aerr != nil {
		return sp, aerr
	} else if has && st < 1000000 {
		return sp, errf(http.StatusBadRequest, -1134, "`strategyType` was less than 1000000.")
	}
	q.accept("timestamp", "recvWindow", "signature", "computeCommissionRates")
	if aerr := q.unread(); aerr != nil {
		return sp, aerr
	}
	// Filters (filters.md), evaluated by the API before the order reaches the engine (-1013).
	if typ != "MARKET" {
		if aerr := m.checkPrice(price); aerr != nil {
			return sp, aerr
		}
	}
	if hasQty {
		if aerr := m.checkLot(qty); aerr != nil {
			return sp, aerr
		}
	}
	notional := price.Mul(qty)
	if typ == "MARKET" {
		notional = m.price().Mul(qty)
		if hasQuoteQty {
			notional = quoteQty
		}
	}
	if aerr := m.checkNotional(notional, typ == "MARKET"); aerr != nil {
		return sp, aerr
	}
	return sp, nil
}

// genClientID makes a 22-character id like Binance's ("6gCrw2kRUAF9CvJDGP16IP"), from the seed.
// requires that s.mu is held.
func (s *Server) genClientID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 22)
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (s *Server) newOrder(c *call) reply {
	sp, aerr := s.orderParams(c)
	if aerr != nil {
		return fail(aerr)
	}
	if sp.clientID == "" {
		sp.clientID = s.genClientID()
	}
	a := c.acct
	if a.cfg.TradingDisabled {
		return fail(errOrderRejected(msgTradingDisabled))
	}
	if a.orders10s.at(c.now) >= s.limits.orders10sLimit {
		e := errTooManyOrders(s.limits.orders10sLimit, s.limits.orders10s.per())
		c.setRetry(retryAfter(c.now, a.orders10s.end()))
		return fail(e)
	}
	if a.ordersDay.at(c.now) >= s.limits.ordersDayLimit {
		e := errTooManyOrders(s.limits.ordersDayLimit, s.limits.ordersDay.per())
		c.setRetry(retryAfter(c.now, a.ordersDay.end()))
		return fail(e)
	}
	o, aerr := s.place(a, sp, c.now)
	if aerr != nil {
		return fail(aerr)
	}
	c.ep.OrdersCreated++
	s.stats.total.OrdersCreated++
	return ok(o.placed(sp.respType))
}

func (s *Server) testOrder(c *call) reply {
	if _, aerr := s.orderParams(c); aerr != nil {
		return fail(aerr)
	}
	switch c.req.values["computeCommissionRates"] {
	case "", "false":
		return ok(struct{}{})
	case "true":
		// rest-api.md "Test new order": the rates the order's trades would pay (the simulator
		// has no special or tax commission and no BNB discount).
		rates := func(maker, taker decimal.Decimal) map[string]string {
			return map[string]string{"maker": fmt8(maker), "taker": fmt8(taker)}
		}
		return ok(map[string]any{
			"standardCommissionForOrder": rates(s.commission, s.commission),
			"specialCommissionForOrder":  rates(zero, zero),
			"taxCommissionForOrder":      rates(zero, zero),
			"discount": map[string]any{"enabledForAccount": false, "enabledForSymbol": false,
				"discountAsset": "BNB", "discount": "0.75000000"},
		})
	}
	return fail(errInvalidParam("computeCommissionRates"))
}

// orderTestWeight: 1, or 20 with computeCommissionRates (rest-api.md "Test new order").
func orderTestWeight(q *request) int64 {
	if q.values["computeCommissionRates"] == "true" {
		return 20
	}
	return 1
}

// lookup reads symbol, orderId and origClientOrderId and finds the order.
// requires that s.mu is held.
func (s *Server) lookup(c *call, notFound func() *apiError, mismatch func() *apiError) (*order, *apiError) {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return nil, aerr
	}
	id, hasID, aerr := q.longParam("orderId")
	if aerr != nil {
		return nil, aerr
	}
	clID, hasClID := q.str("origClientOrderId")
	if hasClID && clID == "" {
		return nil, errEmptyOrigClID()
	}
	if !hasID && !hasClID {
		return nil, errEitherParam("origClientOrderId", "orderId")
	}
	q.accept("timestamp", "recvWindow", "signature", "newClientOrderId", "cancelRestrictions")
	if aerr := q.unread(); aerr != nil {
		return nil, aerr
	}
	o, match := c.acct.find(m, id, hasID, clID)
	if o == nil {
		return nil, notFound()
	}
	if !match {
		return nil, mismatch()
	}
	return o, nil
}

func (s *Server) queryOrder(c *call) reply {
	o, aerr := s.lookup(c, errNoSuchOrder, errClientIDMismatch)
	if aerr != nil {
		return fail(aerr)
	}
	return ok(o.queried())
}

func (s *Server) cancelOrder(c *call) reply {
	unknown := func() *apiError { return errCancelRejected(msgUnknownOrder) }
	o, aerr := s.lookup(c, unknown, unknown)
	if aerr != nil {
		return fail(aerr)
	}
	if c.acct.cfg.TradingDisabled {
		return fail(errCancelRejected(msgTradingDisabled))
	}
	cancelID, has := c.req.values["newClientOrderId"]
	if has && !reClOrdID.MatchString(cancelID) {
		return fail(errIllegalChars("newClientOrderId", legalClOrdID))
	}
	if r, has := c.req.values["cancelRestrictions"]; has {
		if r != "ONLY_NEW" && r != "ONLY_PARTIALLY_FILLED" {
			return fail(errf(http.StatusBadRequest, -1145, "Invalid cancelRestrictions"))
		}
		if r == "ONLY_PARTIALLY_FILLED" && o.live() {
			return fail(errCancelRejected("Order was not canceled due to cancel restrictions."))
		}
	}
	if !o.live() {
		return fail(unknown())
	}
	if !has {
		cancelID = s.genClientID()
	}
	s.finish(o, statusCanceled, c.now)
	return ok(o.canceled(cancelID, c.now))
}

func (s *Server) cancelOpenOrders(c *call) reply {
	m, aerr := s.symbolOnly(c.req)
	if aerr != nil {
		return fail(aerr)
	}
	if c.acct.cfg.TradingDisabled {
		return fail(errCancelRejected(msgTradingDisabled))
	}
	open := c.acct.openOrders(m)
	if len(open) == 0 {
		return fail(errCancelRejected(msgUnknownOrder))
	}
	out := make([]map[string]any, 0, len(open))
	for _, o := range open {
		s.finish(o, statusCanceled, c.now)
		out = append(out, o.canceled(s.genClientID(), c.now))
	}
	return ok(out)
}

func (s *Server) openOrders(c *call) reply {
	q := c.req
	m, aerr := s.symbolParam(q, "symbol", false)
	if aerr != nil {
		return fail(aerr)
	}
	if aerr := q.signedDone(); aerr != nil {
		return fail(aerr)
	}
	out := []map[string]any{}
	for _, o := range c.acct.openOrders(m) {
		out = append(out, o.queried())
	}
	return ok(out)
}

// listQuery is what the account's list endpoints (allOrders, myTrades) take: symbol, the
// id to read from, startTime, endTime and limit (default 500, at most 1000; rest-api.md).
type listQuery struct {
	m                 *market
	from, start, end  int64
	hasFrom, hasStart bool
	hasEnd            bool
	orderID           int64 // myTrades' orderId
	hasOrder          bool
	limit             int
}

// readList reads a listQuery; fromParam names the id to read from ("orderId" for
// allOrders, "fromId" for myTrades), withOrder also reads myTrades' orderId filter. The
// signed request's own parameters are accepted and any other is -1104.
func (s *Server) readList(q *request, fromParam string, withOrder bool) (listQuery, *apiError) {
	var l listQuery
	var aerr *apiError
	if l.m, aerr = s.symbolParam(q, "symbol", true); aerr != nil {
		return l, aerr
	}
	if withOrder {
		if l.orderID, l.hasOrder, aerr = q.longParam("orderId"); aerr != nil {
			return l, aerr
		}
	}
	type long struct {
		name string
		v    *int64
		has  *bool
	}
	// Read in the order the endpoint lists its parameters, so the first bad one is reported.
	longs := []long{{"startTime", &l.start, &l.hasStart}, {"endTime", &l.end, &l.hasEnd}}
	if withOrder {
		longs = append(longs, long{fromParam, &l.from, &l.hasFrom})
	} else {
		longs = append([]long{{fromParam, &l.from, &l.hasFrom}}, longs...)
	}
	for _, p := range longs {
		if *p.v, *p.has, aerr = q.longParam(p.name); aerr != nil {
			return l, aerr
		}
	}
	limit, hasLimit, aerr := q.intParam("limit", 1, 1000)
	if aerr != nil {
		return l, aerr
	}
	l.limit = 500
	if hasLimit {
		l.limit = int(limit)
	}
	if aerr := q.signedDone(); aerr != nil {
		return l, aerr
	}
	// "The time between startTime and endTime can't be longer than 24 hours."
	if l.hasStart && l.hasEnd && l.end-l.start > 24*60*60*1000 {
		return l, errf(http.StatusBadRequest, -1127, "More than 24 hours between startTime and endTime.")
	}
	return l, nil
}

// keeps reports whether an item of the query's symbol with id and time ms passes its filters.
func (l listQuery) keeps(id, ms int64) bool {
	return !(l.hasFrom && id < l.from) && !(l.hasStart && ms < l.start) && !(l.hasEnd && ms > l.end)
}

func (s *Server) allOrdersHandler(c *call) reply {
	l, aerr := s.readList(c.req, "orderId", false)
	if aerr != nil {
		return fail(aerr)
	}
	var sel []*order
	for _, o := range c.acct.orders {
		if o.m == l.m && l.keeps(o.id, o.created.UnixMilli()) {
			sel = append(sel, o)
		}
	}
	out := []map[string]any{}
	for _, o := range pageOf(l, sel) {
		out = append(out, o.queried())
	}
	return ok(out)
}

// pageOf keeps the query's limit of xs: the oldest when reading forward from an id or a
// start time, else the newest.
func pageOf[T any](l listQuery, xs []T) []T {
	if len(xs) <= l.limit {
		return xs
	}
	if l.hasFrom || l.hasStart {
		return xs[:l.limit]
	}
	return xs[len(xs)-l.limit:]
}

func (s *Server) myTrades(c *call) reply {
	l, aerr := s.readList(c.req, "fromId", true)
	if aerr != nil {
		return fail(aerr)
	}
	// Supported combinations (rest-api.md "Account trade list"): symbol; +orderId; +startTime;
	// +endTime; +fromId; +startTime+endTime; +orderId+fromId. Anything else is -1128.
	if (l.hasOrder || l.hasFrom) && (l.hasStart || l.hasEnd) {
		return fail(errBadCombo())
	}
	var sel []*trade
	for _, t := range c.acct.trades {
		if t.symbol == l.m.sym.Name && !(l.hasOrder && t.orderID != l.orderID) && l.keeps(t.id, t.time.UnixMilli()) {
			sel = append(sel, t)
		}
	}
	sort.SliceStable(sel, func(i, j int) bool { return sel[i].id < sel[j].id })
	out := []map[string]any{}
	for _, t := range pageOf(l, sel) {
		out = append(out, map[string]any{
			"symbol": t.symbol, "id": t.id, "orderId": t.orderID, "orderListId": -1,
			"price": fmt8(t.price), "qty": fmt8(t.qty), "quoteQty": fmt8(t.quoteQty),
			"commission": fmt8(t.commission), "commissionAsset": t.commissionAsset,
			"time": t.time.UnixMilli(), "isBuyer": t.isBuyer, "isMaker": t.isMaker, "isBestMatch": true,
		})
	}
	return ok(out)
}

func (s *Server) accountInfo(c *call) reply {
	q := c.req
	omitZero := false
	if v, has := q.str("omitZeroBalances"); has {
		switch v {
		case "true":
			omitZero = true
		case "false":
		default:
			return fail(errInvalidParam("omitZeroBalances"))
		}
	}
	if aerr := q.signedDone(); aerr != nil {
		return fail(aerr)
	}
	a := c.acct
	assets := make([]string, 0, len(a.balances))
	for k := range a.balances {
		assets = append(assets, k)
	}
	sort.Strings(assets)
	bals := []map[string]string{}
	for _, k := range assets {
		b := a.balances[k]
		if omitZero && b.free.IsZero() && b.locked.IsZero() {
			continue
		}
		bals = append(bals, map[string]string{"asset": k, "free": fmt8(b.free), "locked": fmt8(b.locked)})
	}
	bps := s.commission.Mul(decimal.NewFromInt(10000)).IntPart()
	return ok(map[string]any{
		"makerCommission": bps, "takerCommission": bps, "buyerCommission": 0, "sellerCommission": 0,
		"commissionRates": commissionMap(s.commission, s.commission), "canTrade": !a.cfg.TradingDisabled,
		"canWithdraw": true, "canDeposit": true, "brokered": false,
		"requireSelfTradePrevention": false, "preventSor": false,
		"updateTime": c.now.UnixMilli(), "accountType": "SPOT",
		"balances": bals, "permissions": []string{"SPOT"}, "uid": 354937868,
	})
}

// apiRestrictions answers GET /sapi/v1/account/apiRestrictions (wallet docs, "Get API Key
// Permission", weight 1): the key's scopes, with the account's Account.EnableWithdrawals and
// IPRestrict; spot trading is enabled unless the account is TradingDisabled.
func (s *Server) apiRestrictions(c *call) reply {
	if aerr := c.req.signedDone(); aerr != nil {
		return fail(aerr)
	}
	a := c.acct
	return ok(map[string]any{
		"ipRestrict": a.cfg.IPRestrict, "createTime": 1623840271000, "enableReading": true,
		"enableWithdrawals": a.cfg.EnableWithdrawals, "enableInternalTransfer": false, "enableMargin": false,
		"enableFutures": false, "permitsUniversalTransfer": false, "enableVanillaOptions": false,
		"enableFixApiTrade": false, "enableFixReadOnly": true,
		"enableSpotAndMarginTrading": !a.cfg.TradingDisabled, "enablePortfolioMarginTrading": false,
		"tradingAuthorityExpirationTime": 0,
	})
}

// commissionRates answers GET /api/v3/account/commission (rest-api.md "Query Commission Rates"):
// the simulator charges CommissionRate as maker and taker on every fill, in the asset
// received, with no tax, no special commission and no BNB discount.
func (s *Server) commissionRates(c *call) reply {
	m, aerr := s.symbolOnly(c.req)
	if aerr != nil {
		return fail(aerr)
	}
	return ok(map[string]any{
		"symbol":             m.sym.Name,
		"standardCommission": commissionMap(s.commission, s.commission),
		"specialCommission":  commissionMap(zero, zero),
		"taxCommission":      commissionMap(zero, zero),
		"discount": map[string]any{"enabledForAccount": false, "enabledForSymbol": false,
			"discountAsset": "BNB", "discount": "0.75000000"},
	})
}

// commissionMap is a set of commission rates as Binance prints them; buyer and seller are zero.
func commissionMap(maker, taker decimal.Decimal) map[string]string {
	return map[string]string{"maker": fmt8(maker), "taker": fmt8(taker), "buyer": fmt8(zero), "seller": fmt8(zero)}
}

func (s *Server) rateLimitOrder(c *call) reply {
	q := c.req
	if aerr := q.signedDone(); aerr != nil {
		return fail(aerr)
	}
	a := c.acct
	return ok([]map[string]any{
		{"rateLimitType": "ORDERS", "interval": s.limits.orders10s.name, "intervalNum": s.limits.orders10s.num,
			"limit": s.limits.orders10sLimit, "count": a.orders10s.at(c.now)},
		{"rateLimitType": "ORDERS", "interval": s.limits.ordersDay.name, "intervalNum": s.limits.ordersDay.num,
			"limit": s.limits.ordersDayLimit, "count": a.ordersDay.at(c.now)},
	})
}

// Order JSON, in the shapes of rest-api.md.

func (o *order) base() map[string]any {
	return map[string]any{
		"symbol": o.m.sym.Name, "orderId": o.id, "orderListId": -1, "clientOrderId": o.clientID,
		"price": fmt8(o.price), "origQty": fmt8(o.origQty), "executedQty": fmt8(o.executed),
		"origQuoteOrderQty": fmt8(o.origQuoteQty), "cummulativeQuoteQty": fmt8(o.cumQuote),
		"status": o.status, "timeInForce": o.tif, "type": o.typ, "side": o.side,
		"selfTradePreventionMode": "NONE",
	}
}

// placed is the POST /api/v3/order answer for ACK, RESULT or FULL.
func (o *order) placed(respType string) map[string]any {
	if respType == "ACK" {
		return map[string]any{"symbol": o.m.sym.Name, "orderId": o.id, "orderListId": -1,
			"clientOrderId": o.clientID, "transactTime": o.created.UnixMilli()}
	}
	out := o.base()
	out["transactTime"] = o.created.UnixMilli()
	out["workingTime"] = o.created.UnixMilli()
	if respType == "FULL" {
		fills := []map[string]any{}
		for _, t := range o.fills {
			fills = append(fills, map[string]any{"price": fmt8(t.price), "qty": fmt8(t.qty),
				"commission": fmt8(t.commission), "commissionAsset": t.commissionAsset, "tradeId": t.id})
		}
		out["fills"] = fills
	}
	return out
}

// queried is the GET /api/v3/order (and openOrders, allOrders) shape.
func (o *order) queried() map[string]any {
	out := o.base()
	out["time"] = o.created.UnixMilli()
	out["updateTime"] = o.updated.UnixMilli()
	out["isWorking"] = true
	out["workingTime"] = o.created.UnixMilli()
	return out
}

// canceled is the DELETE /api/v3/order shape.
func (o *order) canceled(cancelID string, now time.Time) map[string]any {
	out := o.base()
	out["origClientOrderId"] = o.clientID
	out["clientOrderId"] = cancelID
	out["transactTime"] = now.UnixMilli()
	return out
}
