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
