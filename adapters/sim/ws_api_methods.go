package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The WebSocket API's methods (web-socket-api.md) beyond the session and user data stream
// ones of ws_api.go. Each is the REST endpoint that does the same work (routes.go), run on
// the parameters of the request, so shapes, checks, codes and weights are the REST ones:
//
//	ping, time, exchangeInfo, depth, trades.recent, trades.historical, trades.aggregate,
//	klines, uiKlines, avgPrice, ticker.24hr, ticker, ticker.tradingDay, ticker.price, ticker.book
//	order.place, order.test, order.status, order.cancel, order.cancelReplace,
//	openOrders.status, openOrders.cancelAll, allOrders, myTrades, account.status,
//	account.commission, account.rateLimits.orders
//
// Method names may carry the "v3/" prefix. Parameters are JSON: strings, numbers, booleans
// (true/false, read as REST reads "true"/"false") and arrays (symbols, permissions: read as
// REST reads symbols=["A","B"]).
//
// Signed methods take apiKey, timestamp, [recvWindow] and signature (over every parameter but
// signature, sorted by name, as name=value joined by '&'), or, on a session logged on with
// session.logon, only timestamp and [recvWindow]. A session whose key was revoked or disabled
// since is logged out by its next signed request, which answers 401 -2015.
//
// Limits: weight is the IP's REST weight (one REQUEST_WEIGHT window shared with REST and
// every connection of the IP), charged before the method runs, refunded when a method listed
// in CHANGELOG 2026-03-27 succeeds (order.place, order.cancel, openOrders.cancelAll,
// order.cancelReplace), as REST does. Connecting (2) and the session and user data stream
// methods (2 each) are charged with Limits.ChargeWSAPISessions only. Answers carry "rateLimits" unless
// the request says "returnRateLimits": false or the connection was opened with
// ?returnRateLimits=false (a request's "returnRateLimits": true overrides that):
// REQUEST_WEIGHT always, the ORDERS windows too for order.place and order.cancelReplace. A 429
// or 418 carries "data": {"serverTime", "retryAfter"} (milliseconds). timeUnit=MICROSECOND in
// the connection URL prints every time of the answers in microseconds.
//
// Where the docs leave the answer open the simulator chooses: an unknown method is 400 -1020;
// a parameter that is an object is -1100; a signed method without apiKey on a session not
// logged on is -1102 (apiKey mandatory); userDataStream.subscribe and .unsubscribe, whose
// weight the docs leave out, weigh 2 like the other session methods.

// wsRoutes maps each method to its REST endpoint.
var wsRoutes = map[string][2]string{
	"ping":                      {http.MethodGet, "/api/v3/ping"},
	"time":                      {http.MethodGet, "/api/v3/time"},
	"exchangeInfo":              {http.MethodGet, "/api/v3/exchangeInfo"},
	"depth":                     {http.MethodGet, "/api/v3/depth"},
	"trades.recent":             {http.MethodGet, "/api/v3/trades"},
	"trades.historical":         {http.MethodGet, "/api/v3/historicalTrades"},
	"trades.aggregate":          {http.MethodGet, "/api/v3/aggTrades"},
	"klines":                    {http.MethodGet, "/api/v3/klines"},
	"uiKlines":                  {http.MethodGet, "/api/v3/uiKlines"},
	"avgPrice":                  {http.MethodGet, "/api/v3/avgPrice"},
	"ticker.24hr":               {http.MethodGet, "/api/v3/ticker/24hr"},
	"ticker":                    {http.MethodGet, "/api/v3/ticker"},
	"ticker.tradingDay":         {http.MethodGet, "/api/v3/ticker/tradingDay"},
	"ticker.price":              {http.MethodGet, "/api/v3/ticker/price"},
	"ticker.book":               {http.MethodGet, "/api/v3/ticker/bookTicker"},
	"order.place":               {http.MethodPost, "/api/v3/order"},
	"order.test":                {http.MethodPost, "/api/v3/order/test"},
	"order.status":              {http.MethodGet, "/api/v3/order"},
	"order.cancel":              {http.MethodDelete, "/api/v3/order"},
	"order.cancelReplace":       {http.MethodPost, "/api/v3/order/cancelReplace"},
	"openOrders.status":         {http.MethodGet, "/api/v3/openOrders"},
	"openOrders.cancelAll":      {http.MethodDelete, "/api/v3/openOrders"},
	"allOrders":                 {http.MethodGet, "/api/v3/allOrders"},
	"myTrades":                  {http.MethodGet, "/api/v3/myTrades"},
	"account.status":            {http.MethodGet, "/api/v3/account"},
	"account.commission":        {http.MethodGet, "/api/v3/account/commission"},
	"account.rateLimits.orders": {http.MethodGet, "/api/v3/rateLimit/order"},
}

