package sim

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Coinbase's order endpoints over the shared engine.
//
// POST /orders reads client_order_id (required, at most 128 characters: the changelog's
// bound), product_id, side and one order_configuration: market_market_ioc {base_size |
// quote_size}, limit_limit_gtc {base_size, limit_price, post_only}, limit_limit_fok and
// sor_limit_ioc {base_size, limit_price}. A client_order_id any order of the account ever
// had creates nothing: the answer is success with the original order_id, the other fields
// echoing the request (what live Coinbase does; its lifetime is undocumented, here forever).
// A refusal is HTTP 200 with success:false and error_response; which reason each engine
// refusal becomes is one table (cbEngineErrors).
//
// Orders are applied before the answer, so a read right after sees them. Order ids are
// UUID-shaped and carry the engine's id.

// cbFailure is one order refusal: error_response's fields.
type cbFailure struct {
	newOrder, preview, message string
}

// cbEngineErrors turns the engine's Binance-coded refusals into Coinbase's reasons.
var cbEngineErrors = []struct {
	code int
	msg  string
	to   cbFailure
}{
	{-2010, msgInsufficient, cbFailure{"INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND", "Insufficient balance in source account"}},
	{-2010, msgWouldTake, cbFailure{"INVALID_LIMIT_PRICE_POST_ONLY", "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY", "Limit price would match immediately for a post-only order"}},
	{-1013, "Filter failure: PRICE_FILTER", cbFailure{"INVALID_PRICE_PRECISION", "PREVIEW_INVALID_PRICE_PRECISION", "Price is not a multiple of the quote increment"}},
	{-1013, "Filter failure: LOT_SIZE", cbFailure{"INVALID_SIZE_PRECISION", "PREVIEW_INVALID_SIZE_PRECISION", "Size is not a multiple of the base increment"}},
	{-1013, "Filter failure: NOTIONAL", cbFailure{"UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL", "Order value is below the product's minimum"}},
}

func cbFromEngine(e *apiError) cbFailure {
	for _, row := range cbEngineErrors {
		if row.code == e.Code && row.msg == e.Msg {
			return row.to
		}
	}
	return cbFailure{"UNKNOWN_FAILURE_REASON", "", e.Msg}
}

// cbOrderID is the UUID-shaped id of engine order id.
func cbOrderID(id int64) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", id) }

// CoinbaseOrderID is the order_id the coinbase dialect gives the engine's order id (an
// OrderRecord's OrderID).
func CoinbaseOrderID(id int64) string { return cbOrderID(id) }

// cbParseOrderID reads an engine order id back; false for anything else.
func cbParseOrderID(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "00000000-0000-4000-8000-")
	if !ok || len(rest) != 12 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 16, 64)
	return n, err == nil
}

// cbFail answers a refused create: HTTP 200, success false.
func cbFail(f cbFailure, conf any) coinbaseReply {
	errName := f.newOrder
	if errName == "UNKNOWN_FAILURE_REASON" && f.preview != "" {
		errName = f.preview
	}
	return cbOK(map[string]any{"success": false, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
		"error_response": map[string]string{"error": errName, "message": f.message, "error_details": f.message,
			"preview_failure_reason": f.preview, "new_order_failure_reason": f.newOrder},
		"order_configuration": conf})
}

// cbDecimal reads a positive decimal string.
func cbDecimal(v string) (decimal.Decimal, bool) {
	if v == "" || !reDecimal.MatchString(v) {
		return decimal.Zero, false
	}
	d, err := decimal.NewFromString(v)
	return d, err == nil && d.IsPositive()
}

