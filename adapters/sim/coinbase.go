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
	"unicode"
)

// DialectCoinbase serves Coinbase Advanced Trade's REST API (docs.cdp.coinbase.com,
// advanced-trade/reference; the OpenAPI spec as generated into coinbase-samples'
// advanced-trade SDKs) over the shared engine. What it models:
//
//   - Paths under /api/v3/brokerage: public GET time, market/products, market/products/{id},
//     market/product_book, market/products/{id}/ticker and market/products/{id}/candles
//     (coinbase_candles.go); private (a JWT) GET products, products/{id}, product_book,
//     products/{id}/candles, best_bid_ask, accounts, key_permissions,
//     transaction_summary, orders/historical/{order_id}, orders/historical/batch and
//     orders/historical/fills, POST orders and orders/batch_cancel.
//   - Products: an engine symbol BTCUSDT (base BTC, quote USDT) is product_id BTC-USDT.
//   - Authentication: Authorization: Bearer <JWT>, verified as coinbase_auth.go says; every
//     refusal is 401 "Unauthorized" in plain text.
//   - Names: the gateway is grpc-gateway, so query parameters and JSON bodies are read in
//     snake_case or lowerCamelCase alike, and unknown query parameters are ignored.
//   - Answers: order failures are HTTP 200 with success:false and the reason in
//     error_response (one table turns the engine's refusals into Coinbase's reasons); cancels
//     are 200 with a per-order success/failure_reason; other errors are grpc-gateway's
//     {error, code, message, details}.
//   - client_order_id is a lasting idempotency key: a create repeating one any order of the
//     account ever had creates nothing and answers success with the original order_id (the
//     other fields echo the new request, as live Coinbase does).
//   - Limits (coinbase_limits.go): private 30 requests/s per user, public 10/s per IP, sliding,
//     429 with an HTML body past them, x-ratelimit-* headers on every answer.
//   - A lockout after repeated 401s of one key: a MODEL (Coinbase documents no ban policy).
//   - The WebSocket feeds at /ws and /ws/user (coinbase_ws.go).
//
// Stats: Status429 counts the 429s; a lockout counts as a ban. Faults apply to
// /api/v3/brokerage paths in Coinbase's terms (coinbaseInjected).
const DialectCoinbase = "coinbase"

func init() {
	registerDialect(dialect{name: DialectCoinbase, serve: serveCoinbase, state: newCoinbaseState, orderEvent: cbOrderEvent})
}

// coinbasePrefix is the root of every Advanced Trade path.
const coinbasePrefix = "/api/v3/brokerage"

// coinbaseState is the dialect's state, guarded by s.mu.
type coinbaseState struct {
	cfg      CoinbaseConfig
	products map[string]*market // product_id → market
	ips      map[string]*coinbaseLimitState
	users    map[*account]*coinbaseLimitState
	keys     map[*account]*coinbaseKey
	lockouts map[*account]*coinbaseLockout
	wsState  *cbWSState            // the WebSocket feeds (coinbase_ws.go); nil until the first connection
	history  map[string]*cbHistory // product_id → one-minute candles (coinbase_candles.go)
}

func newCoinbaseState(s *Server) any {
	cfg, _ := s.cfg.DialectConfig.(CoinbaseConfig)
	st := &coinbaseState{cfg: cfg.withDefaults(), products: map[string]*market{}, ips: map[string]*coinbaseLimitState{},
		users: map[*account]*coinbaseLimitState{}, keys: map[*account]*coinbaseKey{}, lockouts: map[*account]*coinbaseLockout{}}
	for _, name := range s.marketOrder {
		m := s.markets[name]
		st.products[CoinbaseProductID(m.sym)] = m
	}
	return st
}

// CoinbaseProductID is the product_id the coinbase dialect lists sym under ("BTC-USDT").
func CoinbaseProductID(sym Symbol) string { return sym.Base + "-" + sym.Quote }

// coinbaseRoute is one endpoint. pattern's {x} segments match one path segment each.
type coinbaseRoute struct {
	method, pattern string
	handler         func(*Server, *coinbaseCall) coinbaseReply
	private         bool
}