// sessionMethods are ws_api.go's own methods.
var sessionMethods = map[string]bool{"session.logon": true, "session.status": true, "session.logout": true,
	"userDataStream.subscribe": true, "userDataStream.subscribe.signature": true, "userDataStream.unsubscribe": true}

// ordersMethods count toward the ORDERS windows; their answers show them.
var ordersMethods = map[string]bool{"order.place": true, "order.cancelReplace": true}

// apiCall is one WebSocket API request being answered.
type apiCall struct {
	s          *Server
	c          *wsConn
	id         json.RawMessage
	method     string
	params     map[string]json.RawMessage
	values     map[string]string
	st         *ipState
	ep         *endpointStats
	rt         route
	now        time.Time
	rateLimits bool
	acct       *account // the account the answer's ORDERS counts are of
}

// wsValues reads params as REST values: strings as they are, numbers as written, booleans
// as "true"/"false", arrays as compact JSON; null is absent.
func wsValues(params map[string]json.RawMessage) (map[string]string, *apiError) {
	out := make(map[string]string, len(params))
	for k, raw := range params {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		switch raw[0] {
		case '"':
			var v string
			if json.Unmarshal(raw, &v) != nil {
				return nil, errIllegalChars(k, "a string")
			}
			out[k] = v
		case 'n':
			continue
		case 't', 'f':
			var v bool
			if json.Unmarshal(raw, &v) != nil {
				return nil, errIllegalChars(k, "true or false")
			}
			out[k] = map[bool]string{true: "true", false: "false"}[v]
		case '[':
			var b bytes.Buffer
			if json.Compact(&b, raw) != nil {
				return nil, errIllegalChars(k, "an array")
			}
			out[k] = b.String()
		case '{':
			return nil, errIllegalChars(k, "a string, a number, a boolean or an array")
		default:
			var n json.Number
			if json.Unmarshal(raw, &n) != nil {
				return nil, errIllegalChars(k, "a number")
			}
			out[k] = n.String()
		}
	}
	return out, nil
}

// apiAdmit starts a request: it reads returnRateLimits, charges the method's weight to the
// IP (as REST's admit does: bans, Retry-After, RAW_REQUESTS, REQUEST_WEIGHT) and answers
// what stops it there. done is true when the request was answered.
// requires that s.mu is held.
func (s *Server) apiAdmit(c *wsConn, id json.RawMessage, req *apiReq, now time.Time) (x *apiCall, done bool) {
	req.Method = strings.TrimPrefix(req.Method, "v3/")
	x = &apiCall{s: s, c: c, id: id, method: req.Method, params: req.Params, now: now, rateLimits: c.rateLimitsDefault}
	s.sync(now)
	x.st = s.ip(c.ip)
	x.ep = s.stats.endpoint("WS " + req.Method)
	x.ep.Requests++
	s.stats.total.Requests++
	var perr *apiError
	if raw, ok := req.Params["returnRateLimits"]; ok {
		var v bool
		if json.Unmarshal(raw, &v) != nil {
			perr = errIllegalChars("returnRateLimits", "true or false")
		} else {
			x.rateLimits = v
		}
	}
	if perr == nil {
		x.values, perr = wsValues(req.Params)
		// returnRateLimits is the API's own: the signature covers it (every param but
		// signature), the REST handler never sees it.
		delete(x.values, "returnRateLimits")
	}
	q := &request{method: "WS", path: req.Method, values: x.values, read: map[string]bool{}, micro: c.micro}
	if q.values == nil {
		q.values = map[string]string{}
	}
	if r, ok := wsRoutes[req.Method]; ok {
		x.rt = lookupRoute(r[0], r[1])
	} else if sessionMethods[req.Method] {
		w := int64(0)
		if s.cfg.Limits.ChargeWSAPISessions {
			w = 2
		}
		x.rt = route{handler: func(*Server, *call) reply { return reply{} }, weight: fixed(w)}
	} else {
		x.rt = route{weight: fixed(1)} // unknown: admit answers -1020
	}
	rep, _, proceed := s.admit(x.st, x.rt, q, perr, now, x.ep)
	if !proceed {
		e := rep.body.(*apiError)
		if x.rt.handler == nil && e.Code == -1020 {
			e.status = http.StatusBadRequest
		}
		s.count(rep, x.ep)
		x.fail(e)
		return x, true
	}
	return x, false
}

// answer sends a result.
// requires that s.mu is held.
func (x *apiCall) answer(result any) {
	msg := map[string]any{"id": x.id, "status": 200, "result": result}
	x.addLimits(msg)
	x.c.reply(msg)
}

