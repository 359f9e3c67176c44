package coinbase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// WebSocket feeds (docs.cdp.coinbase.com, advanced-trade "WebSocket Overview", "WebSocket
// Channels", "WebSocket Authentication", "WebSocket Rate Limits").
//
// Connections: market data on ws_url (wss://advanced-trade-ws.coinbase.com), the user channel
// on ws_user_url (wss://advanced-trade-ws-user.coinbase.com). Every connection subscribes
// heartbeats (one message a second, so a quiet channel is never closed for silence and a dead
// connection is noticed in ReadTimeout), one channel per subscribe message, each message with
// a JWT of its own signed at Coinbase's time (no uri claim), all within the 5 s Coinbase gives
// a new connection: the connection's DialTimeout (handshake and subscriptions together) is 5 s.
// Connection attempts are paced for Coinbase's per-IP limit (8 per second on one version of
// the page, 750 on another; 8 is planned for: at most ConnectionsPerSecond, 6, a second per
// client, on top of the runtime's shared AttemptLimiter, which the Client sizes the same way
// through adapters.ConnectionLimit, fleet-wide in fleet mode), and so are the messages a
// public-only client sends (8 unauthenticated messages a second per IP).
//
// Resync is bounded and costs no REST call: Coinbase numbers every message of a connection
// (sequence_num); a number skipped means a message was missed, and the only way back is a
// fresh level2 snapshot, which Coinbase sends on subscribing. So a gap, like a drop, costs one
// reconnect through adapters/stream.Conn, which never dials twice at once (many triggers, one
// reconnect), backs off with full jitter and asks the limiter, and one snapshot per product
// over the new connection. Guess: sequence_num counts per connection across its channels (the
// docs say it lets a client detect a missed message, not how it counts); a gap on any channel
// resyncs everything, which is safe either way.

// Stream defaults.
const (
	// ProductionWSURL and ProductionWSUserURL are the market data and user order data
	// endpoints.
	ProductionWSURL     = "wss://advanced-trade-ws.coinbase.com"
	ProductionWSUserURL = "wss://advanced-trade-ws-user.coinbase.com"
	// SubscribeWithin is how soon after connecting Coinbase wants a subscription.
	SubscribeWithin = 5 * time.Second
	// ConnectionsPerSecond caps this client's connection attempts a second (Coinbase: 8 per
	// IP).
	ConnectionsPerSecond = 6
	// StreamReadTimeout drops a connection silent this long; heartbeats arrive every second.
	StreamReadTimeout = 10 * time.Second
)

// StreamOptions configure a MarketStream or UserStream. Zero fields take defaults.
type StreamOptions struct {
	// Conn tunes the connection (timeouts, backoff); URL, Name, Limiter, Clock and Seed are
	// set from the fields below, DialTimeout is at most SubscribeWithin.
	Conn    stream.Config
	Limiter adapters.AttemptLimiter
	Clock   clock.Clock
	Seed    uint64
	// Log receives the streams' events (adapters.StreamOptions.Log): adapters/stream's
	// stream_connect, stream_drop and stream_reconnect, and stream_resync for each level2
	// snapshot; zero: none.
	Log zerolog.Logger
	// OnTicker and OnCandle, when set, subscribe a MarketStream to the ticker and candles
	// channels too.
	OnTicker func(TickerEvent)
	OnCandle func(CandleEvent)
}

// TickerEvent is one product's ticker (channel ticker).
type TickerEvent struct {
	Symbol                     string
	Price                      decimal.Decimal
	BestBid, BestBidQty        decimal.Decimal
	BestAsk, BestAskQty        decimal.Decimal
	Time                       time.Time
	Volume24h, Low24h, High24h decimal.Decimal
}

// CandleEvent is one product's current five-minute candle (channel candles).
type CandleEvent struct {
	Symbol                 string
	Start                  time.Time
	Open, High, Low, Close decimal.Decimal
	Volume                 decimal.Decimal
}

// pacer is the client's own pacing of connection attempts and unauthenticated messages, on
// top of the limiter the runtime shares.
type pacer struct {
	once  sync.Once
	conns *stream.Limiter
	msgs  *stream.Limiter
}