// cbOrderSpec validates a create's body.
// requires that s.mu is held.
func (s *Server) cbOrderSpec(c *coinbaseCall) (orderSpec, *cbFailure, *coinbaseReply) {
	body := c.req.body
	var sp orderSpec
	fail := func(newOrder, preview, msg string) (orderSpec, *cbFailure, *coinbaseReply) {
		return sp, &cbFailure{newOrder, preview, msg}, nil
	}
	pid, _ := bstr(body, "product_id")
	m, ok := c.cb.products[pid]
	if !ok {
		return fail("INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID", "ProductID is invalid")
	}
	sp.m = m
	switch side, _ := bstr(body, "side"); side {
	case "BUY", "SELL":
		sp.side = side
	default:
		return fail("INVALID_SIDE", "PREVIEW_INVALID_SIDE", "Side is invalid")
	}
	conf, _ := body["order_configuration"].(map[string]any)
	if len(conf) != 1 {
		return fail("UNSUPPORTED_ORDER_CONFIGURATION", "", "exactly one order configuration is required")
	}
	var kind string
	for k := range conf {
		kind = k
	}
	get := func(k string) string { v, _ := bstr(conf, kind, k); return v }
	switch kind {
	case "market_market_ioc":
		sp.typ, sp.tif = "MARKET", "GTC"
		if qs := get("quote_size"); qs != "" {
			q, ok := cbDecimal(qs)
			if !ok {
				return fail("INVALID_REQUEST", "PREVIEW_INVALID_QUOTE_SIZE_PRECISION", "quote_size is invalid")
			}
			sp.quoteQty = q
			if !m.minNotional.IsZero() && q.LessThan(m.minNotional) {
				return fail("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL", "Order value is below the product's minimum")
			}
			return sp, nil, nil
		}
	case "limit_limit_gtc":
		sp.typ, sp.tif = "LIMIT", "GTC"
		if po, _ := bstr(conf, kind, "post_only"); po == "true" {
			sp.typ = "LIMIT_MAKER"
		}
	case "limit_limit_fok":
		sp.typ, sp.tif = "LIMIT", "FOK"
	case "sor_limit_ioc":
		sp.typ, sp.tif = "LIMIT", "IOC"
	default:
		return fail("UNSUPPORTED_ORDER_CONFIGURATION", "", "order configuration "+kind+" is not simulated")
	}
	qty, ok := cbDecimal(get("base_size"))
	if !ok {
		return fail("INVALID_REQUEST", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", "base_size is invalid")
	}
	switch {
	case !m.step.IsZero() && !qty.Mod(m.step).IsZero():
		return fail("INVALID_SIZE_PRECISION", "PREVIEW_INVALID_SIZE_PRECISION", "Size is not a multiple of the base increment")
	case !m.minQty.IsZero() && qty.LessThan(m.minQty):
		return fail("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", "Size is below the product's minimum")
	case !m.maxQty.IsZero() && qty.GreaterThan(m.maxQty):
		return fail("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_BASE_SIZE_TOO_LARGE", "Size is above the product's maximum")
	}
	sp.qty = qty
	notional := m.price().Mul(qty)
	if sp.typ != "MARKET" {
		price, ok := cbDecimal(get("limit_price"))
		if !ok {
			return fail("INVALID_LIMIT_PRICE", "PREVIEW_INVALID_LIMIT_PRICE", "limit_price is invalid")
		}
		if aerr := m.checkPrice(price); aerr != nil {
			f := cbFromEngine(aerr)
			if !m.tick.IsZero() && price.Mod(m.tick).IsZero() {
				f = cbFailure{"INVALID_LIMIT_PRICE", "PREVIEW_INVALID_LIMIT_PRICE", "Limit price is out of bounds"}
			}
			return sp, &f, nil
		}
		sp.price = price
		notional = price.Mul(qty)
	}
	if !m.minNotional.IsZero() && notional.LessThan(m.minNotional) {
		return fail("UNKNOWN_FAILURE_REASON", "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL", "Order value is below the product's minimum")
	}
	return sp, nil, nil
}

// cbMaxClientOrderID is client_order_id's longest length (changelog: 128 characters).
const cbMaxClientOrderID = 128

// cbCreateOrder is POST /orders.
func (s *Server) cbCreateOrder(c *coinbaseCall) coinbaseReply {
	body := c.req.body
	conf := body["order_configuration"]
	cid, _ := bstr(body, "client_order_id")
	switch {
	case cid == "":
		return cbInvalid("client_order_id is required")
	case len(cid) > cbMaxClientOrderID:
		return cbInvalid(fmt.Sprintf("client_order_id is longer than %d characters", cbMaxClientOrderID))
	}
	pid, _ := bstr(body, "product_id")
	side, _ := bstr(body, "side")
	// A repeated id is answered with the original order, whatever else the request says.
	for _, o := range c.acct.orders {
		if o.clientID == cid {
			return cbOK(map[string]any{"success": true, "order_id": cbOrderID(o.id),
				"success_response":    map[string]string{"order_id": cbOrderID(o.id), "product_id": pid, "side": side, "client_order_id": cid},
				"order_configuration": conf})
		}
	}
	sp, f, rep := s.cbOrderSpec(c)
	if rep != nil {
		return *rep
	}
	if f != nil {
		return cbFail(*f, conf)
	}
	if c.acct.cfg.TradingDisabled {
		return cbFail(cbFailure{"ORDER_ENTRY_DISABLED", "", "Order entry is disabled for this account"}, conf)
	}
	sp.clientID = cid
	o, aerr := s.place(c.acct, sp, c.now)
	if aerr != nil {
		return cbFail(cbFromEngine(aerr), conf)
	}
	c.ep.OrdersCreated++
	s.stats.total.OrdersCreated++
	return cbOK(map[string]any{"success": true, "order_id": cbOrderID(o.id),
		"success_response":    map[string]string{"order_id": cbOrderID(o.id), "product_id": pid, "side": side, "client_order_id": cid},
		"order_configuration": conf})
}

// cbFindByID finds an order of a by its order_id.
func cbFindByID(a *account, id string) *order {
	n, ok := cbParseOrderID(id)
	if !ok {
		return nil
	}
	for _, o := range a.orders {
		if o.id == n {
			return o
		}
	}
	return nil
}

// cbBatchCancel is POST /orders/batch_cancel {order_ids}: a result per id, HTTP 200 whatever
// each one's fate. An unknown id is UNKNOWN_CANCEL_ORDER; a filled order
// ORDER_IS_FULLY_FILLED; an order already cancelled or expired DUPLICATE_CANCEL_REQUEST (a
// guess: the docs list the reasons without saying when).
func (s *Server) cbBatchCancel(c *coinbaseCall) coinbaseReply {
	raw, _ := c.req.body["order_ids"].([]any)
	if len(raw) == 0 {
		return cbInvalid("order_ids is required")
	}
	if len(raw) > 100 {
		return cbInvalid("too many order_ids (at most 100)")
	}
	results := []map[string]any{}
	for _, v := range raw {
		id, _ := v.(string)
		res := map[string]any{"success": false, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": id}
		o := cbFindByID(c.acct, id)
		switch {
		case o == nil:
			res["failure_reason"] = "UNKNOWN_CANCEL_ORDER"
		case c.acct.cfg.TradingDisabled:
			res["failure_reason"] = "NOT_ALLOWED_TO_CANCEL"
		case o.status == statusFilled:
			res["failure_reason"] = "ORDER_IS_FULLY_FILLED"
		case !o.live():
			res["failure_reason"] = "DUPLICATE_CANCEL_REQUEST"
		default:
			s.finish(o, statusCanceled, c.now)
			res["success"] = true
		}
		results = append(results, res)
	}
	return cbOK(map[string]any{"results": results})
}

// cbStatus is an engine status in Coinbase's words.
func cbStatus(o *order) string {
	switch o.status {
	case statusNew:
		return "OPEN"
	case statusFilled:
		return "FILLED"
	case statusCanceled:
		return "CANCELLED"
	}
	return "EXPIRED"
}

// cbOrderJSON is one order (the spec's Order).
func cbOrderJSON(o *order, key string) map[string]any {
	tif, typ := "GOOD_UNTIL_CANCELLED", "LIMIT"
	var conf map[string]any
	switch {
	case o.typ == "MARKET":
		typ, tif = "MARKET", "IMMEDIATE_OR_CANCEL"
		c := map[string]string{}
		if o.origQuoteQty.IsPositive() {
			c["quote_size"] = o.origQuoteQty.String()
		} else {
			c["base_size"] = o.origQty.String()
		}
		conf = map[string]any{"market_market_ioc": c}
	case o.tif == "FOK":
		tif = "FILL_OR_KILL"
		conf = map[string]any{"limit_limit_fok": map[string]string{"base_size": o.origQty.String(), "limit_price": o.price.String()}}
	case o.tif == "IOC":
		tif = "IMMEDIATE_OR_CANCEL"
		conf = map[string]any{"sor_limit_ioc": map[string]string{"base_size": o.origQty.String(), "limit_price": o.price.String()}}
	default:
		conf = map[string]any{"limit_limit_gtc": map[string]any{"base_size": o.origQty.String(), "limit_price": o.price.String(),
			"post_only": o.typ == "LIMIT_MAKER"}}
	}
	avg, pct := decimal.Zero, decimal.Zero
	if o.executed.IsPositive() {
		avg = o.cumQuote.Div(o.executed).Round(int32(o.m.priceScale) + 2)
	}
	if o.origQty.IsPositive() {
		pct = o.executed.Div(o.origQty).Mul(decimal.NewFromInt(100)).Round(2)
	}
	fees := decimal.Zero
	for _, t := range o.fills {
		fees = fees.Add(cbQuoteCommission(t))
	}
	lastFill := ""
	if n := len(o.fills); n > 0 {
		lastFill = o.fills[n-1].time.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"order_id": cbOrderID(o.id), "product_id": CoinbaseProductID(o.m.sym), "user_id": key,
		"order_configuration": conf, "side": o.side, "client_order_id": o.clientID, "status": cbStatus(o),
		"time_in_force": tif, "created_time": o.created.UTC().Format(time.RFC3339Nano),
		"completion_percentage": pct.String(), "filled_size": o.executed.String(), "average_filled_price": avg.String(),
		"fee": "", "number_of_fills": strconv.Itoa(len(o.fills)), "filled_value": o.cumQuote.String(),
		"pending_cancel": false, "size_in_quote": o.origQuoteQty.IsPositive(), "total_fees": fees.String(),
		"size_inclusive_of_fees": false, "total_value_after_fees": o.cumQuote.String(), "trigger_status": "INVALID_ORDER_TYPE",
		"order_type": typ, "reject_reason": "", "settled": !o.live(), "product_type": "SPOT", "reject_message": "",
		"cancel_message": "", "order_placement_source": "RETAIL_ADVANCED", "outstanding_hold_amount": o.locked.String(),
		"is_liquidation": false, "last_fill_time": lastFill, "edit_history": []any{}, "leverage": "",
		"margin_type": "UNKNOWN_MARGIN_TYPE", "retail_portfolio_id": cbPortfolio,
	}
}

// cbQuoteCommission is a fill's commission in the quote currency, as Coinbase charges it (the
// engine charges a buy in the base asset received; its value at the fill's price is shown).
func cbQuoteCommission(t *trade) decimal.Decimal {
	if t.isBuyer {
		return t.commission.Mul(t.price).Round(8)
	}
	return t.commission
}

// cbGetOrder is GET /orders/historical/{order_id}; an unknown id is 404 NOT_FOUND.
func (s *Server) cbGetOrder(c *coinbaseCall) coinbaseReply {
	o := cbFindByID(c.acct, c.req.params["order_id"])
	if o == nil {
		return cbError(http.StatusNotFound, "NOT_FOUND", "order with this orderID was not found")
	}
	return cbOK(map[string]any{"order": cbOrderJSON(o, c.acct.cfg.APIKey)})
}

// cbPage reads limit (default and at most 1000 for orders, a guess for the default) and the
// cursor (an offset, opaque to clients).
func cbPage(q *coinbaseRequest, def, most int) (limit, start int, rep *coinbaseReply) {
	limit = def
	if v := q.qstr("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			r := cbInvalid("limit: invalid value")
			return 0, 0, &r
		}
		if n > 0 {
			limit = min(n, most)
		}
	}
	if v := q.qstr("cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			r := cbInvalid("cursor: invalid value")
			return 0, 0, &r
		}
		start = n
	}
	return limit, start, nil
}

