package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The WebSocket API's request methods (web-socket-api.md) beside the session and user data
// stream ones in ws_api.go: each is its REST endpoint's twin, served by the same handler with
// the same parameters, weight and errors, against the same per-IP REQUEST_WEIGHT window (and
// the account's ORDERS windows). Signed methods authenticate with apiKey, timestamp,
// [recvWindow] and signature among their params, or by the session's session.logon when they
// carry no signature. Replies carry "rateLimits" unless the request's returnRateLimits param
// is false, or the connection URL's returnRateLimits=false and the param does not say true.
// Times are milliseconds, or microseconds on a connection opened with timeUnit=MICROSECOND. A
// method may be prefixed "v3/".
var apiMethods = map[string][2]string{
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

// apiREST answers a request method through its REST twin.
// requires that s.mu is held.
func (s *Server) apiREST(c *wsConn, req apiReq, target [2]string, now time.Time) map[string]any {
	rt := lookupRoute(target[0], target[1])
	q := &request{method: target[0], path: target[1], values: map[string]string{}, read: map[string]bool{}, micro: c.micro}
	limits := c.returnLimits
	for k, raw := range req.Params {
		if k == "returnRateLimits" {
			var v bool
			if json.Unmarshal(raw, &v) != nil {
				return apiFail(errf(http.StatusBadRequest, -1100, "Illegal characters found in parameter 'returnRateLimits'; legal range is 'true, false'."), nil)
			}
			limits = v
			continue
		}
		q.values[k] = paramText(raw)
	}
	s.sync(now)
	ep := s.stats.endpoint("WS " + req.Method)
	ep.Requests++
	s.stats.total.Requests++
	st := s.ip(c.ip)
	rep, _, proceed := s.admit(st, rt, q, nil, now, ep)
	var acct *account
	if proceed && rt.signed {
		c.mu.Lock()
		session := c.session
		c.mu.Unlock()
		_, signed := req.Params["signature"]
		if session != nil && !signed {
			if aerr := s.sessionAuth(c, session, q, now); aerr != nil {
				s.authFailure(ep)
				rep, proceed = reply{status: aerr.status, body: aerr}, false
			}
			acct = session
			q.accept("apiKey")
		} else {
			a, aerr := s.wsAuth(req.Params, now, false)
			if aerr != nil {
				s.authFailure(ep)
				rep, proceed = reply{status: aerr.status, body: aerr}, false
			}
			acct = a
			q.accept("apiKey")
		}
	}
	if proceed {
		cl := &call{req: q, acct: acct, now: now, ip: st, ep: ep}
		rep = rt.handler(s, cl)
		if q.micro && !rt.microAware && rep.status < 300 {
			rep.body = inMicros(rep.body)
		}
		if rt.freeOnSuccess && !s.cfg.Limits.ChargeAllOrders && rep.status < 300 {
			s.charge(st, ep, now, -rt.weight(q))
		}
	}
	s.count(rep, ep)
	var rl []map[string]any
	if limits {
		rl = s.apiRateLimits(st, acct, now)
	}
	if rep.status >= 300 {
		if e, ok := rep.body.(*apiError); ok {
			return s.withRetryAfter(apiFail(e, rl), e, st, acct, now)
		}
		if m, ok := rep.body.(map[string]any); ok { // an error with data (order.cancelReplace)
			out := map[string]any{"status": rep.status, "error": m}
			if rl != nil {
				out["rateLimits"] = rl
			}
			return out
		}
	}
	out := map[string]any{"status": rep.status, "result": rep.body}
	if rl != nil {
		out["rateLimits"] = rl
	}
	return out
}

func apiFail(e *apiError, rl []map[string]any) map[string]any {
	out := map[string]any{"status": e.status, "error": map[string]any{"code": e.Code, "msg": e.Msg}}
	if rl != nil {
		out["rateLimits"] = rl
	}
	return out
}

// paramText is a JSON param as the REST parameter it stands for: a string's value, a
// number's or a boolean's text, an array's JSON (symbols=["A","B"]).
func paramText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// apiRateLimits is the usage of the windows the request counted in: the IP's REQUEST_WEIGHT,
// and the account's ORDERS windows for a signed request (web-socket-api.md "Rate limits").
// requires that s.mu is held.
func (s *Server) apiRateLimits(st *ipState, acct *account, now time.Time) []map[string]any {
	var out []map[string]any
	for _, l := range s.limits.rateLimits() {
		var count int64
		switch {
		case l.RateLimitType == "REQUEST_WEIGHT":
			count = st.weight.at(now)
		case l.RateLimitType == "ORDERS" && acct != nil && l.Limit == s.limits.orders10sLimit && l.Interval == s.limits.orders10s.name:
			count = acct.orders10s.at(now)
		case l.RateLimitType == "ORDERS" && acct != nil:
			count = acct.ordersDay.at(now)
		default:
			continue
		}
		out = append(out, map[string]any{"rateLimitType": l.RateLimitType, "interval": l.Interval,
			"intervalNum": l.IntervalNum, "limit": l.Limit, "count": count})
	}
	return out
}