func (rt coinbaseRoute) key() string {
	if rt.handler == nil {
		return "other"
	}
	return rt.method + " " + coinbasePrefix + rt.pattern
}

var coinbaseRoutes = []coinbaseRoute{
	{method: http.MethodGet, pattern: "/time", handler: (*Server).cbTime},
	{method: http.MethodGet, pattern: "/market/products", handler: (*Server).cbProducts},
	{method: http.MethodGet, pattern: "/market/products/{product_id}", handler: (*Server).cbProduct},
	{method: http.MethodGet, pattern: "/market/product_book", handler: (*Server).cbProductBook},
	{method: http.MethodGet, pattern: "/market/products/{product_id}/ticker", handler: (*Server).cbTicker},
	{method: http.MethodGet, pattern: "/market/products/{product_id}/candles", handler: (*Server).cbCandles},
	{method: http.MethodGet, pattern: "/products", handler: (*Server).cbProducts, private: true},
	{method: http.MethodGet, pattern: "/products/{product_id}", handler: (*Server).cbProduct, private: true},
	{method: http.MethodGet, pattern: "/product_book", handler: (*Server).cbProductBook, private: true},
	{method: http.MethodGet, pattern: "/products/{product_id}/ticker", handler: (*Server).cbTicker, private: true},
	{method: http.MethodGet, pattern: "/products/{product_id}/candles", handler: (*Server).cbCandles, private: true},
	{method: http.MethodGet, pattern: "/best_bid_ask", handler: (*Server).cbBestBidAsk, private: true},
	{method: http.MethodGet, pattern: "/accounts", handler: (*Server).cbAccounts, private: true},
	{method: http.MethodGet, pattern: "/key_permissions", handler: (*Server).cbKeyPermissions, private: true},
	{method: http.MethodGet, pattern: "/transaction_summary", handler: (*Server).cbTransactionSummary, private: true},
	{method: http.MethodPost, pattern: "/orders", handler: (*Server).cbCreateOrder, private: true},
	{method: http.MethodPost, pattern: "/orders/batch_cancel", handler: (*Server).cbBatchCancel, private: true},
	{method: http.MethodGet, pattern: "/orders/historical/batch", handler: (*Server).cbListOrders, private: true},
	{method: http.MethodGet, pattern: "/orders/historical/fills", handler: (*Server).cbListFills, private: true},
	{method: http.MethodGet, pattern: "/orders/historical/{order_id}", handler: (*Server).cbGetOrder, private: true},
}

