package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DialectKraken serves Kraken's Spot REST API (docs.kraken.com/api, the spot-rest guides)
// over the shared engine. What it models:
//
//   - Paths GET /0/public/{Time,Assets,AssetPairs,Ticker,Depth} and POST
//     /0/private/{Balance,BalanceEx,AddOrder,CancelOrder,OpenOrders,ClosedOrders,QueryOrders,
//     TradesHistory,TradeVolume}; every answer is HTTP 200 with {"error":[...],"result":...}
//     (Kraken reports its own failures in the body; a non-200 is transport trouble, which is
//     how the 5xx fault answers).
//   - Signing: API-Key and API-Sign headers, API-Sign = base64(HMAC-SHA512(base64-decoded
//     private key, URI path + SHA256(nonce + POST body))), verified over the raw body as
//     received, form-encoded or JSON. An account's HMACSecret is the raw HMAC key, so its
//     Kraken private key is the base64 of it (KrakenPrivateKey).
//   - The nonce per key: a nonce <= the last accepted one is EAPI:Invalid nonce.
//   - The REST call counter per key (+1 a call, +2 TradesHistory; AddOrder and CancelOrder
//     not counted), EAPI:Rate limit exceeded past the tier's maximum; a refused call still
//     counts, so a client that keeps calling stays limited.
//   - The trading-engine counter per account and pair: AddOrder +1 (charged even when the
//     order is then refused), CancelOrder +8 down to 0 by the order's age; EOrder:Rate limit
//     exceeded when a transaction would take it past the tier's threshold.
//   - EService:Throttled: <unix ts> past krakenMaxConcurrent requests of one key in flight.
//   - Invalid keys, signatures and nonces from one IP (Abuse.AuthFailures within
//     Abuse.AuthWindow) lock the IP out: EGeneral:Temporary lockout for ~15 minutes,
//     time-scaled. An IP banned through /sim/ban is locked out the same way.
//   - Symbols are listed under Kraken names: assets BTC, ETH, DOGE, USD, EUR... become XXBT
//     (altname XBT), XETH, XXDG (XDG), ZUSD, ZEUR; newer assets (USDT) keep their name. A
//     pair's altname is the two altnames (XBTUSDT); its id is the two asset ids when both are
//     legacy X/Z assets (XXBTZUSD), else the altname.
//
// Guesses, where the docs are silent: the duplicate open cl_ord_id error (EOrder:Duplicate
// order), the invalid cl_ord_id and volume-precision errors (EGeneral:Invalid
// arguments:cl_ord_id / :volume), the public limit (krakenPublicMax), the concurrency limit,
// the error for an account that may not trade (EGeneral:Permission denied), the lockout
// threshold (the shared Abuse settings) and that ClosedOrders costs +1. Fees are charged by
// the engine in the asset received and reported in quote terms. Only the starter tier is
// enforced.
const DialectKraken = "kraken"

func init() {
	registerDialect(dialect{name: DialectKraken, serve: serveKraken, state: newKrakenState})
}

// krakenState is the dialect's state, guarded by s.mu.
type krakenState struct {
	tier     KrakenTier
	nonces   map[string]uint64 // API key → last accepted nonce
	rest     map[string]*decayCounter
	trade    map[string]*decayCounter // API key + "|" + pair id
	public   map[string]*decayCounter // client IP
	lockouts map[string]*krakenLockoutState
	inflight map[string]int
	orders   map[*order]*krakenOrder
	byTxid   map[string]*order
	trades   map[int64]string // engine trade id → Kraken trade txid
	assets   map[string]krakenAsset
	pairs    map[string]*market // pair id and altname → market
}

// krakenOrder is what Kraken keeps about an order beyond the engine's fields.
type krakenOrder struct {
	txid    string
	clOrdID string
	userref int64
	post    bool
}

func newKrakenState(s *Server) any {
	st := &krakenState{
		tier:   KrakenTiers["starter"],
		nonces: map[string]uint64{}, rest: map[string]*decayCounter{}, trade: map[string]*decayCounter{},
		public: map[string]*decayCounter{}, lockouts: map[string]*krakenLockoutState{}, inflight: map[string]int{},
		orders: map[*order]*krakenOrder{}, byTxid: map[string]*order{}, trades: map[int64]string{},
		assets: map[string]krakenAsset{}, pairs: map[string]*market{},
	}
	for _, name := range s.marketOrder {
		m := s.markets[name]
		for _, a := range []string{m.sym.Base, m.sym.Quote} {
			st.assets[a] = krakenAssetOf(a)
		}
		st.pairs[krakenPairID(m)] = m
		st.pairs[krakenAltname(m)] = m
	}
	return st
}

