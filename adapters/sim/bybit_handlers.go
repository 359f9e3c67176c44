package sim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Bybit's public and account endpoints, in the shapes of docs/v5/market/*.mdx,
// docs/v5/account/*.mdx and docs/v5/user/apikey-info.mdx (spot fields only).

// bybitSpot checks category=spot. The simulator serves the spot category only.
func bybitSpot(q *bybitRequest) *bybitReply {
	c, ok := q.str("category")
	switch {
	case !ok || c == "":
		r := bybitErr(181000, "category is null")
		return &r
	case c != "spot":
		r := bybitErr(181001, "category only support spot in the simulator")
		return &r
	}
	return nil
}

// bybitMarket reads a symbol parameter; required says whether it must be there. An unknown
// symbol is 10001 "Not supported symbols" on market and account endpoints.
// requires that s.mu is held.
func (s *Server) bybitMarket(q *bybitRequest, required bool) (*market, *bybitReply) {
	name, ok := q.str("symbol")
	if !ok || name == "" {
		if required {
			r := bybitErr(10001, "params error: symbol is required")
			return nil, &r
		}
		return nil, nil
	}
	m, ok := s.markets[name]
	if !ok {
		r := bybitErr(10001, "Not supported symbols")
		return nil, &r
	}
	return m, nil
}

// bybitInt reads an optional integer parameter in [lo, hi] (def when absent).
func bybitInt(q *bybitRequest, name string, lo, hi, def int64) (int64, *bybitReply) {
	v, ok := q.str(name)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		r := bybitErr(10001, fmt.Sprintf("params error: %s must be an integer in [%d, %d]", name, lo, hi))
		return 0, &r
	}
	return n, nil
}

func (s *Server) bybitTime(c *bybitCall) bybitReply {
	ns := c.now.UnixNano()
	return bybitOK(map[string]string{"timeSecond": strconv.FormatInt(ns/1e9, 10), "timeNano": strconv.FormatInt(ns, 10)})
}