// fail sends an error; a 429 or 418 gets its serverTime and retryAfter.
// requires that s.mu is held.
func (x *apiCall) fail(e *apiError) {
	body := map[string]any{"code": e.Code, "msg": e.Msg}
	if e.Data != nil {
		body["data"] = e.Data
	}
	if (e.status == http.StatusTooManyRequests || e.status == http.StatusTeapot) && e.Data == nil {
		until := x.st.retryUntil
		if e.status == http.StatusTeapot {
			until = x.st.bannedUntil
		}
		if e.Code == -1015 && x.acct != nil {
			until = x.acct.orders10s.end()
			if x.acct.ordersDay.at(x.now) >= x.s.limits.ordersDayLimit {
				until = x.acct.ordersDay.end()
			}
		}
		body["data"] = map[string]any{"serverTime": x.now.UnixMilli(), "retryAfter": until.UnixMilli()}
	}
	msg := map[string]any{"id": x.id, "status": e.status, "error": body}
	x.addLimits(msg)
	x.c.reply(msg)
}

// addLimits adds rateLimits unless they were turned off.
// requires that s.mu is held.
func (x *apiCall) addLimits(msg map[string]any) {
	if !x.rateLimits {
		return
	}
	ls := x.s.limits
	var out []map[string]any
	if ordersMethods[x.method] && x.acct != nil {
		out = append(out,
			map[string]any{"rateLimitType": "ORDERS", "interval": ls.orders10s.name, "intervalNum": ls.orders10s.num,
				"limit": ls.orders10sLimit, "count": x.acct.orders10s.at(x.now)},
			map[string]any{"rateLimitType": "ORDERS", "interval": ls.ordersDay.name, "intervalNum": ls.ordersDay.num,
				"limit": ls.ordersDayLimit, "count": x.acct.ordersDay.at(x.now)})
	}
	out = append(out, map[string]any{"rateLimitType": "REQUEST_WEIGHT", "interval": ls.weight.name,
		"intervalNum": ls.weight.num, "limit": ls.weightLimit, "count": x.st.weight.at(x.now)})
	msg["rateLimits"] = out
}

// apiRoute runs a routed method: authentication for a signed one, then the REST handler.
// requires that s.mu is held.
func (s *Server) apiRoute(x *apiCall) {
	q := &request{method: x.rt.method, path: x.rt.path, values: x.values, read: map[string]bool{}, micro: x.c.micro}
	var acct *account
	if x.rt.signed {
		a, aerr := s.apiAuth(x)
		if aerr != nil {
			if authCode(aerr) {
				s.authFailure(x.ep)
			}
			x.fail(aerr)
			return
		}
		acct, x.acct = a, a
		q.accept("apiKey")
	}
	c := &call{req: q, acct: acct, now: x.now, ip: x.st, ep: x.ep}
	rep := x.rt.handler(s, c)
	if x.rt.freeOnSuccess && !s.cfg.Limits.ChargeAllOrders && rep.status < 300 {
		s.charge(x.st, x.ep, x.now, -x.rt.weight(q))
	}
	s.count(rep, x.ep)
	if e, ok := rep.body.(*apiError); ok {
		x.fail(e)
		return
	}
	x.answer(rep.body)
}

// apiAuth authenticates a signed method: by apiKey and signature, or by the session.
// requires that s.mu is held.
func (s *Server) apiAuth(x *apiCall) (*account, *apiError) {
	_, hasKey := x.values["apiKey"]
	_, hasSig := x.values["signature"]
	if hasKey || hasSig {
		return s.wsAuth(x.params, x.now, false)
	}
	x.c.mu.Lock()
	a := x.c.session
	x.c.mu.Unlock()
	if a == nil {
		return nil, errMandatory("apiKey")
	}
	if a.revoked || a.key.disabled {
		x.c.mu.Lock()
		x.c.session = nil
		x.c.mu.Unlock()
		return nil, errRejectedKey()
	}
	tsRaw, ok := x.values["timestamp"]
	if !ok || tsRaw == "" {
		return nil, errMandatory("timestamp")
	}
	ts, aerr := parseTimestamp(tsRaw)
	if aerr != nil {
		return nil, aerr
	}
	recv := defaultRecvWindow
	if v, ok := x.values["recvWindow"]; ok {
		q := &request{values: map[string]string{"recvWindow": v}, read: map[string]bool{}}
		d, _, aerr := q.decimalParam("recvWindow", 3)
		if aerr != nil {
			return nil, aerr
		}
		if recv, aerr = recvWindow(d); aerr != nil {
			return nil, aerr
		}
	}
	switch {
	case !ts.Before(x.now.Add(time.Second)):
		return nil, errAheadOfServer()
	case x.now.Sub(ts) > recv:
		return nil, errOutsideRecvWindow()
	}
	return a, nil
}

// apiConnected charges a new WebSocket API connection its weight (2) and returns the
// server's time.
func (s *Server) apiConnected(ip string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.cfg.Limits.ChargeWSAPISessions {
		ep := s.stats.endpoint("WS connect")
		s.charge(s.ip(ip), ep, now, 2)
	}
	return now
}

// authCode reports whether e refuses a request's key, signature or timestamp.
func authCode(e *apiError) bool {
	switch e.Code {
	case -1021, -1022, -2014, -2015:
		return true
	}
	return false
}
