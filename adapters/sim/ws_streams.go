package sim

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// WebSocket streams, as web-socket-streams.md describes them:
//
//	/ws, /ws/<stream>[/<stream>...]     raw streams: each message is the event itself
//	/stream, /stream?streams=<s1>/...   combined: {"stream":"<name>","data":<event>}
//	/ws-api/v3                          the WebSocket API (ws_api.go): user data stream
//
// Streams: <symbol>@trade (one per step of the price walk), <symbol>@bookTicker (when the best
// bid or ask changes) and <symbol>@depth@100ms (diff updates with U/u consistent with
// GET /api/v3/depth's lastUpdateId; ws_book.go), <symbol>@kline_<interval> (ws_klines.go), and
// @aggTrade, @depth (1000ms), partial @depth<N>, @ticker, @miniTicker, !miniTicker@arr,
// @ticker_<w>, !ticker_<w>@arr and @avgPrice (ws_market.go). Symbols are lower case.
// timeUnit=MICROSECOND in the URL makes event times microseconds. SUBSCRIBE, UNSUBSCRIBE,
// LIST_SUBSCRIPTIONS, SET_PROPERTY and GET_PROPERTY are answered (control).
//
// Limits ("Websocket Limits"): StreamConfig.ConnectionsPerWindow connection attempts per IP
// per ConnectionWindow (300 per 5 minutes, time-scaled), past which the upgrade is refused
// with 429; MessagesPerSecond incoming messages (ping, pong or JSON) per connection, past
// which the connection is closed (1008 policy violation). The server pings every
// PingInterval and drops a connection that has not answered within PongTimeout. A client that
// cannot keep up (SendBuffer messages behind) is disconnected.

// StreamConfig configures the WebSocket side. Zero fields take the defaults noted.
type StreamConfig struct {
	// BookLevels is the depth of the simulated book per side: GET /api/v3/depth returns at
	// most this many, as Binance returns at most the levels its book has. Default 5000, the
	// largest limit Binance serves. The 50 levels next to the price are one tick apart, the
	// deeper ones on a coarser grid (book.go).
	BookLevels int
	// Interval is the diff-depth cadence (@100ms) and how often trades and book tickers are
	// pushed. It is not time-scaled. Default 100ms.
	Interval time.Duration
	// PingInterval and PongTimeout: default 20s and 1m (not time-scaled).
	PingInterval, PongTimeout time.Duration
	// ConnectionsPerWindow connection attempts per IP per ConnectionWindow (time-scaled),
	// counted separately for streams and the WebSocket API. Defaults 300 and 5m.
	ConnectionsPerWindow int64
	ConnectionWindow     time.Duration
	// MessagesPerSecond a client may send on one stream connection. Default 5.
	MessagesPerSecond int
	// SendBuffer messages may wait for a slow client before it is disconnected. Default 4096.
	SendBuffer int
}

func (c *StreamConfig) setDefaults() {
	if c.BookLevels <= 0 {
		c.BookLevels = 5000
	}
	if c.Interval <= 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PongTimeout <= 0 {
		c.PongTimeout = time.Minute
	}
	if c.ConnectionsPerWindow <= 0 {
		c.ConnectionsPerWindow = 300
	}
	if c.ConnectionWindow <= 0 {
		c.ConnectionWindow = 5 * time.Minute
	}
	if c.MessagesPerSecond <= 0 {
		c.MessagesPerSecond = 5
	}
	if c.SendBuffer <= 0 {
		c.SendBuffer = 4096
	}
}

// StreamFaults are WebSocket failures injected for tests (PUT /sim/streams/faults). The zero
// value injects nothing.
type StreamFaults struct {
	// DropEveryMS drops every connection (streams and API) every that many milliseconds.
	DropEveryMS int `json:"drop_every_ms"`
	// DepthDelayMS holds diff updates back this long before sending them (in order).
	DepthDelayMS int `json:"depth_delay_ms"`
	// SkipDepth computes and discards the next that many diff updates of Symbol: clients see
	// a gap in update ids.
	SkipDepth int `json:"skip_depth"`
	// Symbol limits DepthDelayMS and SkipDepth to one symbol; empty means every symbol.
	Symbol string `json:"symbol"`
}

