package sim

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// The WebSocket API (/ws-api/v3, web-socket-api.md): the request methods that have a REST twin
// (ping, time, exchangeInfo, depth, klines, ticker.*, trades.*, avgPrice, order.place,
// order.test, order.status, order.cancel, openOrders.*, allOrders, myTrades, account.*;
// ws_api_rest.go), and the session and user data stream methods a bot needs since the
// listenKey endpoints were retired (CHANGELOG 2026-02-20):
//
//	session.logon                      Ed25519 keys only: apiKey, timestamp, signature; an
//	                                   HMAC key is refused with -4056
//	session.status, session.logout     logout ends the subscriptions userDataStream.subscribe
//	                                   started, not the signed ones
//	userDataStream.subscribe           on a logged-on session; result {"subscriptionId":N}
//	userDataStream.subscribe.signature any session: apiKey, timestamp, [recvWindow], signature
//	userDataStream.unsubscribe         [subscriptionId]
//
// Requests are {"id","method","params"}; answers {"id","status","result"} or
// {"id","status","error":{"code","msg"}}. A signature is computed over every param but
// signature, sorted by name, as name=value joined by '&' (HMAC-SHA256 hex or Ed25519
// base64). Events arrive as {"subscriptionId":N,"event":{...}}: executionReport for every
// order change the matching engine makes and outboundAccountPosition for the balances it
// moved (user-data-stream.md).

type apiReq struct {
	ID     json.RawMessage            `json:"id"`
	Method string                     `json:"method"`
	Params map[string]json.RawMessage `json:"params"`
}

