package sim

import "net/http"

// POST /api/v3/order/cancelReplace and the WebSocket API's order.cancelReplace (rest-api.md
// "Cancel an Existing Order and Send a New Order", web-socket-api.md "Cancel and replace
// order"): weight 1, 0 when successful (CHANGELOG 2026-03-27). The new order's parameters
// and filters are order.place's and are checked first, with the unfilled order count, before
// anything is canceled; then the cancel, then (unless STOP_ON_FAILURE and the cancel failed)
// the new order. Answers follow the docs' table:
//
//	both succeed                       200 {cancelResult, newOrderResult, cancelResponse, newOrderResponse}
//	one fails (ALLOW_FAILURE, or the   409 -2021 "Order cancel-replace partially failed." with that
//	new order after a cancel)              object as data, the failed half as {code, msg}
//	cancel fails, STOP_ON_FAILURE      400 -2022 "Order cancel-replace failed.", newOrderResult
//	                                       NOT_ATTEMPTED (the unfilled order count still grows)
//	both fail                          400 -2022
//	ORDERS exceeded, DO_NOTHING        429 -1015, nothing canceled
//	ORDERS exceeded, CANCEL_ONLY       the cancel runs; 429 with -2021 or -2022 and the new
//	                                       order's -1015 in data
//
// Not served: order lists (the simulator has none), pegged orders (refused as order.place
// refuses them).

func (s *Server) cancelReplace(c *call) reply {
	q := c.req
	mode, aerr := q.mandatory("cancelReplaceMode")
	if aerr != nil {
		return fail(aerr)
	}
	if mode != "STOP_ON_FAILURE" && mode != "ALLOW_FAILURE" {
		return fail(errInvalidParam("cancelReplaceMode"))
	}
	cancelID, hasID, aerr := q.longParam("cancelOrderId")
	if aerr != nil {
		return fail(aerr)
	}
	cancelClID, hasClID := q.str("cancelOrigClientOrderId")
	if hasClID && cancelClID == "" {
		return fail(errEmptyOrigClID())
	}
	if !hasID && !hasClID {
		return fail(errEitherParam("cancelOrigClientOrderId", "cancelOrderId"))
	}
	cancelNew, hasNew := q.str("cancelNewClientOrderId")
	if hasNew && !reClOrdID.MatchString(cancelNew) {
		return fail(errIllegalChars("cancelNewClientOrderId", legalClOrdID))
	}
	restriction, hasRestriction := q.str("cancelRestrictions")
	if hasRestriction && restriction != "ONLY_NEW" && restriction != "ONLY_PARTIALLY_FILLED" {
		return fail(errf(http.StatusBadRequest, -1145, "Invalid cancelRestrictions"))
	}
	limitMode := "DO_NOTHING"
	if v, ok := q.str("orderRateLimitExceededMode"); ok {
		if v != "DO_NOTHING" && v != "CANCEL_ONLY" {
			return fail(errInvalidParam("orderRateLimitExceededMode"))
		}
		limitMode = v
	}
	sp, aerr := s.orderParams(c)
	if aerr != nil {
		return fail(aerr)
	}
	a := c.acct
	if a.cfg.TradingDisabled {
		return fail(errOrderRejected(msgTradingDisabled))
	}
	var overLimit *apiError
	if a.orders10s.at(c.now) >= s.limits.orders10sLimit {
		overLimit = errTooManyOrders(s.limits.orders10sLimit, s.limits.orders10s.per())
		c.setRetry(retryAfter(c.now, a.orders10s.end()))
	} else if a.ordersDay.at(c.now) >= s.limits.ordersDayLimit {
		overLimit = errTooManyOrders(s.limits.ordersDayLimit, s.limits.ordersDay.per())
		c.setRetry(retryAfter(c.now, a.ordersDay.end()))
	}
	if overLimit != nil && limitMode == "DO_NOTHING" {
		return fail(overLimit)
	}

	data := map[string]any{"cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED", "newOrderResponse": nil}
	o, match := a.find(sp.m, cancelID, hasID, cancelClID)
	switch {
	case o == nil || !match || !o.live():
		data["cancelResponse"] = errCancelRejected(msgUnknownOrder)
	case restriction == "ONLY_PARTIALLY_FILLED":
		// Every live order here is NEW (an order fills whole).
		data["cancelResponse"] = errCancelRejected("Order was not canceled due to cancel restrictions.")
	default:
		if !hasNew {
			cancelNew = s.genClientID()
		}
		s.finish(o, statusCanceled, c.now)
		data["cancelResult"], data["cancelResponse"] = "SUCCESS", o.canceled(cancelNew, c.now, q)
	}
	canceled := data["cancelResult"] == "SUCCESS"
	switch {
	case overLimit != nil:
		data["newOrderResult"], data["newOrderResponse"] = "FAILURE", overLimit
	case canceled || mode == "ALLOW_FAILURE":
		if sp.clientID == "" {
			sp.clientID = s.genClientID()
		}
		placed, perr := s.place(a, sp, c.now)
		if perr != nil {
			data["newOrderResult"], data["newOrderResponse"] = "FAILURE", perr
		} else {
			c.ep.OrdersCreated++
			s.stats.total.OrdersCreated++
			data["newOrderResult"], data["newOrderResponse"] = "SUCCESS", placed.placed(sp.respType, q)
		}
	default:
		// "If new order placement is not attempted, your order count is still incremented."
		a.orders10s.at(c.now)
		a.ordersDay.at(c.now)
		a.orders10s.count++
		a.ordersDay.count++
	}
	placed := data["newOrderResult"] == "SUCCESS"
	status := http.StatusBadRequest
	if overLimit != nil {
		status = http.StatusTooManyRequests
	}
	switch {
	case canceled && placed:
		return ok(data)
	case canceled || placed:
		if overLimit == nil {
			status = http.StatusConflict
		}
		e := errf(status, -2021, "Order cancel-replace partially failed.")
		e.Data = data
		return fail(e)
	default:
		e := errf(status, -2022, "Order cancel-replace failed.")
		e.Data = data
		return fail(e)
	}
}

// orderTestWeight: 1, or 20 with computeCommissionRates (rest-api.md "Test new order").
func orderTestWeight(q *request) int64 {
	if q.values["computeCommissionRates"] == "true" {
		return 20
	}
	return 1
}
