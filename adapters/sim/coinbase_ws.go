package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/shopspring/decimal"
)

// Coinbase Advanced Trade's WebSocket feeds (docs.cdp.coinbase.com, advanced-trade
// "WebSocket Overview", "WebSocket Channels", "WebSocket Authentication"), as the coinbase
// dialect serves them on the REST listener:
//
//	/ws        the market data endpoint (wss://advanced-trade-ws.coinbase.com)
//	/ws/user   the user order data endpoint (wss://advanced-trade-ws-user.coinbase.com)
//
// Both serve every channel. A client subscribes with one message per channel:
//
//	{"type":"subscribe","channel":"level2","product_ids":["BTC-USDT"],"jwt":"..."}
//
// Channels: heartbeats (one message a second, heartbeat_counter counting up), level2 (its
// messages name the channel "l2_data": a snapshot of the book's top CoinbaseConfig.WSBookLevels
// levels a side, then updates with the new quantity of every level that changed, 0 for a
// level gone), ticker (a snapshot, then an update whenever the price or the top of the book
// moves), market_trades (the price walk's trades), candles (the current five-minute candle,
// updated as trades land) and user (the account's open orders as a snapshot, then every
// change of an order of the account). Every message carries the connection's sequence_num,
// counting from 0 across every channel of the connection: a client that sees one skipped
// has missed a message (a guess: the docs say the number lets a client detect a missed
// message, not whether it counts per connection or per channel).
//
// Authentication: a JWT in each subscribe message, verified as a REST request's is
// (coinbase_auth.go: the signature, iss, nbf <= now < exp within 120 s), except that it names
// no uri. The user channel needs one; on any other channel a JWT is optional, but a bad one
// is refused like a missing one for user: {"type":"error","message":"authentication
// failure"}, and the subscription is not made. Refusals of a known key count towards the
// modelled lockout.
//
// Limits and timers, from the docs (the connection rate has two values on two versions of
// one page, 8/s and 750/s; the smaller is modelled): WSConnectionsPerSecond connection
// attempts per IP (time-scaled), past which the upgrade is answered 429;
// WSMessagesPerSecond unauthenticated messages per IP per second, past which the connection is
// closed; a connection with no subscription SubscribeWithin after it opened is closed; a
// connection not subscribed to heartbeats and sent nothing for QuietClose is closed (the docs
// say 60–90 s). These timers are not time-scaled.
//
// Faults: POST /sim/streams/drop and drop_every_ms drop these connections too;
// skip_depth skips the next level2 updates of stream faults' symbol (engine name or
// product_id; every product when empty): their sequence numbers are spent, so the client
// sees the gap. depth_delay_ms does not apply.

// cbWSChannels are the channels a client may subscribe to.
var cbWSChannels = map[string]bool{"heartbeats": true, "level2": true, "ticker": true, "market_trades": true, "candles": true, "user": true}

// cbCandle is a product's current five-minute candle.
type cbCandle struct {
	start                  time.Time
	open, high, low, close decimal.Decimal
	volume                 decimal.Decimal
}

// cbFeed is what the broadcaster last sent of one product: the book every level2 update is
// computed against (the book a new subscriber's snapshot shows, so snapshot plus updates is
// always the simulator's book), the ticker's fields and the candle.
type cbFeed struct {
	bids, asks map[string]string // price level → quantity
	ticker     [5]string         // price, best bid, bid qty, best ask, ask qty
	candle     cbCandle
	candleSent bool
}

// cbWSState is the dialect's WebSocket state, guarded by s.mu.
type cbWSState struct {
	conns    map[*cbWSConn]struct{}
	ipConns  map[string]*slidingLog
	ipMsgs   map[string]*slidingLog
	feeds    map[string]*cbFeed // product_id → feed
	started  bool
	lastBeat time.Time
}

// cbWSConn is one coinbase WebSocket connection; its fields are guarded by s.mu.
type cbWSConn struct {
	*wsConn
	opened   time.Time
	seq      int64
	lastSent time.Time
	subs     map[string]map[string]bool // channel → product ids ("" for every product)
	acct     *account                   // the user channel's account
	beats    int64
}

func (cb *coinbaseState) ws() *cbWSState {
	if cb.wsState == nil {
		cb.wsState = &cbWSState{conns: map[*cbWSConn]struct{}{}, ipConns: map[string]*slidingLog{},
			ipMsgs: map[string]*slidingLog{}, feeds: map[string]*cbFeed{}}
	}
	return cb.wsState
}