// StreamStats counts WebSocket connections (GET /sim/stats "streams").
type StreamStats struct {
	Opened       int64 `json:"opened"`        // stream connections accepted
	Refused      int64 `json:"refused"`       // stream upgrades refused by the connection limit
	ClosedRate   int64 `json:"closed_rate"`   // closed for sending too many messages
	ClosedSlow   int64 `json:"closed_slow"`   // closed for not reading fast enough
	Dropped      int64 `json:"dropped"`       // closed by a drop fault
	Open         int   `json:"open"`          // connections open now (streams and API)
	APIOpened    int64 `json:"api_opened"`    // WebSocket API connections accepted
	APIRefused   int64 `json:"api_refused"`   // WebSocket API upgrades refused
	DepthSkipped int64 `json:"depth_skipped"` // diff updates discarded by SkipDepth
	Logons       int64 `json:"logons"`        // session.logon requests accepted
	// UserSubscriptions counts user data stream subscriptions started, by
	// userDataStream.subscribe (on a logged-on session) and by
	// userDataStream.subscribe.signature.
	UserSubscriptions          int64 `json:"user_subscriptions"`
	UserSubscriptionsSignature int64 `json:"user_subscriptions_signature"`
}

// wsHub owns every WebSocket connection, the broadcaster and the stream faults.
// Lock order: s.mu before h.mu; nothing takes s.mu while holding h.mu.
type wsHub struct {
	s *Server

	mu       sync.Mutex
	conns    map[*wsConn]struct{}
	ipStream map[string]*window
	ipAPI    map[string]*window
	stats    StreamStats
	faults   StreamFaults
	nextDrop time.Time
	// drops counts DropStreams calls: a connection admitted before a drop and registered after
	// it (its handshake was in flight) is dropped too, as the client already holds it.
	drops   uint64
	delayed []delayedMsg
	// nextSecond is when the 1000ms streams (tickers, @depth, partial depth) push next.
	nextSecond time.Time
	started    bool
	closed     bool
	done       chan struct{}
	wake       chan struct{}
	userSubs   map[*account][]userSub
	wg         sync.WaitGroup
}

type delayedMsg struct {
	at     time.Time
	stream string
	ev     streamEvent
}

type userSub struct {
	c  *wsConn
	id int
}

func newHub(s *Server) *wsHub {
	return &wsHub{s: s, conns: map[*wsConn]struct{}{}, ipStream: map[string]*window{}, ipAPI: map[string]*window{},
		done: make(chan struct{}), wake: make(chan struct{}, 1), userSubs: map[*account][]userSub{}}
}

func (h *wsHub) statsSnapshot() StreamStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.stats
	st.Open = len(h.conns)
	return st
}

// close drops every connection, stops the broadcaster and waits for every goroutine.
func (h *wsHub) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	conns := h.connList()
	h.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	h.wg.Wait()
}

// requires that h.mu is held.
func (h *wsHub) connList() []*wsConn {
	out := make([]*wsConn, 0, len(h.conns))
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}

// admit counts a connection attempt of ip and reports whether it is within the limit, with
// the drop count to hand to add.
func (h *wsHub) admit(ip string, api bool, now time.Time) (drops uint64, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, false
	}
	m := h.ipStream
	if api {
		m = h.ipAPI
	}
	w, ok := m[ip]
	if !ok {
		nw := newWindow(scaledInterval(h.s.cfg.Streams.ConnectionWindow, h.s.cfg.TimeScale))
		w = &nw
		m[ip] = w
	}
	if w.at(now) >= h.s.cfg.Streams.ConnectionsPerWindow {
		if api {
			h.stats.APIRefused++
		} else {
			h.stats.Refused++
		}
		return 0, false
	}
	w.count++
	// Counted before the handshake is answered, so a client whose connection is up is
	// always in the stats.
	h.opened(api, 1)
	return h.drops, true
}