// matchCoinbase finds the route of method and path and its path parameters. Literal routes
// are listed before the patterns that would also match them.
func matchCoinbase(method, path string) (coinbaseRoute, map[string]string, bool) {
	rest, ok := strings.CutPrefix(path, coinbasePrefix)
	if !ok {
		return coinbaseRoute{}, nil, false
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	for _, rt := range coinbaseRoutes {
		if rt.method != method {
			continue
		}
		pat := strings.Split(strings.Trim(rt.pattern, "/"), "/")
		if len(pat) != len(segs) {
			continue
		}
		params := map[string]string{}
		match := true
		for i, p := range pat {
			if strings.HasPrefix(p, "{") {
				if segs[i] == "" {
					match = false
					break
				}
				params[strings.Trim(p, "{}")] = segs[i]
				continue
			}
			if p != segs[i] {
				match = false
				break
			}
		}
		if match {
			return rt, params, true
		}
	}
	return coinbaseRoute{}, nil, false
}

// coinbaseReply is an answer: JSON (status 200 unless set), plain text, or the HTML page a
// 429 is.
type coinbaseReply struct {
	status int
	body   any
	text   string
	html   bool
}

func cbOK(body any) coinbaseReply { return coinbaseReply{status: http.StatusOK, body: body} }

// grpc-gateway's error codes (google.rpc.Code) for the statuses the dialect answers.
var cbGRPCCode = map[int]int{400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 503: 14}

// cbError is grpc-gateway's error shape: {error, code, message, details}.
func cbError(status int, errName, msg string) coinbaseReply {
	return coinbaseReply{status: status, body: map[string]any{"error": errName, "code": cbGRPCCode[status],
		"message": msg, "error_details": msg, "details": []any{}}}
}

func cbInvalid(msg string) coinbaseReply {
	return cbError(http.StatusBadRequest, "INVALID_ARGUMENT", msg)
}

// cbUnauthorized is what Coinbase answers every refused JWT.
var cbUnauthorized = coinbaseReply{status: http.StatusUnauthorized, text: "Unauthorized\n"}

// cbTooManyHTML is the body of a 429: an HTML page for browsers, not the JSON error the spec
// describes (coinbase-samples/advanced-trade-sdk-go#18).
const cbTooManyHTML = `<html>
  <head>
    <title>Coinbase</title>
    <meta name="robots" content="noindex">
  </head>
  <body><h1>429 Too Many Requests</h1><p>You have been rate limited. Please slow down.</p></body>
</html>
`

// coinbaseCall is what a handler gets.
type coinbaseCall struct {
	req  *coinbaseRequest
	acct *account // nil on public endpoints
	now  time.Time
	cb   *coinbaseState
	ep   *endpointStats
}

// coinbaseRequest is a parsed request, its names in snake_case whichever case they came in.
type coinbaseRequest struct {
	method, path string
	params       map[string]string
	query        url.Values
	body         map[string]any
	rawBody      []byte
	auth         string
	host         string
}

const maxCoinbaseBody = 64 << 10

// snakeCase turns lowerCamelCase into snake_case ("clientOrderId" → "client_order_id");
// snake_case is left as it is.
func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// snakeKeys renames every object key of v to snake_case, recursively.
func snakeKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[snakeCase(k)] = snakeKeys(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = snakeKeys(x[i])
		}
	}
	return v
}

func parseCoinbaseRequest(r *http.Request, params map[string]string) (*coinbaseRequest, *coinbaseReply) {
	q := &coinbaseRequest{method: r.Method, path: r.URL.Path, params: params, query: url.Values{},
		auth: r.Header.Get("Authorization"), host: r.Host}
	raw, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		rep := cbInvalid("malformed query string")
		return q, &rep
	}
	for k, vs := range raw {
		// grpc-gateway reads repeated fields as repeated parameters; a key may carry []
		// as some clients write arrays.
		name := snakeCase(strings.TrimSuffix(k, "[]"))
		q.query[name] = append(q.query[name], vs...)
	}
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxCoinbaseBody+1))
		if err != nil || len(b) > maxCoinbaseBody {
			rep := cbInvalid("request body too large")
			return q, &rep
		}
		q.rawBody = b
	}
	if r.Method == http.MethodPost {
		q.body = map[string]any{}
		if len(bytes.TrimSpace(q.rawBody)) > 0 {
			d := json.NewDecoder(bytes.NewReader(q.rawBody))
			d.UseNumber()
			var v map[string]any
			if err := d.Decode(&v); err != nil {
				rep := cbInvalid("invalid character in request body: " + err.Error())
				return q, &rep
			}
			q.body = snakeKeys(v).(map[string]any)
		}
	}
	return q, nil
}

// qstr is a query parameter (the first value).
func (q *coinbaseRequest) qstr(name string) string { return q.query.Get(name) }