func (s *Server) kraken() *krakenState { return s.dialectState.(*krakenState) }

// KrakenPrivateKey is the Kraken private key (base64) of an account whose HMACSecret is
// secret: the Kraken dialect uses the secret's bytes as the HMAC-SHA512 key.
func KrakenPrivateKey(secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(secret))
}

// SignKraken computes API-Sign for a private call: base64(HMAC-SHA512(base64-decoded
// privateKey, path + SHA256(nonce + body))).
func SignKraken(privateKey, path, nonce, body string) (string, error) {
	key, err := base64.StdEncoding.DecodeString(privateKey)
	if err != nil {
		return "", fmt.Errorf("sim: kraken private key is not base64")
	}
	return signKrakenRaw(key, path, nonce, body), nil
}

func signKrakenRaw(key []byte, path, nonce, body string) string {
	sum := sha256.Sum256([]byte(nonce + body))
	mac := hmac.New(sha512.New, key)
	mac.Write([]byte(path))
	mac.Write(sum[:])
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Kraken's error strings (docs.kraken.com guides spot-errors, spot-rest-ratelimits,
// spot-ratelimits).
const (
	krInvalidKey       = "EAPI:Invalid key"
	krInvalidSignature = "EAPI:Invalid signature"
	krInvalidNonce     = "EAPI:Invalid nonce"
	krLockout          = "EGeneral:Temporary lockout"
	krPermission       = "EGeneral:Permission denied"
	krRateLimit        = "EAPI:Rate limit exceeded"
	krOrderRateLimit   = "EOrder:Rate limit exceeded"
	krThrottled        = "EService:Throttled"
	krTooMany          = "EGeneral:Too many requests"
	krUnavailable      = "EService:Unavailable"
	krInternal         = "EGeneral:Internal error"
	krUnknownMethod    = "EGeneral:Unknown method"
	krInvalidArgs      = "EGeneral:Invalid arguments"
	krUnknownPair      = "EQuery:Unknown asset pair"
	krUnknownOrder     = "EOrder:Unknown order"
	krDuplicate        = "EOrder:Duplicate order" // undocumented; a guess
	krInsufficient     = "EOrder:Insufficient funds"
	krOrderMinimum     = "EOrder:Order minimum not met"
	krCostMinimum      = "EOrder:Cost minimum not met"
	krTickSize         = "EOrder:Tick size check failed"
	krPostOnly         = "EOrder:Post only order"
)

// krakenErrorOf translates the engine's Binance-coded rejections into Kraken's strings, in one
// table.
func krakenErrorOf(e *apiError) string {
	switch {
	case e.Code == -2010 && e.Msg == msgDuplicateOrder:
		return krDuplicate
	case e.Code == -2010 && e.Msg == msgInsufficient:
		return krInsufficient
	case e.Code == -2010 && e.Msg == msgWouldTake:
		return krPostOnly
	case e.Code == -2010 && e.Msg == msgTradingDisabled, e.Code == -2011 && e.Msg == msgTradingDisabled:
		return krPermission
	case e.Code == -2011, e.Code == -2013:
		return krUnknownOrder
	case e.Code == -1121:
		return krUnknownPair
	case e.Msg == "Filter failure: PRICE_FILTER":
		return krTickSize
	case e.Msg == "Filter failure: LOT_SIZE":
		return krOrderMinimum
	case e.Msg == "Filter failure: NOTIONAL":
		return krCostMinimum
	}
	return krInternal
}

// krakenRoute is one endpoint of the dialect.
type krakenRoute struct {
	method  string
	private bool
	// restCost is what the call adds to the key's REST counter (0: not on it).
	restCost float64
	handler  func(s *Server, c *krakenCall) (any, string)
}

var krakenRoutes = map[string]krakenRoute{
	"/0/public/Time":       {method: http.MethodGet, handler: (*Server).krTime},
	"/0/public/Assets":     {method: http.MethodGet, handler: (*Server).krAssets},
	"/0/public/AssetPairs": {method: http.MethodGet, handler: (*Server).krAssetPairs},
	"/0/public/Ticker":     {method: http.MethodGet, handler: (*Server).krTicker},
	"/0/public/Depth":      {method: http.MethodGet, handler: (*Server).krDepth},

	"/0/private/Balance":       {method: http.MethodPost, private: true, restCost: 1, handler: (*Server).krBalance},
	"/0/private/BalanceEx":     {method: http.MethodPost, private: true, restCost: 1, handler: (*Server).krBalanceEx},
	"/0/private/AddOrder":      {method: http.MethodPost, private: true, handler: (*Server).krAddOrder},
	"/0/private/CancelOrder":   {method: http.MethodPost, private: true, handler: (*Server).krCancelOrder},
	"/0/private/OpenOrders":    {method: http.MethodPost, private: true, restCost: 1, handler: (*Server).krOpenOrders},
	"/0/private/ClosedOrders":  {method: http.MethodPost, private: true, restCost: 1, handler: (*Server).krClosedOrders},
	"/0/private/QueryOrders":   {method: http.MethodPost, private: true, restCost: 1, handler: (*Server).krQueryOrders},
	"/0/private/TradesHistory": {method: http.MethodPost, private: true, restCost: 2, handler: (*Server).krTradesHistory},
	"/0/private/TradeVolume":   {method: http.MethodPost, private: true, restCost: 1, handler: (*Server).krTradeVolume},
}

// krakenCall is one request as a handler sees it.
type krakenCall struct {
	params url.Values
	acct   *account
	key    string
	now    time.Time
}

// krakenMaxBody bounds a request body.
const krakenMaxBody = 64 << 10

// krakenReply is the envelope every answer has.
type krakenReply struct {
	Error  []string `json:"error"`
	Result any      `json:"result,omitempty"`
}

// serveKraken is the dialect's pipeline: route, lockout, public or private admission
// (authentication, nonce, REST counter, concurrency), faults, the endpoint, the answer.
func serveKraken(s *Server, w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rt, known := krakenRoutes[r.URL.Path]
	key := "other"
	if known {
		key = rt.method + " " + r.URL.Path
	}
	body, berr := io.ReadAll(io.LimitReader(r.Body, krakenMaxBody+1))
	kr := s.kraken()

	s.mu.Lock()
	now := s.now()
	s.sync(now)
	ep := s.stats.endpoint(key)
	ep.Requests++
	s.stats.total.Requests++
	c, errMsg := s.krAdmit(r, rt, known, body, berr, host, now, ep)
	apiKey := ""
	if c != nil {
		apiKey = c.key
	}
	if errMsg == "" && rt.private {
		if kr.inflight[apiKey] >= krakenMaxConcurrent {
			errMsg = fmt.Sprintf("%s: %d", krThrottled, now.Add(s.scaled(time.Second)).Unix())
		} else {
			kr.inflight[apiKey]++
			defer func() {
				s.mu.Lock()
				kr.inflight[apiKey]--
				s.mu.Unlock()
			}()
		}
	}
	faults := s.faults
	if len(faults.Paths) == 0 && strings.HasPrefix(r.URL.Path, "/0/") {
		faults.Paths = []string{r.URL.Path} // "every path" in this dialect's terms
	}
	fault := faultNone
	var latency time.Duration
	if errMsg == "" {
		fault = faults.draw(r.Method, r.URL.Path, s.rng.Float64())
		latency = faults.latency(s.rng)
		if fault == faultError && faults.ErrorStatus == http.StatusTooManyRequests {
			// Injected throttling: Kraken says until when, as a Unix timestamp.
			wait := time.Duration(faults.RetryAfterS) * time.Second
			if wait <= 0 {
				wait = s.scaled(time.Second)
			}
			errMsg = fmt.Sprintf("%s: %d", krThrottled, now.Add(wait).Unix())
			fault = faultNone
		}
	}
	s.krCount(errMsg, ep)
	s.mu.Unlock()

	if errMsg != "" {
		krakenWrite(w, http.StatusOK, krakenReply{Error: []string{errMsg}})
		return
	}
	s.holdLatency(r, faults, latency)
	switch fault {
	case faultError:
		status := http.StatusServiceUnavailable
		if faults.ErrorStatus != 0 {
			status = faults.ErrorStatus
		}
		krakenWrite(w, status, krakenReply{Error: []string{krUnavailable}})
		return
	case faultAuth:
		s.mu.Lock()
		ep.AuthFailures++
		s.stats.total.AuthFailures++
		s.mu.Unlock()
		krakenWrite(w, http.StatusOK, krakenReply{Error: []string{krPermission}})
		return
	}

	s.mu.Lock()
	c.now = s.now()
	s.sync(c.now)
	result, errMsg := rt.handler(s, c)
	s.krCount(errMsg, ep)
	s.mu.Unlock()

	if errMsg != "" {
		krakenWrite(w, http.StatusOK, krakenReply{Error: []string{errMsg}})
		return
	}
	switch fault {
	case faultUnknown:
		krakenWrite(w, http.StatusOK, krakenReply{Error: []string{krInternal}})
		return
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
	krakenWrite(w, http.StatusOK, krakenReply{Error: []string{}, Result: result})
}

// krCount counts a rate-limit answer as the stats' 429 (Kraken sends them as HTTP 200).
// requires that s.mu is held.
func (s *Server) krCount(errMsg string, ep *endpointStats) {
	if krakenRateLimited(errMsg) {
		ep.Status429++
		s.stats.total.Status429++
	}
}

func krakenRateLimited(msg string) bool {
	return msg == krRateLimit || msg == krOrderRateLimit || msg == krTooMany || strings.HasPrefix(msg, krThrottled)
}

// krAdmit runs the checks before an endpoint. It returns the call, or the error to answer.
// requires that s.mu is held.
func (s *Server) krAdmit(r *http.Request, rt krakenRoute, known bool, body []byte, berr error, host string, now time.Time, ep *endpointStats) (*krakenCall, string) {
	kr := s.kraken()
	if !known {
		return nil, krUnknownMethod
	}
	if r.Method != rt.method {
		return nil, krUnknownMethod
	}
	if berr != nil || len(body) > krakenMaxBody {
		return nil, krInvalidArgs
	}
	if !rt.private {
		pc := kr.public[host]
		if pc == nil {
			pc = &decayCounter{rate: krakenPublicDecay * s.cfg.TimeScale}
			kr.public[host] = pc
		}
		v := pc.now(now)
		pc.add(now, 1)
		if v+1 > krakenPublicMax {
			return nil, krTooMany
		}
		return &krakenCall{params: r.URL.Query(), now: now}, ""
	}
	lock := kr.lockouts[host]
	if lock == nil {
		lock = &krakenLockoutState{}
		kr.lockouts[host] = lock
	}
	if now.Before(lock.until) || now.Before(s.ip(host).bannedUntil) {
		return nil, krLockout
	}
	params, nonceRaw, ok := krakenParams(r.Header.Get("Content-Type"), body)
	apiKey := r.Header.Get("API-Key")
	a := s.accounts[apiKey]
	if a == nil || a.revoked || a.key.disabled || a.cfg.HMACSecret == "" {
		s.krakenAuthFailed(lock, ep, now)
		return nil, krInvalidKey
	}
	if !ok {
		return nil, krInvalidArgs
	}
	want := signKrakenRaw([]byte(a.cfg.HMACSecret), r.URL.Path, nonceRaw, string(body))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("API-Sign"))) {
		s.krakenAuthFailed(lock, ep, now)
		return nil, krInvalidSignature
	}
	nonce, err := strconv.ParseUint(nonceRaw, 10, 64)
	if err != nil || nonce <= kr.nonces[apiKey] {
		s.krakenAuthFailed(lock, ep, now)
		return nil, krInvalidNonce
	}
	kr.nonces[apiKey] = nonce
	if rt.restCost > 0 {
		rc := kr.rest[apiKey]
		if rc == nil {
			rc = &decayCounter{rate: kr.tier.RESTDecay * s.cfg.TimeScale}
			kr.rest[apiKey] = rc
		}
		v := rc.now(now)
		rc.add(now, rt.restCost) // a refused call counts too
		if v+rt.restCost > kr.tier.RESTMax {
			return &krakenCall{key: apiKey}, krRateLimit
		}
	}
	return &krakenCall{params: params, acct: a, key: apiKey, now: now}, ""
}

// krakenParams reads a private call's parameters from a form-encoded or JSON body, and the
// nonce exactly as it appears there (the signature hashes it as text).
func krakenParams(contentType string, body []byte) (url.Values, string, bool) {
	if strings.HasPrefix(strings.TrimSpace(strings.ToLower(contentType)), "application/json") {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, "", false
		}
		v := url.Values{}
		for k, m := range raw {
			var s string
			if json.Unmarshal(m, &s) == nil {
				v.Set(k, s)
				continue
			}
			v.Set(k, strings.TrimSpace(string(m)))
		}
		return v, v.Get("nonce"), true
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, "", false
	}
	return v, v.Get("nonce"), true
}

func krakenWrite(w http.ResponseWriter, status int, rep krakenReply) {
	b, err := json.Marshal(rep)
	if err != nil {
		status, b = http.StatusOK, []byte(`{"error":["`+krInternal+`"]}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