// opened adds n to the count of accepted connections of the kind.
// requires that h.mu is held.
func (h *wsHub) opened(api bool, n int64) {
	if api {
		h.stats.APIOpened += n
	} else {
		h.stats.Opened += n
	}
}

// streaming reports whether the broadcaster runs (a connection was ever made): until then
// diff updates have no one to reach.
func (h *wsHub) streaming() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started
}

// add registers c and starts the broadcaster with the first connection; false once closed,
// or when a drop came between c's admission (drops, from admit) and now.
func (h *wsHub) add(c *wsConn, drops uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	if h.drops != drops {
		h.stats.Dropped++
		return false
	}
	h.conns[c] = struct{}{}
	h.wg.Add(1)
	if !h.started {
		h.started = true
		h.wg.Add(1)
		go h.broadcast()
	}
	return true
}

func (h *wsHub) remove(c *wsConn) {
	h.mu.Lock()
	delete(h.conns, c)
	for a, subs := range h.userSubs {
		kept := subs[:0]
		for _, s := range subs {
			if s.c != c {
				kept = append(kept, s)
			}
		}
		h.userSubs[a] = kept
	}
	h.mu.Unlock()
	h.wg.Done()
}

// DropStreams closes every WebSocket connection now (streams and API), as a network failure
// would: without a close frame.
func (s *Server) DropStreams() {
	h := s.hub
	h.mu.Lock()
	conns := h.connList()
	h.stats.Dropped += int64(len(conns))
	h.drops++
	h.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
}

