package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DialectBybit serves Bybit's v5 REST API, spot category (docs: github.com/bybit-exchange/docs,
// docs/v5/...), over the shared engine.
//
// What it serves: GET /v5/market/time, instruments-info, tickers and orderbook (public);
// GET /v5/account/wallet-balance (accountType=UNIFIED), /v5/account/fee-rate,
// /v5/user/query-api, /v5/order/realtime, /v5/order/history and /v5/execution/list;
// POST /v5/order/create, /v5/order/cancel and /v5/order/cancel-all (signed).
//
// Every answer of a known path is Bybit's envelope {retCode, retMsg, result, retExtInfo,
// time}, with HTTP 200 for business and authentication failures alike. The HTTP statuses it
// uses otherwise: 403 "access too frequent" for an IP over its limit (bybit_limits.go), 403
// for a GET that carries a body (error.mdx, HTTP 403 cause 2), 404 for an unknown path, and
// the status of an injected Faults.ErrorStatus.
//
// Stats: Status429 counts the answers that refused for a rate limit (retCode 10006, an
// injected one included) and Status418 the IP-ban 403s, so /sim/stats reads alike for every
// dialect. /sim/ban and /sim/unban act on the same IP bans (a /sim/ban without seconds takes
// the shared escalation, Abuse.BanBase doubling, not Bybit's 10 minutes: give seconds).
const DialectBybit = "bybit"

func init() {
	registerDialect(dialect{name: DialectBybit, serve: serveBybit, state: newBybitState})
}

// bybitState is the dialect's own state: the rolling windows, and what the engine does not
// keep (execution ids are the engine's trade ids).
type bybitState struct {
	cfg BybitConfig
	ips map[string]*slidingLog // per IP: the 600 per 5 s window
	uid map[string]*uidLimit   // per API key and endpoint
}

func newBybitState(s *Server) any {
	cfg, _ := s.cfg.DialectConfig.(BybitConfig)
	return &bybitState{cfg: cfg.withDefaults(), ips: map[string]*slidingLog{}, uid: map[string]*uidLimit{}}
}

// bybitRoute is one endpoint: its handler, whether it is signed, and its per-UID limit per
// second (0: none; public endpoints count only against the IP limit).
type bybitRoute struct {
	method, path string
	handler      func(*Server, *bybitCall) bybitReply
	signed       bool
	limit        int64
}

func (rt bybitRoute) key() string {
	if rt.handler == nil {
		return "other"
	}
	return rt.method + " " + rt.path
}

// bybitRoutes are the endpoints served, with rate-limit.mdx's spot limits ("UTA2.0 Pro",
// default tier; GET /v5/user/query-api from its User table).
var bybitRoutes = map[string]bybitRoute{}

func init() {
	for _, rt := range []bybitRoute{
		{method: http.MethodGet, path: "/v5/market/time", handler: (*Server).bybitTime},
		{method: http.MethodGet, path: "/v5/market/instruments-info", handler: (*Server).bybitInstruments},
		{method: http.MethodGet, path: "/v5/market/tickers", handler: (*Server).bybitTickers},
		{method: http.MethodGet, path: "/v5/market/orderbook", handler: (*Server).bybitOrderbook},
		{method: http.MethodGet, path: "/v5/account/wallet-balance", handler: (*Server).bybitWallet, signed: true, limit: 50},
		{method: http.MethodGet, path: "/v5/account/fee-rate", handler: (*Server).bybitFeeRate, signed: true, limit: 5},
		{method: http.MethodGet, path: "/v5/user/query-api", handler: (*Server).bybitQueryAPI, signed: true, limit: 10},
		{method: http.MethodPost, path: "/v5/order/create", handler: (*Server).bybitCreate, signed: true, limit: 20},
		{method: http.MethodPost, path: "/v5/order/cancel", handler: (*Server).bybitCancel, signed: true, limit: 20},
		{method: http.MethodPost, path: "/v5/order/cancel-all", handler: (*Server).bybitCancelAll, signed: true, limit: 20},
		{method: http.MethodGet, path: "/v5/order/realtime", handler: (*Server).bybitRealtime, signed: true, limit: 50},
		{method: http.MethodGet, path: "/v5/order/history", handler: (*Server).bybitHistory, signed: true, limit: 50},
		{method: http.MethodGet, path: "/v5/execution/list", handler: (*Server).bybitExecutions, signed: true, limit: 50},
	} {
		bybitRoutes[rt.key()] = rt
	}
}

