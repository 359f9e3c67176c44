package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/clock"
	"github.com/shopspring/decimal"
)

// Server is the simulated exchange: an http.Handler speaking Binance Spot's REST dialect, with
// its own listener when started with Listen or Start. All methods are safe for concurrent use.
type Server struct {
	cfg          Config
	clock        clock.Clock
	limits       limitSet
	walkInterval time.Duration
	commission   decimal.Decimal

	mu          sync.Mutex
	rng         *rand.Rand
	offset      time.Duration // admin clock offset added to the server's time
	rebanAfter  int           // SetRebanAfter; 0: a ban is never extended by requests during it
	markets     map[string]*market
	marketOrder []string
	accounts    map[string]*account // by API key
	acctOrder   []*account
	ips         map[string]*ipState
	allOrders   []*order
	nextOrderID int64
	nextTradeID int64
	faults      Faults
	stats       stats
	hub         *wsHub                 // WebSocket streams and API (ws_streams.go)
	klineSent   map[string]*klineState // by kline stream name (ws_klines.go)
	// orderListener hears every order change in-process (inprocess.go).
	orderListener func(OrderEvent)
	execID        int64 // the last executionReport's execution id (ws_api.go)
	dialect       dialect
	// dialectState is the dialect's own state (dialect.state), nil for Binance's.
	dialectState any

	closing   chan struct{}
	closeOnce sync.Once
	srv       *http.Server
	ln        net.Listener
	serveDone chan struct{}
}

// New builds a server from cfg (zero fields take their defaults). It does not listen; use
// Listen or Start, or mount it as an http.Handler.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		clock:      cfg.Clock,
		limits:     newLimitSet(cfg.Limits, cfg.TimeScale),
		commission: decimal.RequireFromString(cfg.CommissionRate),
		rng:        rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		markets:    map[string]*market{},
		accounts:   map[string]*account{},
		ips:        map[string]*ipState{},
		closing:    make(chan struct{}),
	}
	s.stats = newStats(s.limits.weight)
	s.walkInterval = s.scaled(cfg.WalkInterval)
	if s.walkInterval < time.Millisecond {
		s.walkInterval = time.Millisecond
	}
	now := s.now()
	replays := map[string]Replay{}
	for _, r := range cfg.Replay {
		replays[r.Symbol] = r
	}
	for i, sym := range cfg.Symbols {
		if r, ok := replays[sym.Name]; ok {
			sym.Price = r.firstPrice().String() // the book opens where the file does
		}
		m := newMarket(sym, cfg.Seed, i, now)
		if r, ok := replays[sym.Name]; ok {
			start := r.Start
			if start.IsZero() {
				start = now
			}
			m.replay = &replayPath{candles: r.Candles, trades: r.Trades, start: start, scale: cfg.TimeScale}
		}
		m.initDepth(cfg.Streams.BookLevels)
		s.markets[sym.Name] = m
		s.marketOrder = append(s.marketOrder, sym.Name)
	}
	s.hub = newHub(s)
	s.dialect = dialects[cfg.Dialect]
	if s.dialect.state != nil {
		s.dialectState = s.dialect.state(s)
	}
	for _, ac := range cfg.Accounts {
		a := &account{cfg: ac, balances: map[string]*balance{},
			orders10s: newWindow(s.limits.orders10s), ordersDay: newWindow(s.limits.ordersDay)}
		for asset, v := range ac.Balances {
			a.balances[asset] = &balance{free: decimal.RequireFromString(v)}
		}
		s.accounts[ac.APIKey] = a
		s.acctOrder = append(s.acctOrder, a)
	}
	return s, nil
}

// now is the server's time: the clock plus the admin offset.
func (s *Server) now() time.Time { return s.clock.Now().Add(s.offset) }

// Listen binds addr (e.g. "127.0.0.1:0") and serves in the background until Close.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.ln != nil {
		s.mu.Unlock()
		ln.Close()
		return errors.New("sim: already listening")
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.serveDone = make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.serveDone)
		_ = s.srv.Serve(ln)
	}()
	return nil
}

// Start is Listen, and Close once ctx is done.
func (s *Server) Start(ctx context.Context, addr string) error {
	if err := s.Listen(addr); err != nil {
		return err
	}
	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.closing:
		}
	}()
	return nil
}