// cbListOrders is GET /orders/historical/batch: newest first, filtered by order_ids,
// product_ids, order_status (repeated), order_side, client_order_id is NOT a filter (the
// spec has none; unknown parameters are ignored).
func (s *Server) cbListOrders(c *coinbaseCall) coinbaseReply {
	q := c.req
	limit, start, rep := cbPage(q, 1000, 1000)
	if rep != nil {
		return *rep
	}
	set := func(name string) map[string]bool {
		m := map[string]bool{}
		for _, v := range q.qlist(name) {
			m[v] = true
		}
		return m
	}
	ids, products, statuses := set("order_ids"), set("product_ids"), set("order_status")
	if pid := q.qstr("product_id"); pid != "" {
		products[pid] = true // the deprecated singular form
	}
	side := q.qstr("order_side")
	var list []*order
	for _, o := range c.acct.orders {
		switch {
		case len(ids) > 0 && !ids[cbOrderID(o.id)],
			len(products) > 0 && !products[CoinbaseProductID(o.m.sym)],
			len(statuses) > 0 && !statuses[cbStatus(o)],
			side != "" && o.side != side:
			continue
		}
		list = append(list, o)
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].id > list[j].id })
	out := []map[string]any{}
	end := min(start+limit, len(list))
	for i := start; i < end; i++ {
		out = append(out, cbOrderJSON(list[i], c.acct.cfg.APIKey))
	}
	cursor := ""
	if end < len(list) {
		cursor = strconv.Itoa(end)
	}
	return cbOK(map[string]any{"orders": out, "sequence": "0", "has_next": cursor != "", "cursor": cursor})
}