// bybitReply is an answer: the envelope (status 200 unless set), or a plain-text body for the
// answers Bybit's edge gives without an envelope (403, 404, injected 5xx).
type bybitReply struct {
	status int
	code   int
	msg    string
	result any
	text   string // non-empty: a plain-text answer with status
	// reset, when set, is X-Bapi-Limit-Reset-Timestamp of a 10006 (an injected one).
	reset time.Time
}

func bybitOK(result any) bybitReply { return bybitReply{msg: "OK", result: result} }

// bybitCall is what a handler gets.
type bybitCall struct {
	req  *bybitRequest
	acct *account // nil on public endpoints
	now  time.Time
	b    *bybitState
	ep   *endpointStats
}

// bybitRequest is a parsed request: GET parameters from the query string, POST parameters
// from a JSON body, and the raw strings the signature covers.
type bybitRequest struct {
	method, path, rawQuery, rawBody string
	apiKey, sign, timestamp, recv   string
	query                           url.Values
	body                            map[string]json.RawMessage
}

// maxBybitBody bounds a request body; Bybit documents none.
const maxBybitBody = 64 << 10

func parseBybitRequest(r *http.Request) (*bybitRequest, *bybitReply) {
	q := &bybitRequest{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery,
		apiKey: r.Header.Get("X-BAPI-API-KEY"), sign: r.Header.Get("X-BAPI-SIGN"),
		timestamp: r.Header.Get("X-BAPI-TIMESTAMP"), recv: r.Header.Get("X-BAPI-RECV-WINDOW")}
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBybitBody+1))
		if err != nil || len(b) > maxBybitBody {
			return q, &bybitReply{code: 10001, msg: "Request parameter error."}
		}
		q.rawBody = string(b)
	}
	vals, err := url.ParseQuery(q.rawQuery)
	if err != nil {
		return q, &bybitReply{code: 10001, msg: "Request parameter error."}
	}
	q.query = vals
	if r.Method == http.MethodGet && len(bytes.TrimSpace([]byte(q.rawBody))) > 0 {
		// error.mdx, HTTP 403 cause 2: "You send GET request with an empty json body".
		return q, &bybitReply{status: http.StatusForbidden, text: "403 Forbidden"}
	}
	if r.Method == http.MethodPost {
		q.body = map[string]json.RawMessage{}
		if strings.TrimSpace(q.rawBody) != "" {
			if err := json.Unmarshal([]byte(q.rawBody), &q.body); err != nil {
				return q, &bybitReply{code: 10001, msg: "Request parameter error."}
			}
		}
	}
	return q, nil
}

// str returns a parameter: from the query of a GET, from the JSON body of a POST (a string,
// or a number's text).
func (q *bybitRequest) str(name string) (string, bool) {
	if q.body == nil {
		if !q.query.Has(name) {
			return "", false
		}
		return q.query.Get(name), true
	}
	raw, ok := q.body[name]
	if !ok || string(raw) == "null" {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), true
	}
	return string(raw), true
}