// URL is the base URL clients use, e.g. "http://127.0.0.1:8600"; empty before Listen.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Addr is the listening address; nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the listener, releases requests held by faults and waits for the server
// goroutine. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.hub.close()
	s.mu.Lock()
	srv, done := s.srv, s.serveDone
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = srv.Close()
	}
	<-done
	return err
}

// reply is what a handler answers: an HTTP status and a JSON body.
type reply struct {
	status int
	body   any
}

func ok(body any) reply { return reply{status: http.StatusOK, body: body} }

// ServeHTTP answers one request. /sim/ paths are the admin API; everything else goes through
// the exchange pipeline: ban and Retry-After checks, raw-request and weight limits, faults,
// authentication, the endpoint, then the usage headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/sim/" {
		s.serveAdmin(w, r)
		return
	}
	if s.redirected(w, r) {
		return
	}
	if s.dialect.serve != nil {
		s.dialect.serve(s, w, r)
		return
	}
	if s.serveWS(w, r) {
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	rt := lookupRoute(r.Method, r.URL.Path)
	req, perr := parseRequest(r)

	s.mu.Lock()
	now := s.now()
	s.sync(now)
	ep := s.stats.endpoint(rt.key())
	ep.Requests++
	s.stats.total.Requests++
	st := s.ip(host)
	rep, hdrRetry, proceed := s.admit(st, rt, req, perr, now, ep)
	faults := s.faults
	var fault faultKind
	var latency time.Duration
	if proceed {
		fault = faults.draw(r.Method, r.URL.Path, s.rng.Float64())
		if fault == faultError && faults.ErrorStatus == http.StatusTooManyRequests {
			// An injected 429 is refused as the weight limit refuses, at once and uncharged.
			s.charge(st, ep, now, -rt.weight(req))
			rep, hdrRetry = s.refuseWeight(st, now, faults.retryUntil(now, st.weight.end()))
			proceed = false
		} else {
			latency = faults.latency(s.rng)
		}
	}
	s.mu.Unlock()

	if proceed {
		s.holdLatency(r, faults, latency)
	}
	authRefused := false
	if proceed && fault == faultError {
		rep, proceed = faults.injectedError(), false
	}
	if proceed && fault == faultAuth {
		rep, proceed = reply{status: errRejectedKey().status, body: errRejectedKey()}, false
		authRefused = true
	}
	if e, ok := rep.body.(*apiError); ok && faults.EchoAPIKey && (fault == faultError || fault == faultAuth) {
		e.Msg += " (key: " + r.Header.Get("X-MBX-APIKEY") + ")"
	}

	s.mu.Lock()
	if proceed {
		now = s.now()
		s.sync(now)
		var ra int64
		rep, ra = s.handle(rt, req, st, now, ep)
		if ra > 0 {
			hdrRetry = ra
		}
		if rt.freeOnSuccess && !s.cfg.Limits.ChargeAllOrders && rep.status < 300 {
			s.charge(st, ep, now, -rt.weight(req))
		}
	}
	if authRefused {
		s.authFailure(ep)
	}
	s.count(rep, ep)
	h := w.Header()
	st.weight.at(now)
	acct := s.accountFor(r)
	var o10, oDay int64
	if acct != nil {
		o10, oDay = acct.orders10s.at(now), acct.ordersDay.at(now)
	}
	s.limits.setHeaders(h, st.weight.count, o10, oDay)
	s.mu.Unlock()

	if hdrRetry > 0 {
		h.Set("Retry-After", strconv.FormatInt(hdrRetry, 10))
	}
	faults.bendHeaders(h, r.Method, r.URL.Path, fault == faultError)
	if proceed && rep.status < 300 {
		switch fault {
		case faultUnknown:
			rep = reply{status: errTimeout().status, body: errTimeout()}
		case faultMalformed:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, malformedBody)
			return
		case faultDrop:
			// The order is booked; the client never hears. http.ErrAbortHandler closes the
			// connection without an answer.
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
	s.writeAnswer(w, r, rep, faults)
}

// admit runs the checks that come before an endpoint: parse errors, bans and Retry-After,
// RAW_REQUESTS and REQUEST_WEIGHT. It charges the weight. proceed is false when rep is final.
// requires that s.mu is held.
func (s *Server) admit(st *ipState, rt route, req *request, perr *apiError, now time.Time, ep *endpointStats) (rep reply, retry int64, proceed bool) {
	if aerr, ra := s.checkBackoff(st, now, ep); aerr != nil {
		return reply{status: aerr.status, body: aerr}, ra, false
	}
	st.raw.at(now)
	if st.raw.count+1 > s.limits.rawLimit {
		st.retryUntil, st.violations = st.raw.end(), 0
		e := errTooManyRequests()
		return reply{status: e.status, body: e}, retryAfter(now, st.retryUntil), false
	}
	st.raw.count++
	w := int64(1)
	if perr == nil {
		w = rt.weight(req)
	}
	st.weight.at(now)
	if st.weight.count+w > s.limits.weightLimit {
		rep, retry := s.refuseWeight(st, now, st.weight.end())
		return rep, retry, false
	}
	s.charge(st, ep, now, w)
	if perr != nil {
		return reply{status: perr.status, body: perr}, 0, false
	}
	if rt.handler == nil {
		e := errUnsupportedOp()
		return reply{status: e.status, body: e}, 0, false
	}
	return reply{}, 0, true
}

// refuseWeight answers as Binance does past REQUEST_WEIGHT (-1003): the IP must wait until
// until, and requests before then count toward a ban. It returns the Retry-After in seconds.
// requires that s.mu is held.
func (s *Server) refuseWeight(st *ipState, now, until time.Time) (reply, int64) {
	st.retryUntil, st.violations = until, 0
	e := errWeightExceeded(s.limits.weightLimit, s.limits.weight.per())
	return reply{status: e.status, body: e}, retryAfter(now, until)
}

// handle authenticates a signed request and runs the endpoint.
// requires that s.mu is held.
func (s *Server) handle(rt route, req *request, st *ipState, now time.Time, ep *endpointStats) (reply, int64) {
	var acct *account
	if rt.signed {
		a, aerr := s.authenticate(req, now)
		if aerr != nil {
			s.authFailure(ep)
			return reply{status: aerr.status, body: aerr}, 0
		}
		acct = a
	}
	c := &call{req: req, acct: acct, now: now, ip: st, ep: ep}
	rep := rt.handler(s, c)
	if req.micro && !rt.microAware && rep.status < 300 {
		rep.body = inMicros(rep.body)
	}
	return rep, c.retry
}

// accountFor is the account named by the request's X-MBX-APIKEY header, if any.
// requires that s.mu is held.
func (s *Server) accountFor(r *http.Request) *account {
	if len(s.acctOrder) == 1 {
		return s.acctOrder[0]
	}
	return s.accounts[r.Header.Get("X-MBX-APIKEY")]
}

// authFailure counts a signed call refused for its key, signature or timestamp.
// requires that s.mu is held.
func (s *Server) authFailure(ep *endpointStats) {
	ep.AuthFailures++
	s.stats.total.AuthFailures++
}

// count updates the 429/418 counters.
// requires that s.mu is held.
func (s *Server) count(rep reply, ep *endpointStats) {
	switch rep.status {
	case http.StatusTooManyRequests:
		ep.Status429++
		s.stats.total.Status429++
	case http.StatusTeapot:
		ep.Status418++
		s.stats.total.Status418++
	}
}

func writeJSON(w http.ResponseWriter, rep reply) {
	b, err := json.Marshal(rep.body)
	if err != nil {
		rep.status = http.StatusInternalServerError
		b = []byte(`{"code":-1000,"msg":"` + msgUnknown + `"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(b)
}

// wait blocks for d on the server's clock; false when the request or the server ended first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	c, stop := s.clock.NewTimer(d)
	defer stop()
	select {
	case <-c:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// redirected answers r with the RedirectTo fault's 307, counted in the stats, when it applies.
func (s *Server) redirected(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	f := s.faults
	if f.RedirectTo == "" || !f.applies(r.Method, r.URL.Path) {
		s.mu.Unlock()
		return false
	}
	ep := s.stats.endpoint(r.Method + " " + r.URL.Path)
	ep.Requests++
	s.stats.total.Requests++
	s.mu.Unlock()
	target := strings.TrimRight(f.RedirectTo, "/") + r.URL.RequestURI()
	http.Redirect(w, r, target, http.StatusTemporaryRedirect)
	return true
}

// nextExecID numbers executionReports: Binance's "I" is an execution id, distinct per event.
// requires that s.mu is held.
func (s *Server) nextExecID() int64 {
	s.execID++
	return s.execID
}
