package sim

import (
	"net/http"
	"time"
)

// sessionAuth checks a signed WebSocket API request that relies on the connection's
// session.logon (web-socket-api.md "Session Authentication": "You still have to specify the
// timestamp parameter for SIGNED requests"): timestamp is mandatory and the timing rules of
// "Timing security" apply with recvWindow, as for a signed request; a key revoked or disabled
// since the logon ends the session with 401 -2015 ("Regarding API key revocation").
// requires that s.mu is held.
func (s *Server) sessionAuth(c *wsConn, a *account, q *request, now time.Time) *apiError {
	if a.revoked || a.key.disabled {
		c.mu.Lock()
		c.session = nil
		c.mu.Unlock()
		return errRejectedKey()
	}
	tsRaw, ok := q.values["timestamp"]
	if !ok || tsRaw == "" {
		return errMandatory("timestamp")
	}
	ts, aerr := parseTimestamp(tsRaw)
	if aerr != nil {
		return aerr
	}
	recv := defaultRecvWindow
	if _, ok := q.values["recvWindow"]; ok {
		d, _, aerr := q.decimalParam("recvWindow", 3)
		if aerr != nil {
			return aerr
		}
		if recv, aerr = recvWindow(d); aerr != nil {
			return aerr
		}
	}
	switch {
	case !ts.Before(now.Add(time.Second)):
		return errAheadOfServer()
	case now.Sub(ts) > recv:
		return errOutsideRecvWindow()
	}
	return nil
}

// withRetryAfter adds to a WebSocket API refusal for a rate limit (429) or a ban (418) the
// "data" web-socket-api.md "IP limits" and "Unfilled Order Count" show: the server's time and
// when the client may retry, in milliseconds.
// requires that s.mu is held.
func (s *Server) withRetryAfter(out map[string]any, e *apiError, st *ipState, acct *account, now time.Time) map[string]any {
	if e.status != http.StatusTooManyRequests && e.status != http.StatusTeapot {
		return out
	}
	until := st.retryUntil
	switch {
	case e.status == http.StatusTeapot:
		until = st.bannedUntil
	case e.Code == -1015 && acct != nil:
		until = acct.orders10s.end()
		if acct.ordersDay.at(now) >= s.limits.ordersDayLimit {
			until = acct.ordersDay.end()
		}
	}
	if errBody, ok := out["error"].(map[string]any); ok {
		errBody["data"] = map[string]any{"serverTime": now.UnixMilli(), "retryAfter": until.UnixMilli()}
	}
	return out
}

// sessionMethods are the WebSocket API's own methods (ws_api.go), with no REST twin.
var sessionMethods = map[string]bool{"session.logon": true, "session.status": true, "session.logout": true,
	"userDataStream.subscribe": true, "userDataStream.subscribe.signature": true, "userDataStream.unsubscribe": true}

// chargeSession charges a session or user data stream method its documented weight (2) when
// Limits.ChargeWSAPISessions asks for it, as REST's admit does (bans, Retry-After, the
// REQUEST_WEIGHT limit); a refusal is returned.
// requires that s.mu is held.
func (s *Server) chargeSession(c *wsConn, method string, now time.Time) *apiError {
	if !s.cfg.Limits.ChargeWSAPISessions {
		return nil
	}
	s.sync(now)
	ep := s.stats.endpoint("WS " + method)
	ep.Requests++
	s.stats.total.Requests++
	rt := route{handler: func(*Server, *call) reply { return reply{} }, weight: fixed(2)}
	q := &request{values: map[string]string{}, read: map[string]bool{}}
	rep, _, proceed := s.admit(s.ip(c.ip), rt, q, nil, now, ep)
	if proceed {
		return nil
	}
	s.count(rep, ep)
	return rep.body.(*apiError)
}

// chargeConnection charges a new WebSocket API connection its documented 2 when
// Limits.ChargeWSAPISessions asks for it.
func (s *Server) chargeConnection(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Limits.ChargeWSAPISessions {
		s.charge(s.ip(ip), s.stats.endpoint("WS connect"), s.now(), 2)
	}
}
