package sim

import "net/http"

// POST /api/v3/order/cancelReplace (rest-api.md "Cancel an Existing Order and Send a New
// Order", weight 1, unfilled order count 1): the new order's parameters are checked first
// (filters, then nothing is cancelled when they fail); then the cancel (cancelOrderId or
// cancelOrigClientOrderId, cancelNewClientOrderId, cancelRestrictions) and, unless it failed
// under cancelReplaceMode STOP_ON_FAILURE, the placement. Both succeeded: 200 with
// cancelResult and newOrderResult SUCCESS and both answers. Otherwise the error carries the
// same fields under "data": 409 -2021 when one of the two succeeded, 400 -2022 when neither did
// (newOrderResult NOT_ATTEMPTED after a failed cancel under STOP_ON_FAILURE, which still counts
// as an unfilled order, as documented). Which answer
// shapes the failed half takes ({"code","msg"}) follows the docs' examples.
func (s *Server) cancelReplace(c *call) reply {
	q := c.req
	mode, aerr := q.mandatory("cancelReplaceMode")
	if aerr != nil {
		return fail(aerr)
	}
	if mode != "STOP_ON_FAILURE" && mode != "ALLOW_FAILURE" {
		return fail(errInvalidParam("cancelReplaceMode"))
	}
	cancelVals := map[string]string{}
	newVals := map[string]string{}
	for k, v := range q.values {
		switch k {
		case "cancelReplaceMode", "signature", "apiKey": // apiKey: the WebSocket API's auth
		case "cancelOrderId":
			cancelVals["orderId"] = v
		case "cancelOrigClientOrderId":
			cancelVals["origClientOrderId"] = v
		case "cancelNewClientOrderId":
			cancelVals["newClientOrderId"] = v
		case "cancelRestrictions":
			cancelVals[k] = v
		case "symbol", "timestamp", "recvWindow":
			cancelVals[k], newVals[k] = v, v
		default:
			newVals[k] = v
		}
	}
	if _, ok := cancelVals["orderId"]; !ok {
		if _, ok := cancelVals["origClientOrderId"]; !ok {
			return fail(errEitherParam("cancelOrigClientOrderId", "cancelOrderId"))
		}
	}
	sub := func(vals map[string]string, method string) *call {
		r := &request{method: method, path: q.path, values: vals, read: map[string]bool{}, micro: q.micro, headerKey: q.headerKey}
		return &call{req: r, acct: c.acct, now: c.now, ip: c.ip, ep: c.ep}
	}
	// The new order is checked before anything happens.
	check := sub(newVals, http.MethodPost)
	if _, aerr := s.orderParams(check); aerr != nil {
		return fail(aerr)
	}
	q.accept("cancelReplaceMode", "cancelOrderId", "cancelOrigClientOrderId", "cancelNewClientOrderId", "cancelRestrictions")
	for k := range newVals {
		q.accept(k)
	}
	canceled := s.cancelOrder(sub(cancelVals, http.MethodDelete))
	cancelOK := canceled.status < 300
	data := map[string]any{"cancelResult": "SUCCESS", "newOrderResult": "NOT_ATTEMPTED",
		"cancelResponse": canceled.body, "newOrderResponse": nil}
	if !cancelOK {
		data["cancelResult"] = "FAILURE"
		data["cancelResponse"] = errorBody(canceled)
	}
	newOK := false
	if !cancelOK && mode == "STOP_ON_FAILURE" {
		// "A new order that was not attempted ... will still increase the unfilled order
		// count by 1."
		a := c.acct
		a.orders10s.at(c.now)
		a.ordersDay.at(c.now)
		a.orders10s.count++
		a.ordersDay.count++
	}
	if cancelOK || mode == "ALLOW_FAILURE" {
		placed := s.newOrder(sub(newVals, http.MethodPost))
		newOK = placed.status < 300
		data["newOrderResult"], data["newOrderResponse"] = "SUCCESS", placed.body
		if !newOK {
			data["newOrderResult"], data["newOrderResponse"] = "FAILURE", errorBody(placed)
		}
	}
	switch {
	case cancelOK && newOK:
		return ok(data)
	case cancelOK || newOK:
		return reply{status: http.StatusConflict, body: map[string]any{"code": -2021, "msg": "Order cancel-replace partially failed.", "data": data}}
	}
	return reply{status: http.StatusBadRequest, body: map[string]any{"code": -2022, "msg": "Order cancel-replace failed.", "data": data}}
}

// errorBody is a failed reply's {"code","msg"}.
func errorBody(r reply) map[string]any {
	if e, ok := r.body.(*apiError); ok {
		return map[string]any{"code": e.Code, "msg": e.Msg}
	}
	return map[string]any{"code": -1000, "msg": msgUnknown}
}