func (s *Server) bybitInstruments(c *bybitCall) bybitReply {
	if r := bybitSpot(c.req); r != nil {
		return *r
	}
	names := s.marketOrder
	if sym, ok := c.req.str("symbol"); ok && sym != "" {
		names = nil
		if _, listed := s.markets[sym]; listed {
			names = []string{sym}
		}
	}
	list := []map[string]any{}
	for i, n := range names {
		m := s.markets[n]
		list = append(list, map[string]any{
			"symbol": n, "symbolId": i + 1, "baseCoin": m.sym.Base, "quoteCoin": m.sym.Quote, "innovation": "0",
			"status": "Trading", "marginTrading": "none", "stTag": "0", "symbolType": "",
			"lotSizeFilter": map[string]string{
				"basePrecision": m.step.String(), "quotePrecision": "0.00000001",
				"minOrderQty": m.minQty.String(), "maxOrderQty": m.maxQty.String(),
				"minOrderAmt": m.minNotional.String(), "maxOrderAmt": m.maxNotional.String(),
				"maxLimitOrderQty": m.maxQty.String(), "maxMarketOrderQty": m.maxQty.String(),
				"postOnlyMaxLimitOrderSize": m.maxQty.String(),
			},
			"priceFilter":    map[string]string{"tickSize": m.tick.String()},
			"riskParameters": map[string]string{"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
		})
	}
	return bybitOK(map[string]any{"category": "spot", "list": list})
}

func (s *Server) bybitTickers(c *bybitCall) bybitReply {
	if r := bybitSpot(c.req); r != nil {
		return *r
	}
	m, r := s.bybitMarket(c.req, false)
	if r != nil {
		return *r
	}
	names := s.marketOrder
	if m != nil {
		names = []string{m.sym.Name}
	}
	list := []map[string]string{}
	for _, n := range names {
		m := s.markets[n]
		bids, asks := m.book(1)
		t := map[string]string{"symbol": n, "lastPrice": m.price().String(), "bid1Price": "", "bid1Size": "",
			"ask1Price": asks[0][0], "ask1Size": asks[0][1], "prevPrice24h": m.price().String(), "price24hPcnt": "0",
			"highPrice24h": m.price().String(), "lowPrice24h": m.price().String(), "turnover24h": "0", "volume24h": "0",
			"usdIndexPrice": m.price().String()}
		if len(bids) > 0 {
			t["bid1Price"], t["bid1Size"] = bids[0][0], bids[0][1]
		}
		list = append(list, t)
	}
	return bybitOK(map[string]any{"category": "spot", "list": list})
}

// bybitOrderbook: spot limit [1, 1000], default 1 (orderbook.mdx since 2026-05-18).
func (s *Server) bybitOrderbook(c *bybitCall) bybitReply {
	if r := bybitSpot(c.req); r != nil {
		return *r
	}
	m, r := s.bybitMarket(c.req, true)
	if r != nil {
		return *r
	}
	limit, r := bybitInt(c.req, "limit", 1, 1000, 1)
	if r != nil {
		return *r
	}
	bids, asks := m.book(int(limit))
	s.stats.depth[m.sym.Name]++
	ms := c.now.UnixMilli()
	return bybitOK(map[string]any{"s": m.sym.Name, "b": bids, "a": asks, "ts": ms, "u": m.updateID, "seq": m.updateID, "cts": ms})
}

// bybitWallet is GET /v5/account/wallet-balance: accountType UNIFIED only; coin filters
// (comma-separated); without it only non-zero coins are listed. walletBalance is free plus
// locked, locked the funds held by open spot orders.
func (s *Server) bybitWallet(c *bybitCall) bybitReply {
	if t, _ := c.req.str("accountType"); t != "UNIFIED" {
		return bybitErr(10001, "accountType only support UNIFIED")
	}
	a := c.acct
	var coins []string
	if v, ok := c.req.str("coin"); ok && v != "" {
		coins = strings.Split(v, ",")
	} else {
		for k, b := range a.balances {
			if !b.free.IsZero() || !b.locked.IsZero() {
				coins = append(coins, k)
			}
		}
		sort.Strings(coins)
	}
	list := []map[string]any{}
	for _, k := range coins {
		b := a.bal(k)
		total := b.free.Add(b.locked).String()
		list = append(list, map[string]any{
			"coin": k, "equity": total, "usdValue": "", "walletBalance": total, "locked": b.locked.String(),
			"spotBorrow": "0", "borrowAmount": "0", "availableToWithdraw": "", "availableToBorrow": "",
			"accruedInterest": "0", "totalOrderIM": "0", "totalPositionIM": "0", "totalPositionMM": "0",
			"unrealisedPnl": "0", "cumRealisedPnl": "0", "bonus": "0", "marginCollateral": true, "collateralSwitch": true,
		})
	}
	return bybitOK(map[string]any{"list": []map[string]any{{"accountType": "UNIFIED", "totalEquity": "",
		"totalWalletBalance": "", "totalAvailableBalance": "", "coin": list}}})
}

// bybitFeeRate is GET /v5/account/fee-rate: the simulator's CommissionRate as maker and taker.
func (s *Server) bybitFeeRate(c *bybitCall) bybitReply {
	if r := bybitSpot(c.req); r != nil {
		return *r
	}
	m, r := s.bybitMarket(c.req, false)
	if r != nil {
		return *r
	}
	names := s.marketOrder
	if m != nil {
		names = []string{m.sym.Name}
	}
	list := []map[string]string{}
	for _, n := range names {
		list = append(list, map[string]string{"symbol": n, "baseCoin": "", "takerFeeRate": s.commission.String(), "makerFeeRate": s.commission.String()})
	}
	return bybitOK(map[string]any{"category": "spot", "list": list})
}

// bybitQueryAPI is GET /v5/user/query-api. An account whose trading the admin API disabled
// shows as a read-only key without SpotTrade (a guess: Bybit documents no account-level
// trading flag), and its orders are refused with 10027.
func (s *Server) bybitQueryAPI(c *bybitCall) bybitReply {
	a := c.acct
	readOnly, spot := 0, []string{"SpotTrade"}
	if a.cfg.TradingDisabled {
		readOnly, spot = 1, []string{}
	}
	uid := 1000000
	for i, x := range s.acctOrder {
		if x == a {
			uid += i
		}
	}
	return bybitOK(map[string]any{
		"id": strconv.Itoa(uid), "note": "keel-sim", "apiKey": a.cfg.APIKey, "readOnly": readOnly, "secret": "",
		"permissions": map[string][]string{"ContractTrade": {}, "Spot": spot, "Wallet": {}, "Options": {},
			"Derivatives": {}, "Exchange": {}, "Earn": {}, "NFT": {}, "CopyTrading": {}, "BlockTrade": {}, "Affiliate": {}},
		"ips": []string{"*"}, "type": 1, "deadlineDay": -2, "expiredAt": "1970-01-01T00:00:00Z",
		"createdAt": "2026-01-01T00:00:00Z", "unified": 0, "uta": 1, "userID": uid, "inviterID": 0,
		"vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": true,
		"parentUid": "0", "kycLevel": "LEVEL_DEFAULT", "kycRegion": "",
	})
}

// bybitIDBase and bybitExecBase turn the engine's small ids into ids shaped like Bybit's
// spot ids (19-digit decimal strings).
const (
	bybitIDBase   = 1_800_000_000_000_000_000
	bybitExecBase = 2_100_000_000_000_000_000
)

func bybitOrderID(o *order) string { return strconv.FormatInt(bybitIDBase+o.id, 10) }

// bybitOrderJSON is an order in the shape of /v5/order/realtime and /v5/order/history.
func bybitOrderJSON(o *order) map[string]any {
	status, cancelType, reject := "New", "UNKNOWN", "EC_NoError"
	switch o.status {
	case statusFilled:
		status = "Filled"
	case statusCanceled:
		status, cancelType = "Cancelled", "CancelByUser"
		if o.executed.IsPositive() {
			status = "PartiallyFilledCanceled"
		}
	case statusExpired:
		status, reject = "Cancelled", "EC_CancelForNoFullFill"
	}
	typ, tif, unit := "Limit", o.tif, ""
	qty, price := o.origQty, o.price
	switch o.typ {
	case "LIMIT_MAKER":
		tif = "PostOnly"
	case "MARKET":
		typ, tif, unit, price = "Market", "IOC", "baseCoin", decimal.Zero
		if o.origQuoteQty.IsPositive() {
			unit, qty = "quoteCoin", o.origQuoteQty
		}
	}
	leaves, leavesValue := decimal.Zero, decimal.Zero
	if o.live() {
		leaves = o.origQty.Sub(o.executed)
		leavesValue = leaves.Mul(o.price)
	}
	avg := ""
	if o.executed.IsPositive() {
		avg = o.cumQuote.Div(o.executed).String()
	}
	fee, feeDetail := decimal.Zero, map[string]string{}
	for _, t := range o.fills {
		fee = fee.Add(t.commission)
		prev, _ := decimal.NewFromString(feeDetail[t.commissionAsset])
		feeDetail[t.commissionAsset] = prev.Add(t.commission).String()
	}
	side := "Buy"
	if o.side == "SELL" {
		side = "Sell"
	}
	return map[string]any{
		"orderId": bybitOrderID(o), "orderLinkId": o.clientID, "blockTradeId": "", "symbol": o.m.sym.Name,
		"price": price.String(), "qty": qty.String(), "side": side, "isLeverage": "0", "positionIdx": 0,
		"orderStatus": status, "cancelType": cancelType, "rejectReason": reject, "avgPrice": avg,
		"leavesQty": leaves.String(), "leavesValue": leavesValue.String(), "cumExecQty": o.executed.String(),
		"cumExecValue": o.cumQuote.String(), "cumExecFee": fee.String(), "cumFeeDetail": feeDetail,
		"timeInForce": tif, "orderType": typ, "stopOrderType": "", "orderIv": "", "marketUnit": unit,
		"triggerPrice": "0", "takeProfit": "0", "stopLoss": "0", "tpLimitPrice": "0", "slLimitPrice": "0",
		"triggerBy": "", "tpTriggerBy": "", "slTriggerBy": "", "triggerDirection": 0, "reduceOnly": false,
		"closeOnTrigger": false, "placeType": "", "smpType": "None", "smpGroup": 0, "smpOrderId": "",
		"basePrice": "", "createdTime": strconv.FormatInt(o.created.UnixMilli(), 10),
		"updatedTime": strconv.FormatInt(o.updated.UnixMilli(), 10),
	}
}

// bybitPage cuts xs at cursor (an offset, as the simulator spells its cursors) for limit
// items and returns the next cursor ("" at the end).
func bybitPage[T any](q *bybitRequest, xs []T, limit int64) ([]T, string, *bybitReply) {
	from := 0
	if cur, ok := q.str("cursor"); ok && cur != "" {
		n, err := strconv.Atoi(cur)
		if err != nil || n < 0 {
			r := bybitErr(10001, "params error: cursor is invalid")
			return nil, "", &r
		}
		from = min(n, len(xs))
	}
	to := min(from+int(limit), len(xs))
	next := ""
	if to < len(xs) {
		next = strconv.Itoa(to)
	}
	return xs[from:to], next, nil
}

// bybitTimeRange reads startTime and endTime (ms): by default the last span; a range
// longer than span is 10001 (order-list.mdx, execution.mdx: "range ≤ 7 days"). span is
// divided by the time scale.
func (s *Server) bybitTimeRange(q *bybitRequest, now time.Time, span time.Duration) (time.Time, time.Time, *bybitReply) {
	span = s.scaled(span)
	st, r := bybitInt(q, "startTime", 0, 1<<62, 0)
	if r != nil {
		return time.Time{}, time.Time{}, r
	}
	et, r := bybitInt(q, "endTime", 0, 1<<62, 0)
	if r != nil {
		return time.Time{}, time.Time{}, r
	}
	end, start := now, now.Add(-span)
	switch {
	case st > 0 && et > 0:
		start, end = time.UnixMilli(st), time.UnixMilli(et)
	case st > 0:
		start, end = time.UnixMilli(st), time.UnixMilli(st).Add(span)
	case et > 0:
		start, end = time.UnixMilli(et).Add(-span), time.UnixMilli(et)
	}
	if end.Sub(start) > span || end.Before(start) {
		r := bybitErr(10001, "params error: the time range must be within 7 days")
		return time.Time{}, time.Time{}, &r
	}
	return start, end, nil
}