// cbIsWebSocket reports whether r asks for a coinbase WebSocket endpoint.
func cbIsWebSocket(r *http.Request) bool {
	return (r.URL.Path == "/ws" || r.URL.Path == "/ws/user") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// cbServeWS upgrades and serves one connection.
func (s *Server) cbServeWS(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	h := s.hub
	s.mu.Lock()
	cb := s.dialectState.(*coinbaseState)
	st := cb.ws()
	now := s.clock.Now()
	lim := st.ipConns[host]
	if lim == nil {
		lim = &slidingLog{d: s.scaled(time.Second)}
		st.ipConns[host] = lim
	}
	admitted := lim.at(now) < int64(cb.cfg.WSConnectionsPerSecond)
	if admitted {
		lim.add(now)
	}
	s.mu.Unlock()
	h.mu.Lock()
	if !admitted || h.closed {
		h.stats.Refused++
		h.mu.Unlock()
		rep := coinbaseReply{status: http.StatusTooManyRequests, text: cbTooManyHTML, html: true}
		writeCoinbase(w, rep)
		return
	}
	h.opened(false, 1)
	drops := h.drops
	h.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	wc := &wsConn{hub: h, ip: host, ctx: ctx, cancel: cancel, send: make(chan []byte, s.cfg.Streams.SendBuffer),
		streams: map[string]bool{}, subs: map[int]wsSub{}}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		cancel()
		h.mu.Lock()
		h.opened(false, -1)
		h.mu.Unlock()
		return
	}
	wc.c = ws
	ws.SetReadLimit(1 << 16)
	c := &cbWSConn{wsConn: wc, subs: map[string]map[string]bool{}}
	// Registered with the hub (not through add, which would start Binance's broadcaster), so
	// /sim/streams/drop and the stats see it.
	h.mu.Lock()
	if h.closed || h.drops != drops {
		h.stats.Dropped++
		h.mu.Unlock()
		c.kill()
		return
	}
	h.conns[wc] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.remove(wc)

	s.mu.Lock()
	c.opened, c.lastSent = s.clock.Now(), s.clock.Now()
	st.conns[c] = struct{}{}
	if !st.started {
		st.started = true
		h.wg.Add(1)
		go s.cbBroadcast()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(st.conns, c)
		s.mu.Unlock()
	}()
	c.cbRun(s)
}

// cbRun serves the connection: a writer, a pinger, and the reader here.
func (c *cbWSConn) cbRun(s *Server) {
	defer c.kill()
	done := make(chan struct{})
	go func() { defer close(done); c.writer() }()
	defer func() { <-done }()
	defer c.cancel()
	for {
		_, msg, err := c.c.Read(c.ctx)
		if err != nil {
			return
		}
		if !s.cbControl(c, msg) {
			return
		}
	}
}

// cbSubscribe is a client's message. grpc-style lowerCamelCase names are read too.
type cbSubscribe struct {
	Type       string   `json:"type"`
	Channel    string   `json:"channel"`
	ProductIDs []string `json:"product_ids"`
	ProductIDz []string `json:"productIds"`
	JWT        string   `json:"jwt"`
}