// SetStreamFaults replaces the stream faults.
func (s *Server) SetStreamFaults(f StreamFaults) {
	h := s.hub
	h.mu.Lock()
	h.faults = f
	h.nextDrop = time.Time{}
	if f.DropEveryMS > 0 {
		h.nextDrop = s.clock.Now().Add(time.Duration(f.DropEveryMS) * time.Millisecond)
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// StreamFaults returns the current stream faults.
func (s *Server) StreamFaults() StreamFaults {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.hub.faults
}

// broadcast pushes market events every Interval and runs the drop fault, until close.
func (h *wsHub) broadcast() {
	defer h.wg.Done()
	clk := h.s.clock
	next := clk.Now().Add(h.s.cfg.Streams.Interval)
	for {
		h.mu.Lock()
		wait := next.Sub(clk.Now())
		if !h.nextDrop.IsZero() {
			wait = min(wait, h.nextDrop.Sub(clk.Now()))
		}
		h.mu.Unlock()
		if wait > 0 {
			c, stop := clk.NewTimer(wait)
			select {
			case <-h.done:
				stop()
				return
			case <-h.wake:
				stop()
				continue
			case <-c:
			}
		}
		now := clk.Now()
		h.mu.Lock()
		drop := !h.nextDrop.IsZero() && !now.Before(h.nextDrop)
		if drop {
			h.nextDrop = now.Add(time.Duration(h.faults.DropEveryMS) * time.Millisecond)
		}
		h.mu.Unlock()
		if drop {
			h.s.DropStreams()
		}
		if !now.Before(next) {
			h.tick(now)
			next = now.Add(h.s.cfg.Streams.Interval)
		}
	}
}

// streamEvent is one market event; its time field is set per client (ms or µs).
type streamEvent struct {
	body    map[string]any
	timeKey []string // fields that hold times
	at      time.Time
	// build, when set, makes the body for a client's time unit (times nested deeper than
	// timeKey reaches, as in a kline's).
	build func(micro bool) any
}

// tick computes this interval's events under s.mu and sends them.
func (h *wsHub) tick(now time.Time) {
	s := h.s
	type out struct {
		stream string
		ev     streamEvent
	}
	var evs []out
	h.mu.Lock()
	faults := h.faults
	h.mu.Unlock()
	var skipped int64
	var delayed []delayedMsg
	subs := h.subscribed()
	want := make(map[string]bool, len(subs))
	var klineNames []string
	for _, n := range subs {
		want[n] = true
		if strings.Contains(n, "@kline_") {
			klineNames = append(klineNames, n)
		}
	}
	second := !now.Before(h.nextSecond)
	if second {
		h.nextSecond = now.Add(time.Second)
	}
	s.mu.Lock()
	snow := s.now()
	s.sync(snow)
	for _, e := range s.klineEvents(klineNames, snow) {
		evs = append(evs, out{e.stream, e.ev})
	}
	for _, name := range s.marketOrder {
		m := s.markets[name]
		lower := strings.ToLower(name)
		for _, t := range m.depth.trades {
			evs = append(evs, out{lower + "@trade", streamEvent{body: map[string]any{
				"e": "trade", "s": name, "t": t.id, "p": fmt8(m.tickPrice(t.ticks)), "q": fmt8(t.qty),
				"m": t.buyer, "M": true}, timeKey: []string{"E", "T"}, at: snow}})
			if want[lower+"@aggTrade"] {
				evs = append(evs, out{lower + "@aggTrade", aggTradeEvent(m, t, snow)})
			}
		}
		m.depth.trades = m.depth.trades[:0]
		d, ok := m.diff()
		if !ok {
			continue
		}
		if want[lower+"@depth"] || want[lower+"@depth@1000ms"] {
			m.depth.slow.merge(d)
		}
		bids, asks := m.book(1)
		if len(bids) > 0 && len(asks) > 0 && (m.ticks-1 != m.depth.lastBid || m.ticks+1 != m.depth.lastAsk) {
			m.depth.lastBid, m.depth.lastAsk = m.ticks-1, m.ticks+1
			evs = append(evs, out{lower + "@bookTicker", streamEvent{body: map[string]any{
				"u": d.final, "s": name, "b": bids[0][0], "B": bids[0][1], "a": asks[0][0], "A": asks[0][1]}}})
		}
		mine := faults.Symbol == "" || faults.Symbol == name
		if mine && faults.SkipDepth > 0 {
			faults.SkipDepth--
			skipped++
			continue
		}
		if d.bids == nil {
			d.bids = []bookLevel{}
		}
		if d.asks == nil {
			d.asks = []bookLevel{}
		}
		ev := streamEvent{body: map[string]any{"e": "depthUpdate", "s": name, "U": d.first, "u": d.final,
			"b": d.bids, "a": d.asks}, timeKey: []string{"E"}, at: snow}
		if mine && faults.DepthDelayMS > 0 {
			delayed = append(delayed, delayedMsg{at: now.Add(time.Duration(faults.DepthDelayMS) * time.Millisecond),
				stream: lower + "@depth@100ms", ev: ev})
			continue
		}
		evs = append(evs, out{lower + "@depth@100ms", ev})
	}
	for _, e := range s.marketEvents(want, snow, second) {
		evs = append(evs, out{e.stream, e.ev})
	}
	s.mu.Unlock()

	h.mu.Lock()
	if skipped > 0 {
		h.faults.SkipDepth = max(0, h.faults.SkipDepth-int(skipped))
		h.stats.DepthSkipped += skipped
	}
	h.delayed = append(h.delayed, delayed...)
	n := 0
	for _, d := range h.delayed {
		if now.Before(d.at) {
			break
		}
		evs = append(evs, out{d.stream, d.ev})
		n++
	}
	h.delayed = h.delayed[n:]
	conns := h.connList()
	h.mu.Unlock()
	for _, e := range evs {
		cache := map[[2]bool][]byte{}
		for _, c := range conns {
			if c.api || !c.subscribed(e.stream) {
				continue
			}
			c.mu.Lock()
			combined := c.combined // SET_PROPERTY may change it
			c.mu.Unlock()
			key := [2]bool{combined, c.micro}
			b, ok := cache[key]
			if !ok {
				b = e.ev.encode(e.stream, combined, c.micro)
				cache[key] = b
			}
			c.push(b)
		}
	}
}

func (e streamEvent) encode(stream string, combined, micro bool) []byte {
	if e.build != nil {
		var v any = e.build(micro)
		if combined {
			v = map[string]any{"stream": stream, "data": v}
		}
		b, _ := json.Marshal(v)
		return b
	}
	body := make(map[string]any, len(e.body)+2)
	for k, v := range e.body {
		body[k] = v
	}
	t := e.at.UnixMilli()
	if micro {
		t = e.at.UnixMicro()
	}
	for _, k := range e.timeKey {
		body[k] = t
	}
	var v any = body
	if combined {
		v = map[string]any{"stream": stream, "data": body}
	}
	b, _ := json.Marshal(v)
	return b
}

// wsConn is one WebSocket connection.
type wsConn struct {
	hub      *wsHub
	c        *websocket.Conn
	ip       string
	api      bool
	combined bool
	micro    bool
	ctx      context.Context
	cancel   context.CancelFunc
	send     chan []byte

	mu      sync.Mutex
	streams map[string]bool
	msgWin  time.Time
	msgs    int
	session *account // after session.logon
	// authorized is when session.logon succeeded; connected when the connection opened.
	authorized, connected time.Time
	// returnLimits: the connection URL did not say returnRateLimits=false.
	returnLimits bool
	subs         map[int]wsSub
	nextSub      int
}

func (c *wsConn) subscribed(stream string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[stream]
}

// push queues b; a client SendBuffer messages behind is disconnected.
func (c *wsConn) push(b []byte) {
	select {
	case c.send <- b:
	default:
		c.hub.mu.Lock()
		c.hub.stats.ClosedSlow++
		c.hub.mu.Unlock()
		c.kill()
	}
}

func (c *wsConn) kill() {
	c.cancel()
	if c.c != nil {
		_ = c.c.CloseNow()
	}
}

// incoming counts one message from the client; past the limit the connection is closed.
func (c *wsConn) incoming() bool {
	if c.api {
		return true
	}
	now := c.hub.s.clock.Now()
	c.mu.Lock()
	if now.Sub(c.msgWin) >= time.Second {
		c.msgWin, c.msgs = now, 0
	}
	c.msgs++
	over := c.msgs > c.hub.s.cfg.Streams.MessagesPerSecond
	c.mu.Unlock()
	if over {
		c.hub.mu.Lock()
		c.hub.stats.ClosedRate++
		c.hub.mu.Unlock()
		// Closing with a close frame would wait for the client's answer inside the reader;
		// Binance just disconnects.
		c.kill()
		return false
	}
	return true
}

// wsSub is one user data subscription of a connection.
type wsSub struct {
	acct *account
	// session: started by userDataStream.subscribe on the logged-on session, so
	// session.logout ends it (a signed subscription outlives a logout).
	session bool
}

// validStream reports whether name is a stream the simulator serves.
func (s *Server) validStream(name string) bool { return s.streamProblem(name) == "" }

// streamProblem says why name is not a stream the simulator serves ("" when it is): an
// unknown symbol, or an unknown stream.
func (s *Server) streamProblem(name string) string {
	if validAllMarketStream(name) {
		return ""
	}
	sym, kind, ok := strings.Cut(name, "@")
	if !ok || sym != strings.ToLower(sym) {
		return "unknown stream " + name
	}
	switch kind {
	case "trade", "bookTicker", "depth@100ms":
	default:
		if _, _, ok := parseKlineStream(kind); !ok && !validMarketStream(kind) {
			return "unknown stream " + name
		}
	}
	if _, ok := s.markets[strings.ToUpper(sym)]; !ok {
		return "Invalid symbol."
	}
	return ""
}

// subscribed lists the streams some connection follows, sorted.
func (h *wsHub) subscribed() []string {
	h.mu.Lock()
	conns := h.connList()
	h.mu.Unlock()
	seen := map[string]bool{}
	var names []string
	for _, c := range conns {
		if c.api {
			continue
		}
		c.mu.Lock()
		for n := range c.streams {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
		c.mu.Unlock()
	}
	sort.Strings(names)
	return names
}

// serveWS answers the WebSocket paths; false for any other path.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	api := path == "/ws-api/v3"
	var names []string
	combined := false
	switch {
	case api:
	case path == "/ws" || path == "/ws/":
		// A bare connection: streams come with SUBSCRIBE.
	case strings.HasPrefix(path, "/ws/"):
		names = strings.Split(strings.TrimPrefix(path, "/ws/"), "/")
	case path == "/stream" || path == "/stream/":
		combined = true
		if v := r.URL.Query().Get("streams"); v != "" {
			names = strings.Split(v, "/")
		}
	default:
		return false
	}
	// A name in the URL that is no stream the simulator serves is ignored, not refused:
	// Binance accepts such connections (ccxt opens wss://stream.binance.com:9443/ws/0 and
	// subscribes with SUBSCRIBE; a trace is in ccxt/ccxt#18162), and ccxt depends on it
	// (TestCCXTStreams). SUBSCRIBE refuses unknown streams (control).
	s.mu.Lock()
	known := names[:0:0]
	for _, n := range names {
		if s.streamProblem(n) == "" {
			known = append(known, n)
		}
	}
	names = known
	s.mu.Unlock()
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	h := s.hub
	drops, admitted := h.admit(host, api, s.clock.Now())
	if !admitted {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, reply{status: http.StatusTooManyRequests, body: errTooManyRequests()})
		return true
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{hub: h, ip: host, api: api, combined: combined, ctx: ctx, cancel: cancel,
		send: make(chan []byte, s.cfg.Streams.SendBuffer), streams: map[string]bool{}, subs: map[int]wsSub{},
		micro:        strings.EqualFold(r.URL.Query().Get("timeUnit"), "MICROSECOND"),
		connected:    s.clock.Now(),
		returnLimits: r.URL.Query().Get("returnRateLimits") != "false"}
	for _, n := range names {
		c.streams[n] = true
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OnPingReceived: func(context.Context, []byte) bool { return c.incoming() },
		OnPongReceived: func(context.Context, []byte) { c.incoming() },
	})
	if err != nil {
		cancel()
		h.mu.Lock()
		h.opened(api, -1) // the handshake failed: not a connection after all
		h.mu.Unlock()
		return true
	}
	c.c = ws
	ws.SetReadLimit(1 << 20)
	if !h.add(c, drops) {
		c.kill()
		return true
	}
	defer h.remove(c)
	c.run()
	return true
}

// run serves the connection until it ends: a writer, a pinger, and the reader here.
func (c *wsConn) run() {
	defer c.kill()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.writer() }()
	go func() { defer wg.Done(); c.pinger() }()
	defer wg.Wait()
	defer c.cancel()
	for {
		_, msg, err := c.c.Read(c.ctx)
		if err != nil {
			return
		}
		if !c.incoming() {
			return
		}
		if c.api {
			c.hub.s.apiRequest(c, msg)
		} else {
			c.control(msg)
		}
	}
}