// cbListFills is GET /orders/historical/fills: newest first, filtered by order_ids and
// product_ids; trade_id is the engine's trade id in decimal.
func (s *Server) cbListFills(c *coinbaseCall) coinbaseReply {
	q := c.req
	limit, start, rep := cbPage(q, 100, 1000)
	if rep != nil {
		return *rep
	}
	ids, products := map[string]bool{}, map[string]bool{}
	for _, v := range q.qlist("order_ids") {
		ids[v] = true
	}
	if v := q.qstr("order_id"); v != "" {
		ids[v] = true
	}
	for _, v := range q.qlist("product_ids") {
		products[v] = true
	}
	if v := q.qstr("product_id"); v != "" {
		products[v] = true
	}
	type fill struct {
		t *trade
		o *order
	}
	var list []fill
	for _, o := range c.acct.orders {
		if len(ids) > 0 && !ids[cbOrderID(o.id)] || len(products) > 0 && !products[CoinbaseProductID(o.m.sym)] {
			continue
		}
		for _, t := range o.fills {
			list = append(list, fill{t, o})
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].t.id > list[j].t.id })
	out := []map[string]any{}
	end := min(start+limit, len(list))
	for _, f := range list[min(start, end):end] {
		liq := "TAKER"
		if f.t.isMaker {
			liq = "MAKER"
		}
		ts := f.t.time.UTC().Format(time.RFC3339Nano)
		out = append(out, map[string]any{
			"entry_id": fmt.Sprintf("00000000-0000-4000-9000-%012x", f.t.id), "trade_id": strconv.FormatInt(f.t.id, 10),
			"order_id": cbOrderID(f.o.id), "trade_time": ts, "trade_type": "FILL", "price": f.t.price.String(),
			"size": f.t.qty.String(), "commission": cbQuoteCommission(f.t).String(), "product_id": CoinbaseProductID(f.o.m.sym),
			"sequence_timestamp": ts, "liquidity_indicator": liq, "size_in_quote": false, "user_id": c.acct.cfg.APIKey,
			"side": f.o.side, "retail_portfolio_id": cbPortfolio,
		})
	}
	cursor := ""
	if end < len(list) {
		cursor = strconv.Itoa(end)
	}
	return cbOK(map[string]any{"fills": out, "cursor": cursor})
}