// cbControl answers one client message; false closes the connection.
func (s *Server) cbControl(c *cbWSConn, msg []byte) bool {
	var m cbSubscribe
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.dialectState.(*coinbaseState)
	st := cb.ws()
	now := s.now()
	if err := json.Unmarshal(msg, &m); err != nil {
		s.cbWSError(c, "malformed message: "+err.Error())
		return s.cbCountMessage(cb, st, c, nil)
	}
	if len(m.ProductIDs) == 0 {
		m.ProductIDs = m.ProductIDz
	}
	var acct *account
	if m.JWT != "" {
		a, ok := s.cbWSAuthenticate(cb, m.JWT, now)
		if !ok {
			s.cbWSError(c, "authentication failure")
			return s.cbCountMessage(cb, st, c, nil)
		}
		acct = a
	}
	if !s.cbCountMessage(cb, st, c, acct) {
		return false
	}
	if m.Type != "subscribe" && m.Type != "unsubscribe" {
		s.cbWSError(c, "unknown message type "+strconv.Quote(m.Type))
		return true
	}
	if !cbWSChannels[m.Channel] {
		s.cbWSError(c, "unknown channel "+strconv.Quote(m.Channel))
		return true
	}
	if m.Channel == "user" && acct == nil {
		s.cbWSError(c, "authentication failure")
		return true
	}
	ids := m.ProductIDs
	switch m.Channel {
	case "heartbeats":
		ids = []string{""}
	case "user":
		if len(ids) == 0 {
			ids = []string{""}
		}
	default:
		if len(ids) == 0 {
			s.cbWSError(c, "product_ids required for channel "+m.Channel)
			return true
		}
		for _, id := range ids {
			if cb.products[id] == nil {
				s.cbWSError(c, "unknown product "+strconv.Quote(id))
				return true
			}
		}
	}
	if m.Type == "unsubscribe" {
		for _, id := range ids {
			delete(c.subs[m.Channel], id)
		}
		s.cbSendSubscriptions(c)
		return true
	}
	if c.subs[m.Channel] == nil {
		c.subs[m.Channel] = map[string]bool{}
	}
	for _, id := range ids {
		c.subs[m.Channel][id] = true
	}
	if m.Channel == "user" {
		c.acct = acct
	}
	s.cbSendSubscriptions(c)
	s.cbSnapshot(c, m.Channel, ids)
	return true
}

// cbCountMessage counts an unauthenticated message of c's IP; past the limit the connection
// is closed.
// requires that s.mu is held.
func (s *Server) cbCountMessage(cb *coinbaseState, st *cbWSState, c *cbWSConn, acct *account) bool {
	if acct != nil {
		return true
	}
	now := s.clock.Now()
	l := st.ipMsgs[c.ip]
	if l == nil {
		l = &slidingLog{d: time.Second}
		st.ipMsgs[c.ip] = l
	}
	if l.at(now) >= int64(cb.cfg.WSMessagesPerSecond) {
		s.cbWSError(c, "rate limit exceeded")
		s.hub.count(func(st *StreamStats) { st.ClosedRate++ })
		return false
	}
	l.add(now)
	return true
}

// cbWSAuthenticate verifies a subscribe message's JWT: a REST JWT's checks without the uri.
// requires that s.mu is held.
func (s *Server) cbWSAuthenticate(cb *coinbaseState, tok string, now time.Time) (*account, bool) {
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return nil, false
	}
	var hdr coinbaseJWTHeader
	var cl coinbaseJWTClaims
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cbb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cbb, &cl) != nil {
		return nil, false
	}
	if cl.Sub == "" || (hdr.Kid != "" && hdr.Kid != cl.Sub) {
		return nil, false
	}
	a, known := s.accounts[cl.Sub]
	if !known || a.revoked || a.key.disabled || cb.lockedOut(a, now) {
		return nil, false
	}
	if !cbVerify(cb.key(a), hdr.Alg, parts[0]+"."+parts[1], sig) || !cbClaimsTimely(cl, now) {
		s.cbAuthRefused(cb, a, now)
		return nil, false
	}
	return a, true
}

// cbWSError sends an error message.
// requires that s.mu is held.
func (s *Server) cbWSError(c *cbWSConn, msg string) {
	b, _ := json.Marshal(map[string]string{"type": "error", "message": msg})
	c.lastSent = s.clock.Now()
	c.push(b)
}

// cbSend sends one channel message with the connection's next sequence number.
// requires that s.mu is held.
func (s *Server) cbSend(c *cbWSConn, channel string, events []any) {
	b, _ := json.Marshal(map[string]any{"channel": channel, "client_id": "", "timestamp": s.now().UTC().Format(time.RFC3339Nano),
		"sequence_num": c.seq, "events": events})
	c.seq++
	c.lastSent = s.clock.Now()
	c.push(b)
}

// cbSendSubscriptions confirms the connection's subscriptions.
// requires that s.mu is held.
func (s *Server) cbSendSubscriptions(c *cbWSConn) {
	subs := map[string][]string{}
	for ch, ids := range c.subs {
		list := []string{}
		for id := range ids {
			if id == "" {
				id = ch
				if ch == "user" {
					id = "user"
				}
			}
			list = append(list, id)
		}
		sort.Strings(list)
		if len(list) > 0 {
			subs[ch] = list
		}
	}
	s.cbSend(c, "subscriptions", []any{map[string]any{"subscriptions": subs}})
}