// qlist is a repeated query parameter; comma-separated values are split too.
func (q *coinbaseRequest) qlist(name string) []string {
	var out []string
	for _, v := range q.query[name] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// bstr reads a string (or a number's text) at a path of keys in the JSON body.
func bstr(m map[string]any, keys ...string) (string, bool) {
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = mm[k]; !ok || v == nil {
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// serveCoinbase answers one request: the public per-IP limit, faults, authentication and
// the lockout, the per-user limit, the endpoint, then the limit headers.
func serveCoinbase(s *Server, w http.ResponseWriter, r *http.Request) {
	if cbIsWebSocket(r) {
		s.cbServeWS(w, r)
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rt, params, known := matchCoinbase(r.Method, r.URL.Path)
	req, perr := parseCoinbaseRequest(r, params)

	s.mu.Lock()
	cb := s.dialectState.(*coinbaseState)
	now := s.now()
	s.sync(now)
	ep := s.stats.endpoint(rt.key())
	ep.Requests++
	s.stats.total.Requests++
	faults := s.faults.inDialect(coinbasePrefix+"/", r.URL.Path)
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
	var rep coinbaseReply
	var lim *coinbaseLimitState
	applied := false
	switch {
	case !known:
		rep = cbError(http.StatusNotFound, "NOT_FOUND", "Not Found")
	case !rt.private:
		lim = cb.publicLimit(s, host)
		if !lim.admit(now) {
			rep = coinbaseReply{status: http.StatusTooManyRequests, text: cbTooManyHTML, html: true}
			break
		}
		if perr != nil {
			rep = *perr
			break
		}
		if fault == faultError {
			rep = coinbaseInjected(faults, lim, now, w.Header())
			break
		}
		rep = rt.handler(s, &coinbaseCall{req: req, now: now, cb: cb, ep: ep})
		applied = true
	default:
		a, ok := s.cbAuthenticate(cb, req, r.Method, now)
		if !ok {
			s.authFailure(ep)
			rep = cbUnauthorized
			break
		}
		if fault == faultAuth {
			s.authFailure(ep)
			rep = cbUnauthorized
			break
		}
		lim = cb.userLimit(s, a)
		if !lim.admit(now) {
			rep = coinbaseReply{status: http.StatusTooManyRequests, text: cbTooManyHTML, html: true}
			break
		}
		if perr != nil {
			rep = *perr
			break
		}
		if fault == faultError {
			rep = coinbaseInjected(faults, lim, now, w.Header())
			break
		}
		rep = rt.handler(s, &coinbaseCall{req: req, acct: a, now: now, cb: cb, ep: ep})
		applied = true
	}
	if lim != nil {
		lim.headers(w.Header(), now)
	}
	if rep.status == http.StatusTooManyRequests {
		ep.Status429++
		s.stats.total.Status429++
	}
	s.mu.Unlock()

	if applied && rep.status < 300 {
		switch fault {
		case faultUnknown:
			// Applied, then the gateway gave up waiting on the backend.
			rep = cbError(http.StatusInternalServerError, "INTERNAL", "internal error")
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
	writeCoinbase(w, rep)
}

// coinbaseInjected is Faults.ErrorRate in Coinbase's terms, before anything is applied: 429
// is the rate limit's HTML page (with Retry-After when RetryAfterS says how long, and
// x-ratelimit-reset then); no status or 503 is grpc-gateway's UNAVAILABLE; any other status
// is answered with its text.
// requires that s.mu is held.
func coinbaseInjected(f Faults, lim *coinbaseLimitState, now time.Time, h http.Header) coinbaseReply {
	switch f.ErrorStatus {
	case http.StatusTooManyRequests:
		if f.RetryAfterS > 0 {
			h.Set("Retry-After", strconv.Itoa(f.RetryAfterS))
			lim.holdUntil = now.Add(time.Duration(f.RetryAfterS) * time.Second)
		}
		return coinbaseReply{status: http.StatusTooManyRequests, text: cbTooManyHTML, html: true}
	case 0, http.StatusServiceUnavailable:
		return cbError(http.StatusServiceUnavailable, "UNAVAILABLE", "service unavailable")
	}
	return coinbaseReply{status: f.ErrorStatus, text: strconv.Itoa(f.ErrorStatus) + " " + http.StatusText(f.ErrorStatus) + "\n"}
}

func writeCoinbase(w http.ResponseWriter, rep coinbaseReply) {
	status := rep.status
	if status == 0 {
		status = http.StatusOK
	}
	switch {
	case rep.html:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.text)
		return
	case rep.text != "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.text)
		return
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"INTERNAL","code":13,"message":"internal error","details":[]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