func (c *wsConn) writer() {
	for {
		select {
		case <-c.ctx.Done():
			return
		case b := <-c.send:
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			err := c.c.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				c.kill()
				return
			}
		}
	}
}

func (c *wsConn) pinger() {
	cfg := c.hub.s.cfg.Streams
	for {
		t, stop := c.hub.s.clock.NewTimer(cfg.PingInterval)
		select {
		case <-c.ctx.Done():
			stop()
			return
		case <-t:
		}
		ctx, cancel := context.WithTimeout(c.ctx, cfg.PongTimeout)
		err := c.c.Ping(ctx)
		cancel()
		if err != nil {
			c.kill()
			return
		}
	}
}

// control answers SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and GET_PROPERTY
// on a stream connection (web-socket-streams.md "Live Subscribing/Unsubscribing to streams").
// Errors nest under "error" as the live stream answers them ({"error":{"code":2,"msg":...},
// "id":1}); the docs' table prints them without that wrapper.
func (c *wsConn) control(msg []byte) {
	var req struct {
		Method *string           `json:"method"`
		Params []json.RawMessage `json:"params"`
		ID     json.RawMessage   `json:"id"`
		Extra  map[string]any    `json:"-"`
	}
	if err := json.Unmarshal(msg, &req); err != nil {
		// No id can be read from it: the reply carries "id": null, as a client waiting for
		// its id expects some reply to match.
		c.reply(map[string]any{"error": map[string]any{"code": 3, "msg": "Invalid JSON: " + err.Error()}, "id": nil})
		return
	}
	id := req.ID
	if id == nil {
		id = json.RawMessage("null")
	}
	fail := func(code int, msg string) {
		c.reply(map[string]any{"error": map[string]any{"code": code, "msg": msg}, "id": id})
	}
	if !validRequestID(id) {
		fail(2, "Invalid request: request ID must be an unsigned integer")
		return
	}
	if req.Method == nil {
		fail(2, "Invalid request: missing field `method`")
		return
	}
	strs := func() ([]string, bool) {
		out := make([]string, 0, len(req.Params))
		for _, p := range req.Params {
			var v string
			if json.Unmarshal(p, &v) != nil {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	}
	s := c.hub.s
	switch *req.Method {
	case "SUBSCRIBE", "UNSUBSCRIBE":
		names, ok := strs()
		if !ok {
			fail(2, "Invalid request: stream names must be strings")
			return
		}
		s.mu.Lock()
		for _, n := range names {
			if p := s.streamProblem(n); p != "" {
				s.mu.Unlock()
				if p == "Invalid symbol." {
					p = "unknown stream " + n + " (no such symbol)"
				}
				fail(2, "Invalid request: "+p)
				return
			}
		}
		s.mu.Unlock()
		c.mu.Lock()
		if *req.Method == "SUBSCRIBE" && len(c.streams)+len(names) > maxStreamsPerConn {
			c.mu.Unlock()
			fail(2, "Invalid request: too many streams: a connection listens to at most 1024")
			return
		}
		for _, n := range names {
			if *req.Method == "SUBSCRIBE" {
				c.streams[n] = true
			} else {
				delete(c.streams, n)
			}
		}
		c.mu.Unlock()
		c.reply(map[string]any{"result": nil, "id": id})
	case "LIST_SUBSCRIPTIONS":
		c.mu.Lock()
		list := make([]string, 0, len(c.streams))
		for n := range c.streams {
			list = append(list, n)
		}
		c.mu.Unlock()
		sort.Strings(list)
		c.reply(map[string]any{"result": list, "id": id})
	case "SET_PROPERTY", "GET_PROPERTY":
		set := *req.Method == "SET_PROPERTY"
		want := 1
		if set {
			want = 2
		}
		if len(req.Params) > want {
			fail(2, "Invalid request: too many parameters")
			return
		}
		var prop string
		if len(req.Params) == 0 || json.Unmarshal(req.Params[0], &prop) != nil {
			fail(2, "Invalid request: property name must be a string")
			return
		}
		if prop != "combined" {
			fail(0, "Unknown property")
			return
		}
		if !set {
			c.mu.Lock()
			v := c.combined
			c.mu.Unlock()
			c.reply(map[string]any{"result": v, "id": id})
			return
		}
		var v bool
		if len(req.Params) < 2 || json.Unmarshal(req.Params[1], &v) != nil {
			fail(1, "Invalid value type: expected Boolean")
			return
		}
		c.mu.Lock()
		c.combined = v
		c.mu.Unlock()
		c.reply(map[string]any{"result": nil, "id": id})
	default:
		fail(2, "Invalid request: unknown variant "+*req.Method+
			", expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`")
	}
}

// maxStreamsPerConn is how many streams one connection may follow ("WebSocket Limits").
const maxStreamsPerConn = 1024

// validRequestID: a 64-bit signed integer, an alphanumeric string of at most 36 characters, or
// null ("Live Subscribing/Unsubscribing to streams").
func validRequestID(id json.RawMessage) bool {
	if string(id) == "null" {
		return true
	}
	var n int64
	if json.Unmarshal(id, &n) == nil {
		return true
	}
	var s string
	if json.Unmarshal(id, &s) != nil || len(s) == 0 || len(s) > 36 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func (c *wsConn) reply(v any) {
	b, _ := json.Marshal(v)
	c.push(b)
}

// unit prints t in the connection's time unit.
func (c *wsConn) unit(t time.Time) int64 { return unit(t, c.micro) }