// cbFeedOf returns the product's feed, computing it from the book when the broadcaster has
// not yet.
// requires that s.mu is held.
func (s *Server) cbFeedOf(cb *coinbaseState, id string, now time.Time) *cbFeed {
	st := cb.ws()
	f := st.feeds[id]
	if f == nil {
		m := cb.products[id]
		f = &cbFeed{bids: map[string]string{}, asks: map[string]string{}}
		bids, asks := m.book(cb.cfg.WSBookLevels)
		for _, l := range bids {
			f.bids[l[0]] = l[1]
		}
		for _, l := range asks {
			f.asks[l[0]] = l[1]
		}
		f.ticker = cbTickerFields(m, bids, asks)
		f.candle = cbCandle{start: cbCandleStart(now), open: m.price(), high: m.price(), low: m.price(), close: m.price(), volume: decimal.Zero}
		st.feeds[id] = f
	}
	return f
}

func cbCandleStart(t time.Time) time.Time { return t.Truncate(5 * time.Minute) }

func cbTickerFields(m *market, bids, asks []bookLevel) [5]string {
	var t [5]string
	t[0] = m.price().StringFixed(m.priceScale)
	if len(bids) > 0 {
		t[1], t[2] = bids[0][0], bids[0][1]
	}
	if len(asks) > 0 {
		t[3], t[4] = asks[0][0], asks[0][1]
	}
	return t
}

// cbSnapshot sends what a new subscription starts from.
// requires that s.mu is held.
func (s *Server) cbSnapshot(c *cbWSConn, channel string, ids []string) {
	cb := s.dialectState.(*coinbaseState)
	now := s.now()
	switch channel {
	case "level2":
		for _, id := range ids {
			f := s.cbFeedOf(cb, id, now)
			s.cbSend(c, "l2_data", []any{map[string]any{"type": "snapshot", "product_id": id,
				"updates": cbL2Levels(f.bids, f.asks, now)}})
		}
	case "ticker":
		for _, id := range ids {
			f := s.cbFeedOf(cb, id, now)
			s.cbSend(c, "ticker", []any{map[string]any{"type": "snapshot", "tickers": []any{cbTickerJSON(id, f.ticker)}}})
		}
	case "candles":
		for _, id := range ids {
			f := s.cbFeedOf(cb, id, now)
			s.cbSend(c, "candles", []any{map[string]any{"type": "snapshot", "candles": []any{cbCandleJSON(id, f.candle)}}})
		}
	case "market_trades":
		for range ids {
			s.cbSend(c, "market_trades", []any{map[string]any{"type": "snapshot", "trades": []any{}}})
		}
	case "user":
		orders := []any{}
		for _, name := range s.marketOrder {
			m := s.markets[name]
			if !c.subs["user"][""] && !c.subs["user"][CoinbaseProductID(m.sym)] {
				continue
			}
			for _, o := range m.open {
				if o.acct == c.acct && o.live() {
					orders = append(orders, cbUserOrderJSON(o))
				}
			}
		}
		s.cbSend(c, "user", []any{map[string]any{"type": "snapshot", "orders": orders}})
	}
}

// cbL2Levels lists levels as level2 updates, bids best first, then asks best first.
func cbL2Levels(bids, asks map[string]string, now time.Time) []any {
	at := now.UTC().Format(time.RFC3339Nano)
	out := make([]any, 0, len(bids)+len(asks))
	for _, side := range []struct {
		name string
		m    map[string]string
		desc bool
	}{{"bid", bids, true}, {"offer", asks, false}} {
		keys := make([]string, 0, len(side.m))
		for k := range side.m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, b := decimal.RequireFromString(keys[i]), decimal.RequireFromString(keys[j])
			if side.desc {
				return a.GreaterThan(b)
			}
			return a.LessThan(b)
		})
		for _, k := range keys {
			out = append(out, map[string]string{"side": side.name, "event_time": at, "price_level": k, "new_quantity": side.m[k]})
		}
	}
	return out
}

func cbTickerJSON(id string, t [5]string) map[string]string {
	return map[string]string{"type": "ticker", "product_id": id, "price": t[0], "volume_24_h": "0", "low_24_h": t[0],
		"high_24_h": t[0], "low_52_w": t[0], "high_52_w": t[0], "price_percent_chg_24_h": "0",
		"best_bid": t[1], "best_bid_quantity": t[2], "best_ask": t[3], "best_ask_quantity": t[4]}
}