func (c *Client) pace(clk clock.Clock) *pacer {
	c.pacing.once.Do(func() {
		c.pacing.conns = stream.NewLimiter(stream.LimiterConfig{Max: ConnectionsPerSecond, Window: time.Second}, clk)
		c.pacing.msgs = stream.NewLimiter(stream.LimiterConfig{Max: ConnectionsPerSecond, Window: time.Second}, clk)
	})
	return &c.pacing
}

// pacedLimiter asks the client's per-second pacing, then the shared limiter.
type pacedLimiter struct {
	own    *stream.Limiter
	shared adapters.AttemptLimiter
}

func (p pacedLimiter) Wait(ctx context.Context) error {
	if err := p.own.Wait(ctx); err != nil {
		return err
	}
	if p.shared == nil {
		return nil
	}
	return p.shared.Wait(ctx)
}

func (o StreamOptions) conn(c *Client, u, name string) stream.Config {
	cfg := o.Conn
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	shared := o.Limiter
	if l, ok := shared.(*stream.Limiter); ok && l == nil {
		shared = nil // a typed nil: no shared limiter, as adapters/stream reads it
	}
	cfg.URL, cfg.Name, cfg.Clock, cfg.Seed, cfg.Log = u, name, o.Clock, o.Seed, o.Log
	cfg.Limiter = pacedLimiter{own: c.pace(o.Clock).conns, shared: shared}
	if cfg.DialTimeout <= 0 || cfg.DialTimeout > SubscribeWithin {
		cfg.DialTimeout = SubscribeWithin
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = StreamReadTimeout
	}
	return cfg
}

// subscribe writes one subscribe message per channel, each with a fresh JWT when the client
// has a key (required for user). A public-only client's messages are paced (they count as
// unauthenticated).
func (c *Client) subscribe(ctx context.Context, s *stream.Session, clk clock.Clock, channel string, products []string) error {
	msg := map[string]any{"type": "subscribe", "channel": channel}
	if len(products) > 0 {
		msg["product_ids"] = products
	}
	if c.signer != nil {
		now, err := c.time.Timestamp(c.clock.Now())
		if err != nil {
			return fmt.Errorf("coinbase: signing the %s subscription: %w", channel, err)
		}
		tok, err := c.signer.sign("", now, c.cfg.JWTLifetime)
		if err != nil {
			return err
		}
		msg["jwt"] = tok
	} else if err := c.pace(clk).msgs.Wait(ctx); err != nil {
		return err
	}
	b, _ := json.Marshal(msg)
	return s.Write(ctx, b)
}

// syncForStreams measures the clock before a JWT is needed.
func (c *Client) syncForStreams(ctx context.Context) error {
	if c.signer == nil || !c.time.NeedsSync(c.clock.Now()) {
		return nil
	}
	return c.syncTime(ctx, scheduler.PriorityAccount)
}

// wsEnvelope is every message: a channel message, or an error.
type wsEnvelope struct {
	Channel     string            `json:"channel"`
	Timestamp   string            `json:"timestamp"`
	SequenceNum *int64            `json:"sequence_num"`
	Events      []json.RawMessage `json:"events"`
	Type        string            `json:"type"`
	Message     string            `json:"message"`
}

// errSequenceGap drops a connection that missed a message.
var errSequenceGap = errors.New("coinbase: a gap in sequence_num: resubscribing for fresh snapshots")

// sequence checks a message's number against the previous one of the connection.
type sequence struct {
	last  int64
	known bool
}

func (q *sequence) reset() { q.known = false }

func (q *sequence) next(env wsEnvelope) error {
	if env.SequenceNum == nil {
		return nil
	}
	n := *env.SequenceNum
	if q.known && n != q.last+1 {
		prev := q.last
		q.known = false
		return fmt.Errorf("%w (%d after %d)", errSequenceGap, n, prev)
	}
	q.last, q.known = n, true
	return nil
}

// wsError turns an error message into the stream's error: an authentication failure stops
// the stream (adapters.ErrStreamAuth), anything else drops the connection.
func wsError(env wsEnvelope) error {
	msg := snippet([]byte(env.Message))
	if strings.Contains(strings.ToLower(env.Message), "auth") {
		return fmt.Errorf("%w: %w: coinbase: %s", stream.ErrStop, adapters.ErrStreamAuth, msg)
	}
	return fmt.Errorf("coinbase: stream error: %s", msg)
}

func wsTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// MarketStream follows the books (level2) and trades (market_trades) of some symbols over one
// connection. Build with Client.MarketStream or OpenMarketStream; Run it.
type MarketStream struct {
	c       *Client
	h       adapters.MarketHandler
	opts    StreamOptions
	conn    *stream.Conn
	name    string // the connection's name, as its events give it
	symbols []string
	books   map[string]*adapters.OrderBook // by symbol

	// Set by Run before the connection starts, then read-only.
	products []string
	bySym    map[string]string // product_id → symbol

	// The connection's goroutine only.
	seq  sequence
	l2id map[string]int64
	why  string // why the current connection's snapshots were needed (stream_resync's reason)
	gap  bool   // the last connection was dropped for a gap in sequence_num

	snapshots atomic.Int64
	mu        sync.Mutex
	fresh     stream.Freshness
}

// MarketStream is the contract's market stream (adapters.Streamer).
func (c *Client) MarketStream(symbols []string, h adapters.MarketHandler, o adapters.StreamOptions) (adapters.MarketStream, error) {
	return c.OpenMarketStream(symbols, h, StreamOptions{Limiter: o.Limiter, Clock: o.Clock, Seed: o.Seed, Log: o.Log})
}

// OpenMarketStream builds a market stream for symbols (Keel symbols: BTCUSD), with Coinbase's
// own options.
func (c *Client) OpenMarketStream(symbols []string, h adapters.MarketHandler, opts StreamOptions) (*MarketStream, error) {
	if len(symbols) == 0 {
		return nil, errors.New("coinbase: MarketStream: no symbols")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	m := &MarketStream{c: c, h: h, opts: opts, books: map[string]*adapters.OrderBook{}, bySym: map[string]string{},
		l2id: map[string]int64{}}
	for _, s := range symbols {
		if s == "" || len(s) > 64 {
			return nil, invalid("symbol %q is empty or too long", snippet([]byte(s)))
		}
		if _, dup := m.books[s]; dup {
			continue
		}
		m.symbols = append(m.symbols, s)
		m.books[s] = adapters.NewOrderBook(s)
	}
	m.name = "coinbase market:" + strings.Join(m.symbols, ",")
	m.conn = stream.New(opts.conn(c, c.cfg.WSURL, m.name), stream.Handler{
		OnConnect: m.onConnect, OnMessage: m.onMessage, OnState: m.onState})
	return m, nil
}

// Conn is the underlying connection (stats, Reconnect).
func (m *MarketStream) Conn() *stream.Conn { return m.conn }

// Book is a symbol's local book; nil for a symbol the stream does not follow.
func (m *MarketStream) Book(symbol string) *adapters.OrderBook { return m.books[symbol] }

// Snapshots is how many level2 snapshots the stream applied.
func (m *MarketStream) Snapshots() int64 { return m.snapshots.Load() }

// Run resolves the symbols' products (REST, once), then follows the stream until ctx ends.
func (m *MarketStream) Run(ctx context.Context) error {
	for try := 0; ; try++ {
		err := m.resolve(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if scheduler.ClassOf(err) == scheduler.ClassValidation {
			return fmt.Errorf("coinbase: market stream: %w", err)
		}
		for _, s := range m.symbols {
			m.setFresh(s, false, "listing products for the stream failed: "+err.Error())
		}
		if !clock.Sleep(ctx, m.opts.Clock, time.Duration(min(try+1, 10))*time.Second) {
			return ctx.Err()
		}
	}
	return m.conn.Run(ctx)
}

func (m *MarketStream) resolve(ctx context.Context) error {
	if len(m.products) == len(m.symbols) {
		return nil
	}
	if err := m.c.syncForStreams(ctx); err != nil {
		return err
	}
	var ids []string
	by := map[string]string{}
	for _, s := range m.symbols {
		p, err := m.c.product(ctx, s, scheduler.PriorityMarket)
		if err != nil {
			return err
		}
		ids = append(ids, p.ProductID)
		by[p.ProductID] = s
	}
	m.products, m.bySym = ids, by
	return nil
}

func (m *MarketStream) channels() []string {
	chs := []string{"heartbeats", "level2", "market_trades"}
	if m.opts.OnTicker != nil {
		chs = append(chs, "ticker")
	}
	if m.opts.OnCandle != nil {
		chs = append(chs, "candles")
	}
	return chs
}

func (m *MarketStream) onConnect(ctx context.Context, s *stream.Session) error {
	m.seq.reset()
	m.why = ResyncConnect
	if m.gap {
		m.why, m.gap = ResyncGap, false
	}
	for _, ch := range m.channels() {
		var ids []string
		if ch != "heartbeats" {
			ids = m.products
		}
		if err := m.c.subscribe(ctx, s, m.opts.Clock, ch, ids); err != nil {
			return err
		}
	}
	return nil
}

func (m *MarketStream) setFresh(symbol string, fresh bool, reason string) {
	m.fresh.Set(symbol, fresh, reason, m.h.OnStatus)
}

// Why a symbol's book was resynced: stream_resync's reason (as adapters/binance names them).
const (
	ResyncConnect = "connect" // a (re)connect: the book may have missed updates while down
	ResyncGap     = "gap"     // a gap in sequence_num: a message was missed
)

// EventResync is the log event of one order-book snapshot taken to resync a symbol.
const EventResync = "stream_resync"

func (m *MarketStream) onState(st stream.State) {
	for _, s := range m.symbols {
		if st.Up {
			// The level2 snapshot comes over the new subscription: nothing to fetch.
			m.books[s].Resync()
			m.setFresh(s, false, "stream connected: waiting for the level2 snapshot")
			continue
		}
		m.books[s].Reset()
		reason := "stream down"
		if st.Err != nil {
			reason = "stream down: " + st.Err.Error()
		}
		m.setFresh(s, false, reason)
	}
}

// wsL2Event is one event of the l2_data channel.
type wsL2Event struct {
	Type      string `json:"type"`
	ProductID string `json:"product_id"`
	Updates   []struct {
		Side        string `json:"side"`
		EventTime   string `json:"event_time"`
		PriceLevel  string `json:"price_level"`
		NewQuantity string `json:"new_quantity"`
	} `json:"updates"`
}

type wsTradesEvent struct {
	Type   string `json:"type"`
	Trades []struct {
		TradeID   string `json:"trade_id"`
		ProductID string `json:"product_id"`
		Price     string `json:"price"`
		Size      string `json:"size"`
		Side      string `json:"side"`
		Time      string `json:"time"`
	} `json:"trades"`
}

func (m *MarketStream) onMessage(msg []byte) error {
	var env wsEnvelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return malformed("stream message: %v", err)
	}
	if env.Type == "error" {
		return wsError(env)
	}
	if err := m.seq.next(env); err != nil {
		for _, s := range m.symbols {
			m.setFresh(s, false, err.Error())
		}
		m.gap = true
		return err
	}
	at := wsTime(env.Timestamp)
	for _, raw := range env.Events {
		var err error
		switch env.Channel {
		case "l2_data":
			err = m.onL2(raw, at)
		case "market_trades":
			err = m.onTrades(raw)
		case "ticker":
			err = m.onTicker(raw, at)
		case "candles":
			err = m.onCandles(raw)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *MarketStream) onL2(raw json.RawMessage, at time.Time) error {
	var ev wsL2Event
	if err := decode("l2_data event", raw, &ev); err != nil {
		return err
	}
	sym, ok := m.bySym[ev.ProductID]
	if !ok {
		return nil
	}
	u := adapters.DepthUpdate{Symbol: sym, Time: at}
	for _, l := range ev.Updates {
		px, err := amount("price_level", l.PriceLevel, false)
		if err != nil {
			return err
		}
		if !px.IsPositive() {
			return malformed("l2_data: a zero price level")
		}
		q, err := amount("new_quantity", l.NewQuantity, false)
		if err != nil {
			return err
		}
		lv := adapters.Level{Price: px, Quantity: q}
		switch l.Side {
		case "bid":
			u.Bids = append(u.Bids, lv)
		case "offer", "ask":
			u.Asks = append(u.Asks, lv)
		default:
			return malformed("l2_data: side %q", snippet([]byte(l.Side)))
		}
	}
	book := m.books[sym]
	// Coinbase sends a product's snapshot first on every subscription, then its updates in
	// order (the connection's sequence numbers prove none is missing), so each product's
	// messages get consecutive ids of the book's own.
	m.l2id[sym]++
	id := m.l2id[sym]
	u.FirstID, u.FinalID = id, id
	switch ev.Type {
	case "snapshot":
		var bids, asks []adapters.Level
		for _, l := range u.Bids {
			if l.Quantity.IsPositive() {
				bids = append(bids, l)
			}
		}
		for _, l := range u.Asks {
			if l.Quantity.IsPositive() {
				asks = append(asks, l)
			}
		}
		book.Snapshot(adapters.Book{Symbol: sym, LastUpdateID: id, Bids: bids, Asks: asks})
		m.snapshots.Add(1)
		m.opts.Log.Info().Str("event", EventResync).Str("stream", m.name).Str("symbol", sym).Str("reason", m.why).
			Int64("weight", 0).Int("levels", len(bids)+len(asks)).Str("error_message", "").
			Msg("order book snapshot for a resync: level2 over the new subscription, no REST call")
		m.setFresh(sym, true, "")
		if m.h.OnBook != nil {
			m.h.OnBook(sym, book, u)
		}
	case "update":
		if applied, _ := book.Update(u); applied && m.h.OnBook != nil {
			m.h.OnBook(sym, book, u)
		}
	}
	return nil
}

func (m *MarketStream) onTrades(raw json.RawMessage) error {
	var ev wsTradesEvent
	if err := decode("market_trades event", raw, &ev); err != nil {
		return err
	}
	// A snapshot holds trades from before this connection: already told, or too old to matter.
	if ev.Type != "update" || m.h.OnTrade == nil {
		return nil
	}
	for _, t := range ev.Trades {
		sym, ok := m.bySym[t.ProductID]
		if !ok {
			continue
		}
		px, err := amount("trade price", t.Price, false)
		if err != nil {
			return err
		}
		q, err := amount("trade size", t.Size, false)
		if err != nil {
			return err
		}
		if !px.IsPositive() || !q.IsPositive() {
			return malformed("market_trades: a trade at price %s of size %s", px, q)
		}
		// side is the taker's (a guess: the docs say BUY or SELL): a SELL took a resting buy.
		m.h.OnTrade(adapters.Trade{Symbol: sym, ID: TradeID(t.TradeID), Price: px, Quantity: q,
			BuyerMaker: t.Side == "SELL", Time: wsTime(t.Time)})
	}
	return nil
}

func (m *MarketStream) onTicker(raw json.RawMessage, at time.Time) error {
	var ev struct {
		Tickers []struct {
			ProductID string `json:"product_id"`
			Price     string `json:"price"`
			BestBid   string `json:"best_bid"`
			BidQty    string `json:"best_bid_quantity"`
			BestAsk   string `json:"best_ask"`
			AskQty    string `json:"best_ask_quantity"`
			Volume    string `json:"volume_24_h"`
			Low       string `json:"low_24_h"`
			High      string `json:"high_24_h"`
		} `json:"tickers"`
	}
	if err := decode("ticker event", raw, &ev); err != nil {
		return err
	}
	for _, t := range ev.Tickers {
		sym, ok := m.bySym[t.ProductID]
		if !ok {
			continue
		}
		te := TickerEvent{Symbol: sym, Time: at}
		for _, f := range []struct {
			name, raw string
			to        *decimal.Decimal
		}{{"price", t.Price, &te.Price}, {"best_bid", t.BestBid, &te.BestBid}, {"best_bid_quantity", t.BidQty, &te.BestBidQty},
			{"best_ask", t.BestAsk, &te.BestAsk}, {"best_ask_quantity", t.AskQty, &te.BestAskQty},
			{"volume_24_h", t.Volume, &te.Volume24h}, {"low_24_h", t.Low, &te.Low24h}, {"high_24_h", t.High, &te.High24h}} {
			v, err := amount("ticker "+f.name, f.raw, true)
			if err != nil {
				return err
			}
			*f.to = v
		}
		m.opts.OnTicker(te)
	}
	return nil
}

func (m *MarketStream) onCandles(raw json.RawMessage) error {
	var ev struct {
		Candles []struct {
			Start     string `json:"start"`
			Open      string `json:"open"`
			High      string `json:"high"`
			Low       string `json:"low"`
			Close     string `json:"close"`
			Volume    string `json:"volume"`
			ProductID string `json:"product_id"`
		} `json:"candles"`
	}
	if err := decode("candles event", raw, &ev); err != nil {
		return err
	}
	for _, k := range ev.Candles {
		sym, ok := m.bySym[k.ProductID]
		if !ok {
			continue
		}
		ce := CandleEvent{Symbol: sym}
		start, err := amount("candle start", k.Start, false)
		if err != nil {
			return err
		}
		ce.Start = time.Unix(start.IntPart(), 0)
		for _, f := range []struct {
			name, raw string
			to        *decimal.Decimal
		}{{"open", k.Open, &ce.Open}, {"high", k.High, &ce.High}, {"low", k.Low, &ce.Low}, {"close", k.Close, &ce.Close}, {"volume", k.Volume, &ce.Volume}} {
			v, err := amount("candle "+f.name, f.raw, false)
			if err != nil {
				return err
			}
			*f.to = v
		}
		m.opts.OnCandle(ce)
	}
	return nil
}

// UserStream follows the account's orders over the user channel. Build with
// Client.UserStream; Run it.
type UserStream struct {
	c    *Client
	h    adapters.UserHandler
	opts StreamOptions
	conn *stream.Conn
	ctx  atomic.Pointer[context.Context]

	// The connection's goroutine only.
	seq      sequence
	connects int64
}

// UserStream is the contract's user data stream: the user channel (needs a key).
func (c *Client) UserStream(h adapters.UserHandler, o adapters.StreamOptions) (adapters.UserStream, error) {
	return c.OpenUserStream(h, StreamOptions{Limiter: o.Limiter, Clock: o.Clock, Seed: o.Seed, Log: o.Log})
}

// OpenUserStream builds the user stream with Coinbase's own options.
func (c *Client) OpenUserStream(h adapters.UserHandler, opts StreamOptions) (*UserStream, error) {
	if c.signer == nil {
		return nil, ErrNoCredentials
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	u := &UserStream{c: c, h: h, opts: opts}
	u.conn = stream.New(opts.conn(c, c.cfg.WSUserURL, "coinbase user"), stream.Handler{
		OnConnect: u.onConnect, OnMessage: u.onMessage, OnState: u.onState})
	return u, nil
}

// Conn is the underlying connection.
func (u *UserStream) Conn() *stream.Conn { return u.conn }

// Run follows the user channel until ctx ends, or returns an error matching
// adapters.ErrStreamAuth when Coinbase refuses the key.
func (u *UserStream) Run(ctx context.Context) error {
	u.ctx.Store(&ctx)
	for try := 0; ; try++ {
		err := u.c.syncForStreams(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if scheduler.ClassOf(err) == scheduler.ClassAuth {
			return fmt.Errorf("coinbase: user stream: %w: %w", adapters.ErrStreamAuth, err)
		}
		if !clock.Sleep(ctx, u.opts.Clock, time.Duration(min(try+1, 10))*time.Second) {
			return ctx.Err()
		}
	}
	return u.conn.Run(ctx)
}

func (u *UserStream) onConnect(ctx context.Context, s *stream.Session) error {
	u.seq.reset()
	for _, ch := range []string{"heartbeats", "user"} {
		if err := u.c.subscribe(ctx, s, u.opts.Clock, ch, nil); err != nil {
			return err
		}
	}
	return nil
}

func (u *UserStream) onState(st stream.State) {
	u.connects = st.Connects
	if u.h.OnStatus != nil {
		u.h.OnStatus(st.Up, st.Err)
	}
}

// wsUserOrder is one order of the user channel.
type wsUserOrder struct {
	OrderID       string `json:"order_id"`
	ClientOrderID string `json:"client_order_id"`
	ProductID     string `json:"product_id"`
	OrderSide     string `json:"order_side"`
	OrderType     string `json:"order_type"`
	TimeInForce   string `json:"time_in_force"`
	Status        string `json:"status"`
	LimitPrice    string `json:"limit_price"`
	CumulativeQty string `json:"cumulative_quantity"`
	LeavesQty     string `json:"leaves_quantity"`
	FilledValue   string `json:"filled_value"`
	PostOnly      any    `json:"post_only"`
	CreationTime  string `json:"creation_time"`
}

// toOrder maps a user channel order onto apiOrder's rules (parse.go).
func (o wsUserOrder) toOrder(symbol string, at time.Time) (adapters.Order, error) {
	cum, err := amount("cumulative_quantity", o.CumulativeQty, true)
	if err != nil {
		return adapters.Order{}, err
	}
	leaves, err := amount("leaves_quantity", o.LeavesQty, true)
	if err != nil {
		return adapters.Order{}, err
	}
	conf := orderConf{BaseSize: cum.Add(leaves).String(), LimitPrice: o.LimitPrice}
	if o.LimitPrice == "" || o.LimitPrice == "0" {
		conf.LimitPrice = ""
	}
	conf.PostOnly = fmt.Sprint(o.PostOnly) == "true"
	kind := "limit_limit_gtc"
	switch {
	case o.OrderType == "MARKET":
		kind = "market_market_ioc"
	case o.TimeInForce == "FILL_OR_KILL":
		kind = "limit_limit_fok"
	case o.TimeInForce == "IMMEDIATE_OR_CANCEL":
		kind = "sor_limit_ioc"
	}
	rawConf, _ := json.Marshal(conf)
	ord, err := apiOrder{OrderID: o.OrderID, ProductID: o.ProductID, ClientOrderID: o.ClientOrderID, Side: o.OrderSide,
		Status: o.Status, CreatedTime: o.CreationTime, FilledSize: o.CumulativeQty, FilledValue: o.FilledValue,
		OrderConfiguration: map[string]json.RawMessage{kind: rawConf}}.toOrder(symbol)
	if err == nil && at.After(ord.UpdatedAt) {
		ord.UpdatedAt = at
	}
	return ord, err
}

func (u *UserStream) onMessage(msg []byte) error {
	var env wsEnvelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return malformed("stream message: %v", err)
	}
	if env.Type == "error" {
		return wsError(env)
	}
	if err := u.seq.next(env); err != nil {
		return err
	}
	if env.Channel != "user" {
		return nil
	}
	ctx := context.Background()
	if p := u.ctx.Load(); p != nil {
		ctx = *p
	}
	at := wsTime(env.Timestamp)
	for _, raw := range env.Events {
		var ev struct {
			Type   string        `json:"type"`
			Orders []wsUserOrder `json:"orders"`
		}
		if err := decode("user event", raw, &ev); err != nil {
			return err
		}
		for _, o := range ev.Orders {
			sym, err := u.c.symbolOf(ctx, o.ProductID, scheduler.PriorityAccount)
			if err != nil {
				return err
			}
			ord, err := o.toOrder(sym, at)
			if err != nil {
				return err
			}
			if u.h.OnOrder != nil {
				u.h.OnOrder(ord)
			}
		}
		// The snapshot after a reconnect says the subscription is active again: events
		// may have been missed while down.
		if ev.Type == "snapshot" && u.connects > 1 && u.h.OnResync != nil {
			u.h.OnResync()
		}
	}
	return nil
}

// StreamConnectionLimit is adapters.ConnectionLimit: ConnectionsPerSecond attempts a second
// (Coinbase: 8 per IP), so the runtime's shared limiter, and a fleet's, pace connections as
// Coinbase counts them.
func (c *Client) StreamConnectionLimit() (int, time.Duration) {
	return ConnectionsPerSecond, time.Second
}

var (
	_ adapters.ConnectionLimit = (*Client)(nil)
	_ adapters.Streamer        = (*Client)(nil)
	_ adapters.MarketStream    = (*MarketStream)(nil)
	_ adapters.UserStream      = (*UserStream)(nil)
)