func (s *Server) apiRequest(c *wsConn, msg []byte) {
	var req apiReq
	if err := json.Unmarshal(msg, &req); err != nil || req.Method == "" {
		c.reply(map[string]any{"id": nil, "status": 400, "error": map[string]any{"code": -1102,
			"msg": "Mandatory parameter 'method' was not sent, was empty/null, or malformed."}})
		return
	}
	id := req.ID
	if id == nil {
		id = json.RawMessage("null")
	}
	answer := func(result any) { c.reply(map[string]any{"id": id, "status": 200, "result": result}) }
	fail := func(e *apiError) {
		c.reply(map[string]any{"id": id, "status": e.status, "error": map[string]any{"code": e.Code, "msg": e.Msg}})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	method := strings.TrimPrefix(req.Method, "v3/")
	if target, ok := apiMethods[method]; ok {
		req.Method = method
		out := s.apiREST(c, req, target, now)
		out["id"] = id
		c.reply(out)
		return
	}
	switch method {
	case "session.logon":
		a, aerr := s.wsAuth(req.Params, now, true)
		if aerr != nil {
			fail(aerr)
			return
		}
		c.mu.Lock()
		c.session = a
		c.mu.Unlock()
		c.mu.Lock()
		c.authorized = now
		subs := len(c.subs) > 0
		c.mu.Unlock()
		s.hub.count(func(st *StreamStats) { st.Logons++ })
		answer(map[string]any{"apiKey": a.cfg.APIKey, "authorizedSince": c.unit(now),
			"connectedSince": c.unit(c.connected), "returnRateLimits": c.returnLimits, "serverTime": c.unit(now), "userDataStream": subs})
	case "session.status":
		c.mu.Lock()
		var key, since any
		if c.session != nil {
			key, since = c.session.cfg.APIKey, c.unit(c.authorized)
		}
		subs := len(c.subs) > 0
		c.mu.Unlock()
		answer(map[string]any{"apiKey": key, "authorizedSince": since, "connectedSince": c.unit(c.connected),
			"returnRateLimits": c.returnLimits, "serverTime": c.unit(now), "userDataStream": subs})
	case "session.logout":
		c.mu.Lock()
		c.session = nil
		var ended []int
		for sid, sub := range c.subs {
			if sub.session {
				ended = append(ended, sid)
				delete(c.subs, sid)
			}
		}
		c.mu.Unlock()
		s.hub.dropUserSubs(c, ended)
		answer(map[string]any{})
	case "userDataStream.subscribe", "userDataStream.subscribe.signature":
		var a *account
		if req.Method == "userDataStream.subscribe" {
			c.mu.Lock()
			a = c.session
			c.mu.Unlock()
			if a == nil {
				fail(errf(http.StatusUnauthorized, -1002, "You are not authorized to execute this request."))
				return
			}
		} else {
			var aerr *apiError
			if a, aerr = s.wsAuth(req.Params, now, false); aerr != nil {
				fail(aerr)
				return
			}
		}
		c.mu.Lock()
		for _, sub := range c.subs {
			if sub.acct == a {
				c.mu.Unlock()
				fail(errf(http.StatusBadRequest, -2035, "User Data Stream subscription already active."))
				return
			}
		}
		sid := c.nextSub
		c.nextSub++
		onSession := req.Method == "userDataStream.subscribe"
		c.subs[sid] = wsSub{acct: a, session: onSession}
		c.mu.Unlock()
		s.hub.mu.Lock()
		s.hub.userSubs[a] = append(s.hub.userSubs[a], userSub{c: c, id: sid})
		if onSession {
			s.hub.stats.UserSubscriptions++
		} else {
			s.hub.stats.UserSubscriptionsSignature++
		}
		s.hub.mu.Unlock()
		answer(map[string]any{"subscriptionId": sid})
	case "userDataStream.unsubscribe":
		want := -1
		if raw, ok := req.Params["subscriptionId"]; ok {
			if err := json.Unmarshal(raw, &want); err != nil {
				fail(errIllegalChars("subscriptionId", "^[0-9]{1,5}$"))
				return
			}
		}
		c.mu.Lock()
		var ended []int
		for sid := range c.subs {
			if want < 0 || sid == want {
				ended = append(ended, sid)
				delete(c.subs, sid)
			}
		}
		c.mu.Unlock()
		s.hub.dropUserSubs(c, ended)
		answer(map[string]any{})
	default:
		fail(errf(http.StatusBadRequest, -1020, msgUnsupportedOp))
	}
}

// wsAuth checks a signed WebSocket API request: apiKey, timestamp, recvWindow, signature.
// ed25519Only is session.logon's rule.
// requires that s.mu is held.
func (s *Server) wsAuth(params map[string]json.RawMessage, now time.Time, ed25519Only bool) (*account, *apiError) {
	vals := map[string]string{}
	for k, raw := range params {
		var str string
		if err := json.Unmarshal(raw, &str); err == nil {
			vals[k] = str
			continue
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			vals[k] = n.String()
			continue
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err == nil {
			vals[k] = strconv.FormatBool(b)
			continue
		}
		if len(raw) > 0 && raw[0] == '[' { // symbols: the array's JSON text is signed
			vals[k] = string(raw)
			continue
		}
		return nil, errIllegalChars(k, "a string, a number or a boolean")
	}
	key := vals["apiKey"]
	if !validKeyFormat(key) {
		return nil, errBadKeyFormat()
	}
	a, ok := s.accounts[key]
	if !ok || a.revoked || a.key.disabled {
		return nil, errRejectedKey()
	}
	if ed25519Only && a.cfg.Ed25519PublicKey == nil {
		return nil, errf(http.StatusBadRequest, -4056, "HMAC_SHA256 API key is not supported.")
	}
	sig, ok := vals["signature"]
	if !ok || sig == "" {
		return nil, errMandatory("signature")
	}
	tsRaw, ok := vals["timestamp"]
	if !ok {
		return nil, errMandatory("timestamp")
	}
	ts, aerr := parseTimestamp(tsRaw)
	if aerr != nil {
		return nil, aerr
	}
	recv := defaultRecvWindow
	if v, ok := vals["recvWindow"]; ok {
		d, err := decimal.NewFromString(v)
		if err != nil {
			return nil, errInvalidParam("recvWindow")
		}
		if recv, aerr = recvWindow(d); aerr != nil {
			return nil, aerr
		}
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		if k != "signature" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	payload := ""
	for i, k := range names {
		if i > 0 {
			payload += "&"
		}
		payload += k + "=" + vals[k]
	}
	cfg := a.cfg
	if ed25519Only {
		cfg.HMACSecret = ""
	}
	if aerr := s.checkSigned(a, cfg, payload, sig, ts, recv, now); aerr != nil {
		return nil, aerr
	}
	return a, nil
}

// dropUserSubs ends the subscriptions ids of connection c.
func (h *wsHub) dropUserSubs(c *wsConn, ids []int) {
	if len(ids) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for a, subs := range h.userSubs {
		kept := subs[:0]
		for _, us := range subs {
			if us.c != c || !slices.Contains(ids, us.id) {
				kept = append(kept, us)
			}
		}
		h.userSubs[a] = kept
	}
}

// count updates the stream stats.
func (h *wsHub) count(f func(*StreamStats)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(&h.stats)
}

// orderEvent sends an executionReport for o, then an outboundAccountPosition with the
// balances of o's symbol, to every user data subscription of o's account. execType is NEW,
// TRADE, CANCELED or EXPIRED; t is the trade of a TRADE.
// requires that s.mu is held.
func (s *Server) orderEvent(o *order, execType string, t *trade, now time.Time) {
	s.notifyOrder(o, execType, t, now)
	if s.dialect.orderEvent != nil {
		s.dialect.orderEvent(s, o, execType, t, now)
		return
	}
	h := s.hub
	h.mu.Lock()
	subs := append([]userSub(nil), h.userSubs[o.acct]...)
	h.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	ms := now.UnixMilli()
	last, lastPx, comm := "0.00000000", "0.00000000", "0"
	var commAsset any
	tradeID := int64(-1)
	maker := false
	if t != nil {
		last, lastPx, comm, commAsset, tradeID, maker = fmt8(t.qty), fmt8(t.price), fmt8(t.commission), t.commissionAsset, t.id, t.isMaker
	}
	quote := "0.00000000"
	if !o.origQuoteQty.IsZero() {
		quote = fmt8(o.origQuoteQty)
	}
	orig := ""
	if execType == "CANCELED" {
		orig = o.clientID
	}
	er := map[string]any{
		"e": "executionReport", "E": ms, "s": o.m.sym.Name, "c": o.clientID, "S": o.side, "o": o.typ,
		"f": o.tif, "q": fmt8(o.origQty), "p": fmt8(o.price), "P": "0.00000000", "F": "0.00000000",
		"g": -1, "C": orig, "x": execType, "X": o.status, "r": "NONE", "i": o.id, "l": last,
		"z": fmt8(o.executed), "L": lastPx, "n": comm, "N": commAsset, "T": ms, "t": tradeID, "I": s.nextExecID(),
		"w": o.status == statusNew, "m": maker, "M": false, "O": o.created.UnixMilli(),
		"Z": fmt8(o.cumQuote), "Y": fmt8(decimal.Zero), "Q": quote, "W": o.created.UnixMilli(),
		"V": "NONE",
	}
	if t != nil {
		er["Y"] = fmt8(t.quoteQty)
	}
	var bals []map[string]string
	for _, asset := range []string{o.m.sym.Base, o.m.sym.Quote} {
		b := o.acct.bal(asset)
		bals = append(bals, map[string]string{"a": asset, "f": fmt8(b.free), "l": fmt8(b.locked)})
	}
	pos := map[string]any{"e": "outboundAccountPosition", "E": ms, "u": ms, "B": bals}
	// A timeUnit=MICROSECOND connection gets the events' times in microseconds.
	erMicro, posMicro := maps.Clone(er), maps.Clone(pos)
	erMicro["E"], erMicro["T"], erMicro["O"], erMicro["W"] = now.UnixMicro(), now.UnixMicro(), o.created.UnixMicro(), o.created.UnixMicro()
	posMicro["E"], posMicro["u"] = now.UnixMicro(), now.UnixMicro()
	for _, us := range subs {
		evs := []any{er, pos}
		if us.c.micro {
			evs = []any{erMicro, posMicro}
		}
		for _, ev := range evs {
			b, _ := json.Marshal(map[string]any{"subscriptionId": us.id, "event": ev})
			us.c.push(b)
		}
	}
}

// userStreamCount is how many user data subscriptions are active (for tests).
func (s *Server) userStreamCount() int {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	n := 0
	for _, subs := range s.hub.userSubs {
		n += len(subs)
	}
	return n
}