func cbCandleJSON(id string, c cbCandle) map[string]string {
	return map[string]string{"start": strconv.FormatInt(c.start.Unix(), 10), "high": c.high.String(), "low": c.low.String(),
		"open": c.open.String(), "close": c.close.String(), "volume": c.volume.String(), "product_id": id}
}

// cbUserOrderJSON is one order as the user channel writes it.
func cbUserOrderJSON(o *order) map[string]any {
	typ, tif := "LIMIT", "GOOD_UNTIL_CANCELLED"
	switch {
	case o.typ == "MARKET":
		typ, tif = "MARKET", "IMMEDIATE_OR_CANCEL"
	case o.tif == "FOK":
		tif = "FILL_OR_KILL"
	case o.tif == "IOC":
		tif = "IMMEDIATE_OR_CANCEL"
	}
	avg := decimal.Zero
	if o.executed.IsPositive() {
		avg = o.cumQuote.Div(o.executed).Round(o.m.priceScale + 2)
	}
	fees := decimal.Zero
	for _, t := range o.fills {
		fees = fees.Add(cbQuoteCommission(t))
	}
	cancelReason := ""
	if o.status == statusCanceled {
		cancelReason = "User requested cancel"
	}
	return map[string]any{
		"order_id": cbOrderID(o.id), "client_order_id": o.clientID, "product_id": CoinbaseProductID(o.m.sym),
		"product_type": "SPOT", "order_side": o.side, "order_type": typ, "time_in_force": tif,
		"status": cbStatus(o), "limit_price": o.price.String(), "cumulative_quantity": o.executed.String(),
		"leaves_quantity": o.origQty.Sub(o.executed).String(), "avg_price": avg.String(), "total_fees": fees.String(),
		"filled_value": o.cumQuote.String(), "number_of_fills": strconv.Itoa(len(o.fills)),
		"outstanding_hold_amount": o.locked.String(), "post_only": strconv.FormatBool(o.typ == "LIMIT_MAKER"),
		"creation_time": o.created.UTC().Format(time.RFC3339Nano), "cancel_reason": cancelReason, "reject_reason": "",
		"total_value_after_fees": o.cumQuote.String(), "trigger_status": "INVALID_ORDER_TYPE",
	}
}

// cbOrderEvent tells every user subscription of o's account that o changed (the dialect's
// orderEvent hook).
// requires that s.mu is held.
func cbOrderEvent(s *Server, o *order, _ string, _ *trade, _ time.Time) {
	cb, ok := s.dialectState.(*coinbaseState)
	if !ok || cb.wsState == nil {
		return
	}
	id := CoinbaseProductID(o.m.sym)
	for c := range cb.wsState.conns {
		if c.acct != o.acct || (!c.subs["user"][""] && !c.subs["user"][id]) {
			continue
		}
		s.cbSend(c, "user", []any{map[string]any{"type": "update", "orders": []any{cbUserOrderJSON(o)}}})
	}
}

// cbBroadcast pushes the feeds every Streams.Interval until the server closes.
func (s *Server) cbBroadcast() {
	h := s.hub
	defer h.wg.Done()
	clk := s.clock
	for {
		t, stop := clk.NewTimer(s.cfg.Streams.Interval)
		select {
		case <-h.done:
			stop()
			return
		case <-t:
		}
		s.cbTick()
	}
}