// serveBybit answers one request: the IP limit and ban, faults, authentication, the per-UID
// limit of the endpoint, the endpoint, then the limit headers.
func serveBybit(s *Server, w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rt, known := bybitRoutes[r.Method+" "+r.URL.Path]
	req, perr := parseBybitRequest(r)

	s.mu.Lock()
	b := s.dialectState.(*bybitState)
	now := s.now()
	s.sync(now)
	ep := s.stats.endpoint(rt.key())
	ep.Requests++
	s.stats.total.Requests++
	st := s.ip(host)
	if !s.bybitIPAdmit(b, host, st, now, ep) {
		ep.Status418++
		s.stats.total.Status418++
		s.mu.Unlock()
		writeBybit(w, bybitReply{status: http.StatusForbidden, text: "403 Forbidden: access too frequent"}, now)
		return
	}
	faults := s.faults.inDialect("/v5/", r.URL.Path)
	fault := faultNone
	var latency time.Duration
	if known {
		fault = faults.draw(r.Method, r.URL.Path, s.rng.Float64())
		latency = faults.latency(s.rng)
	}
	s.mu.Unlock()

	if known {
		s.holdLatency(r, faults, latency)
	}

	s.mu.Lock()
	now = s.now()
	s.sync(now)
	var rep bybitReply
	var lim *uidLimit
	applied := false
	switch {
	case !known:
		rep = bybitReply{status: http.StatusNotFound, text: "404 page not found"}
	case perr != nil:
		rep = *perr
	case fault == faultError:
		rep = bybitInjectedError(faults, rt, b, now)
	default:
		var acct *account
		if rt.signed {
			a, aerr := s.bybitAuthenticate(req, now)
			if aerr != nil {
				s.authFailure(ep)
				rep = *aerr
				break
			}
			acct = a
			if fault == faultAuth {
				s.authFailure(ep)
				rep = bybitErr(10005, "Permission denied, please check your API key permissions.")
				break
			}
			lim = s.bybitEndpointLimit(b, a.cfg.APIKey, rt)
			if lim != nil {
				if lim.log.at(now) >= lim.limit {
					rep = bybitErr(10006, "Too many visits!")
					break
				}
				lim.log.add(now)
			}
		}
		rep = rt.handler(s, &bybitCall{req: req, acct: acct, now: now, b: b, ep: ep})
		applied = true
	}
	h := w.Header()
	if lim != nil {
		bybitLimitHeaders(h, lim, now)
	}
	if !rep.reset.IsZero() {
		h["X-Bapi-Limit-Reset-Timestamp"] = []string{strconv.FormatInt(rep.reset.UnixMilli(), 10)}
	}
	if rep.code == 10006 {
		ep.Status429++
		s.stats.total.Status429++
	}
	s.mu.Unlock()

	if applied && rep.code == 0 && rep.text == "" {
		switch fault {
		case faultUnknown:
			// Applied, then the gateway gave up waiting on the engine.
			rep = bybitErr(10000, "Server Timeout")
			if strings.HasPrefix(r.URL.Path, "/v5/order/") {
				rep = bybitErr(170007, "Timeout waiting for response from backend server.")
			}
		case faultDrop:
			panic(http.ErrAbortHandler)
		case faultHang:
			hold := time.Duration(faults.HangMS) * time.Millisecond
			if hold <= 0 {
				hold = time.Minute
			}
			s.wait(r.Context(), hold)
			panic(http.ErrAbortHandler)
		}
	}
	writeBybit(w, rep, now)
}

// bybitInjectedError is Faults.ErrorRate in Bybit's terms: 429 is the per-UID limit's 10006
// (HTTP 200) whose reset is RetryAfterS from now (not scaled, as Faults says) or the end of
// the endpoint's window; no status (or 503) is retCode 10016 "Server error." in HTTP 200, how
// Bybit reports a failing backend; any other status is answered as Bybit's edge does, in
// plain text (a 403 without "access too frequent" is a region or CDN block).
// requires that s.mu is held.
func bybitInjectedError(f Faults, rt bybitRoute, b *bybitState, now time.Time) bybitReply {
	switch f.ErrorStatus {
	case http.StatusTooManyRequests:
		rep := bybitErr(10006, "Too many visits!")
		rep.reset = now.Add(time.Second)
		if f.RetryAfterS > 0 {
			rep.reset = now.Add(time.Duration(f.RetryAfterS) * time.Second)
		}
		return rep
	case 0, http.StatusServiceUnavailable:
		return bybitErr(10016, "Server error.")
	}
	return bybitReply{status: f.ErrorStatus, text: strconv.Itoa(f.ErrorStatus) + " " + http.StatusText(f.ErrorStatus)}
}

// bybitEnvelope is every answer's shape (guide.mdx "Common response parameters"), in the
// docs' field order.
type bybitEnvelope struct {
	RetCode    int      `json:"retCode"`
	RetMsg     string   `json:"retMsg"`
	Result     any      `json:"result"`
	RetExtInfo struct{} `json:"retExtInfo"`
	Time       int64    `json:"time"`
}

func bybitErr(code int, msg string) bybitReply { return bybitReply{code: code, msg: msg} }

// writeBybit writes the envelope, or the plain-text answer.
func writeBybit(w http.ResponseWriter, rep bybitReply, now time.Time) {
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	if rep.text != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.text)
		return
	}
	result := rep.result
	if result == nil {
		result = struct{}{}
	}
	b, err := json.Marshal(bybitEnvelope{RetCode: rep.code, RetMsg: rep.msg, Result: result, Time: now.UnixMilli()})
	if err != nil {
		status, b = http.StatusOK, []byte(`{"retCode":10016,"retMsg":"Server error.","result":{},"retExtInfo":{},"time":0}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