// cbTick sends one interval's feeds and enforces the connection timers.
func (s *Server) cbTick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.dialectState.(*coinbaseState)
	st := cb.ws()
	now := s.now()
	s.sync(now)
	local := s.clock.Now()
	faults := s.StreamFaults() // the hub's lock comes after s.mu
	// The drop fault, which Binance's broadcaster runs for its own connections.
	h := s.hub
	h.mu.Lock()
	drop := !h.nextDrop.IsZero() && !local.Before(h.nextDrop)
	if drop {
		h.nextDrop = local.Add(time.Duration(h.faults.DropEveryMS) * time.Millisecond)
	}
	h.mu.Unlock()
	if drop {
		s.DropStreams()
	}
	skipped := 0
	beat := local.Sub(st.lastBeat) >= time.Second
	if beat {
		st.lastBeat = local
	}
	for c := range st.conns {
		switch {
		case len(c.subs) == 0 && local.Sub(c.opened) >= cb.cfg.SubscribeWithin:
			s.cbWSError(c, "no subscription within "+cb.cfg.SubscribeWithin.String())
			c.kill()
		case len(c.subs["heartbeats"]) == 0 && local.Sub(c.lastSent) >= cb.cfg.QuietClose:
			c.kill()
		}
	}
	want := map[string]bool{}
	for c := range st.conns {
		for _, ch := range []string{"level2", "ticker", "market_trades", "candles"} {
			for id := range c.subs[ch] {
				want[id] = true
			}
		}
	}
	s.cbAbsorb(cb) // the candles' history sees the trades before they are drained
	for _, name := range s.marketOrder {
		m := s.markets[name]
		id := CoinbaseProductID(m.sym)
		trades := m.depth.trades
		m.depth.trades = m.depth.trades[:0]
		if !want[id] {
			delete(st.feeds, id)
			continue
		}
		f := s.cbFeedOf(cb, id, now)
		bids, asks := m.book(cb.cfg.WSBookLevels)
		nb, na := map[string]string{}, map[string]string{}
		for _, l := range bids {
			nb[l[0]] = l[1]
		}
		for _, l := range asks {
			na[l[0]] = l[1]
		}
		diff := func(old, cur map[string]string) map[string]string {
			d := map[string]string{}
			for k, v := range cur {
				if old[k] != v {
					d[k] = v
				}
			}
			for k := range old {
				if _, ok := cur[k]; !ok {
					d[k] = "0"
				}
			}
			return d
		}
		db, da := diff(f.bids, nb), diff(f.asks, na)
		f.bids, f.asks = nb, na
		tick := cbTickerFields(m, bids, asks)
		tickerMoved := tick != f.ticker
		f.ticker = tick
		var tradeEvents []any
		for _, t := range trades {
			side := "BUY"
			if t.buyer {
				side = "SELL"
			}
			px := m.tickPrice(t.ticks)
			tradeEvents = append(tradeEvents, map[string]string{"trade_id": strconv.FormatInt(t.id, 10), "product_id": id,
				"price": px.StringFixed(m.priceScale), "size": t.qty.String(), "side": side, "time": t.at.UTC().Format(time.RFC3339Nano)})
			if start := cbCandleStart(t.at); start.After(f.candle.start) {
				f.candle = cbCandle{start: start, open: px, high: px, low: px, close: px, volume: decimal.Zero}
			}
			f.candle.high, f.candle.low, f.candle.close = decimal.Max(f.candle.high, px), decimal.Min(f.candle.low, px), px
			f.candle.volume = f.candle.volume.Add(t.qty)
			f.candleSent = false
		}
		skip := false
		if (len(db) > 0 || len(da) > 0) && faults.SkipDepth > skipped &&
			(faults.Symbol == "" || faults.Symbol == name || faults.Symbol == id) {
			skip = true
			skipped++
		}
		for c := range st.conns {
			if (len(db) > 0 || len(da) > 0) && c.subs["level2"][id] {
				if skip {
					c.seq++ // spent: the client sees a gap
				} else {
					s.cbSend(c, "l2_data", []any{map[string]any{"type": "update", "product_id": id, "updates": cbL2Levels(db, da, now)}})
				}
			}
			if tickerMoved && c.subs["ticker"][id] {
				s.cbSend(c, "ticker", []any{map[string]any{"type": "update", "tickers": []any{cbTickerJSON(id, tick)}}})
			}
			if len(tradeEvents) > 0 && c.subs["market_trades"][id] {
				s.cbSend(c, "market_trades", []any{map[string]any{"type": "update", "trades": tradeEvents}})
			}
			if !f.candleSent && beat && c.subs["candles"][id] {
				s.cbSend(c, "candles", []any{map[string]any{"type": "update", "candles": []any{cbCandleJSON(id, f.candle)}}})
			}
		}
		if beat {
			f.candleSent = true
		}
	}
	if skipped > 0 {
		s.hub.mu.Lock()
		s.hub.faults.SkipDepth = max(0, s.hub.faults.SkipDepth-skipped)
		s.hub.stats.DepthSkipped += int64(skipped)
		s.hub.mu.Unlock()
	}
	if beat {
		for c := range st.conns {
			if len(c.subs["heartbeats"]) == 0 {
				continue
			}
			s.cbSend(c, "heartbeats", []any{map[string]any{"current_time": now.UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST"),
				"heartbeat_counter": c.beats}})
			c.beats++
		}
	}
}
