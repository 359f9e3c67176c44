package binance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/stream"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// StreamOptions configure a MarketStream or UserStream. Zero fields take defaults.
type StreamOptions struct {
	// Conn tunes the connection (timeouts, backoff); URL, Name, Limiter, Clock and Seed
	// are set from the fields below.
	Conn stream.Config
	// Limiter caps connection attempts; share one among every stream of the account (a
	// *stream.Limiter, or a fleet-shared stream.AttemptLimiter). Nil: each stream's own.
	Limiter adapters.AttemptLimiter
	Clock   clock.Clock
	Seed    uint64
	// Log receives the streams' events (adapters.StreamOptions.Log); zero: none.
	Log zerolog.Logger
	// DepthLimit is the snapshot size for resyncs (GET /api/v3/depth limit). Default 100
	// (weight 5).
	DepthLimit int
	// UserAuth is how a UserStream authenticates (default UserAuthAuto: session.logon with
	// an Ed25519 key, a signed subscription with an HMAC key).
	UserAuth UserAuth
}

func (o StreamOptions) conn(u, name string) stream.Config {
	c := o.Conn
	c.URL, c.Name, c.Limiter, c.Clock, c.Seed, c.Log = u, name, o.Limiter, o.Clock, o.Seed, o.Log
	return c
}

// MarketHandler receives a MarketStream's events (adapters.MarketHandler), on the stream's
// goroutine (OnStatus also from resync workers).
type MarketHandler = adapters.MarketHandler

// MarketStream follows trades and the order book of some symbols over one combined stream
// (<symbol>@depth@100ms and <symbol>@trade). After every (re)connect and every gap in update
// ids a symbol resyncs with one depth snapshot through the scheduler at market priority;
// diffs are buffered until it arrives. Build with Client.MarketStream; Run it.
type MarketStream struct {
	c       *Client
	h       MarketHandler
	opts    StreamOptions
	conn    *stream.Conn
	symbols []string
	books   map[string]*adapters.OrderBook
	need    map[string]chan struct{} // one pending resync per symbol

	snapshots map[string]*atomic.Int64 // per symbol; the maps are fixed at construction

	msg wsMessage // onMessage's decoding target, reused: the Conn hands it one message at a time

	mu    sync.Mutex
	fresh stream.Freshness
	why   map[string]string // why a symbol's pending resync was asked for (stream_resync's reason)
}

// MarketStream is the contract's market stream (adapters.Streamer) with default options.
func (c *Client) MarketStream(symbols []string, h adapters.MarketHandler, o adapters.StreamOptions) (adapters.MarketStream, error) {
	return c.OpenMarketStream(symbols, h, StreamOptions{Limiter: o.Limiter, Clock: o.Clock, Seed: o.Seed, Log: o.Log})
}

// OpenMarketStream builds a stream for symbols (upper case, as the REST API names them),
// with Binance's own options.
func (c *Client) OpenMarketStream(symbols []string, h MarketHandler, opts StreamOptions) (*MarketStream, error) {
	if len(symbols) == 0 {
		return nil, errors.New("binance: MarketStream: no symbols")
	}
	if opts.DepthLimit <= 0 {
		opts.DepthLimit = 100
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	m := &MarketStream{c: c, h: h, opts: opts, books: map[string]*adapters.OrderBook{}, need: map[string]chan struct{}{},
		snapshots: map[string]*atomic.Int64{}, why: map[string]string{}}
	var names []string
	for _, s := range symbols {
		if err := checkSymbol(s); err != nil {
			return nil, err
		}
		lower := strings.ToLower(s)
		names = append(names, lower+"@depth@100ms", lower+"@trade")
		m.symbols = append(m.symbols, s)
		m.books[s] = adapters.NewOrderBook(s)
		m.need[s] = make(chan struct{}, 1)
		m.snapshots[s] = new(atomic.Int64)
	}
	u := strings.TrimRight(c.cfg.StreamURL, "/") + "/stream?streams=" + strings.Join(names, "/") + "&timeUnit=MICROSECOND"
	m.conn = stream.New(opts.conn(u, "market:"+strings.Join(symbols, ",")), stream.Handler{
		OnMessage: m.onMessage,
		OnState:   m.onState,
	})
	return m, nil
}

// Conn is the underlying connection (stats, Reconnect).
func (m *MarketStream) Conn() *stream.Conn { return m.conn }

// Book is a symbol's local book; nil for a symbol the stream does not follow.
func (m *MarketStream) Book(symbol string) *adapters.OrderBook { return m.books[symbol] }

// Snapshots is how many depth snapshots symbol's resyncs fetched.
func (m *MarketStream) Snapshots(symbol string) int64 {
	if v := m.snapshots[symbol]; v != nil {
		return v.Load()
	}
	return 0
}

// Run follows the stream until ctx ends.
func (m *MarketStream) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range m.symbols {
		wg.Add(1)
		go func() { defer wg.Done(); m.resyncWorker(ctx, s) }()
	}
	err := m.conn.Run(ctx)
	wg.Wait()
	return err
}

func (m *MarketStream) setFresh(symbol string, fresh bool, reason string) {
	m.fresh.Set(symbol, fresh, reason, m.h.OnStatus)
}

func (m *MarketStream) onState(st stream.State) {
	for _, s := range m.symbols {
		if st.Up {
			// One snapshot per symbol per connection, fetched now: the subscription is live,
			// so updates from here on are buffered until it arrives.
			m.books[s].Resync()
			m.setFresh(s, false, "stream connected: resyncing order book")
			m.ask(s, ResyncConnect)
		} else {
			m.books[s].Reset()
			reason := "stream down"
			if st.Err != nil {
				reason = "stream down: " + st.Err.Error()
			}
			m.setFresh(s, false, reason)
		}
	}
}

// resyncWorker fetches one snapshot each time the symbol's book asks for one.
func (m *MarketStream) resyncWorker(ctx context.Context, symbol string) {
	book := m.books[symbol]
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.need[symbol]:
		}
		if book.Synced() {
			continue // an ask from before a snapshot that already landed
		}
		m.snapshots[symbol].Add(1)
		why := m.takeWhy(symbol)
		snap, err := m.c.Depth(ctx, symbol, m.opts.DepthLimit, adapters.WithPriority(scheduler.PriorityMarket))
		if ctx.Err() != nil {
			return
		}
		m.logResync(symbol, why, err)
		if err != nil {
			m.setWhy(symbol, ResyncRetry)
			failures++
			m.setFresh(symbol, false, "order book snapshot failed: "+err.Error())
			// Back off before asking again; the book asks again with the next update.
			d := time.Duration(min(failures, 6)) * time.Second
			t, stop := m.opts.Clock.NewTimer(d)
			select {
			case <-ctx.Done():
				stop()
				return
			case <-t:
			}
			book.Reset()
			continue
		}
		failures = 0
		if book.Snapshot(snap) {
			m.setFresh(symbol, true, "")
		} else {
			m.ask(symbol, ResyncStale) // the snapshot was older than the buffered updates
		}
	}
}

// Why a symbol's book was resynced: stream_resync's reason.
const (
	ResyncConnect = "connect"        // a (re)connect: the book may have missed updates while down
	ResyncGap     = "gap"            // a gap in update ids
	ResyncStale   = "stale_snapshot" // the last snapshot was older than the buffered updates
	ResyncRetry   = "retry"          // the last snapshot request failed
)

// EventResync is the log event of one order-book snapshot fetched to resync a symbol.
const EventResync = "stream_resync"

// logResync writes symbol's stream_resync event: one depth snapshot, its weight and why; err
// is the request's failure, if any.
func (m *MarketStream) logResync(symbol, why string, err error) {
	lvl, msg := zerolog.InfoLevel, ""
	if err != nil {
		lvl, msg = zerolog.WarnLevel, scheduler.Redact(err.Error())
	}
	m.opts.Log.WithLevel(lvl).Str("event", EventResync).Str("stream", m.conn.Name()).Str("symbol", symbol).
		Str("reason", why).Int64("weight", depthWeight(min(m.opts.DepthLimit, maxBookLevels))).
		Int("depth_limit", m.opts.DepthLimit).Str("error_message", msg).Msg("order book snapshot for a resync")
}

// setWhy records why symbol's next resync is asked for, unless a reason is already pending.
func (m *MarketStream) setWhy(symbol, why string) {
	m.mu.Lock()
	if m.why[symbol] == "" {
		m.why[symbol] = why
	}
	m.mu.Unlock()
}

// takeWhy returns and clears why symbol's resync was asked for.
func (m *MarketStream) takeWhy(symbol string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	why := m.why[symbol]
	delete(m.why, symbol)
	if why == "" {
		why = ResyncGap
	}
	return why
}

func (m *MarketStream) ask(symbol, why string) {
	m.setWhy(symbol, why)
	select {
	case m.need[symbol] <- struct{}{}:
	default:
	}
}

// wsMessage is one message of the combined stream (web-socket-streams.md), decoded in one
// pass: the envelope and whichever payload its stream carries (a diff update or a trade)
// share one struct, and the levels of a diff are parsed straight into decimals (wsLevels).
// encoding/json matches field names case-insensitively, so every upper/lower pair Binance
// uses is declared.
type wsMessage struct {
	Stream string    `json:"stream"`
	Data   wsPayload `json:"data"`
}

// wsPayload holds the fields of a depthUpdate and of a trade; which are meaningful is said by
// the message's stream.
type wsPayload struct {
	Event  string `json:"e"`
	Time   int64  `json:"E"`
	Symbol string `json:"s"`
	// depthUpdate
	First int64    `json:"U"`
	Final int64    `json:"u"`
	Bids  wsLevels `json:"b"`
	Asks  wsLevels `json:"a"`
	// trade
	ID         int64  `json:"t"`
	TradeTime  int64  `json:"T"`
	Price      string `json:"p"`
	Qty        string `json:"q"`
	BuyerMaker bool   `json:"m"`
	Ignore     bool   `json:"M"`
}

func micros(us int64) time.Time { return time.UnixMicro(us) }

func (m *MarketStream) onMessage(msg []byte) error {
	env := &m.msg
	*env = wsMessage{}
	env.Data.Bids.side, env.Data.Asks.side = "b", "a"
	if err := json.Unmarshal(msg, env); err != nil {
		return malformed("stream message", err)
	}
	switch {
	case strings.HasSuffix(env.Stream, "@depth@100ms"):
		u, err := env.Data.update()
		if err != nil {
			return err
		}
		book := m.books[u.Symbol]
		if book == nil {
			return nil
		}
		wasSynced := book.Synced()
		applied, need := book.Update(u)
		if need {
			if wasSynced {
				m.setFresh(u.Symbol, false, fmt.Sprintf("gap in update ids at %d: resyncing order book", u.FirstID))
			}
			m.ask(u.Symbol, ResyncGap)
		}
		if applied && m.h.OnBook != nil {
			m.h.OnBook(u.Symbol, book, u)
		}
	case strings.HasSuffix(env.Stream, "@trade"):
		if m.h.OnTrade == nil {
			return nil
		}
		t := &env.Data
		var p decimals
		tr := adapters.Trade{Symbol: t.Symbol, ID: t.ID, Price: p.get("p", t.Price), Quantity: p.get("q", t.Qty),
			BuyerMaker: t.BuyerMaker, Time: micros(t.TradeTime)}
		if p.err != nil {
			return p.err
		}
		m.h.OnTrade(tr)
	}
	return nil
}

func (d *wsPayload) update() (adapters.DepthUpdate, error) {
	u := adapters.DepthUpdate{Symbol: d.Symbol, FirstID: d.First, FinalID: d.Final, Time: micros(d.Time)}
	if d.Final < d.First || d.Symbol == "" {
		return u, malformed("depthUpdate", errors.New("bad update ids or symbol"))
	}
	if err := d.Bids.err; err != nil {
		return u, err
	}
	if err := d.Asks.err; err != nil {
		return u, err
	}
	u.Bids, u.Asks = d.Bids.levels, d.Asks.levels
	if u.Bids == nil { // an absent side: none, as an empty array gives
		u.Bids = []adapters.Level{}
	}
	if u.Asks == nil {
		u.Asks = []adapters.Level{}
	}
	return u, nil
}

// wsLevels is one side of a diff update, [["price","qty"], ...], parsed into decimals as it is
// decoded: no string per price and quantity on the way. A value that is not such an array
// of pairs of plain strings goes the general way (encoding/json into [][2]string, then the
// same parse), so either way the result is what that gives. A value that is not levels at all
// (another stream's "b") is kept as an error for update to report, never for decoding to.
type wsLevels struct {
	side   string // "b" or "a", to name the field in an error
	levels []adapters.Level
	err    error
}

func (w *wsLevels) UnmarshalJSON(raw []byte) error {
	w.levels, w.err = parseLevels(w.side, raw)
	return nil
}

// parseLevels parses raw, a JSON array of [price, quantity] string pairs, into levels.
func parseLevels(side string, raw []byte) ([]adapters.Level, error) {
	if levels, ok, err := scanLevels(side, raw); ok {
		return levels, err
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, malformed("depthUpdate", err)
	}
	var p decimals
	levels := make([]adapters.Level, 0, len(pairs))
	for _, l := range pairs {
		levels = append(levels, adapters.Level{Price: p.get(side+" price", l[0]), Quantity: p.get(side+" qty", l[1])})
	}
	return levels, p.err
}

// scanLevels is parseLevels' fast way, for what Binance sends: raw (valid JSON, as
// encoding/json checked it before handing it over) is an array of two-element arrays of
// strings without escapes. ok is false for anything else, which the general way decodes.
func scanLevels(side string, raw []byte) (levels []adapters.Level, ok bool, err error) {
	i := 0
	ws := func() {
		for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
			i++
		}
	}
	expect := func(c byte) bool {
		ws()
		if i < len(raw) && raw[i] == c {
			i++
			return true
		}
		return false
	}
	str := func() ([]byte, bool) {
		if !expect('"') {
			return nil, false
		}
		start := i
		for i < len(raw) && raw[i] != '"' {
			if raw[i] == '\\' {
				return nil, false
			}
			i++
		}
		if i == len(raw) {
			return nil, false
		}
		i++
		return raw[start : i-1], true
	}
	if !expect('[') {
		return nil, false, nil
	}
	// Sized once: every pair but the outer array's own opens with '['.
	levels = make([]adapters.Level, 0, bytes.Count(raw, []byte{'['})-1)
	priceField, qtyField := side+" price", side+" qty" // named once, not per level
	if expect(']') {
		return levels, true, nil
	}
	for {
		if !expect('[') {
			return nil, false, nil
		}
		price, ok := str()
		if !ok || !expect(',') {
			return nil, false, nil
		}
		qty, ok := str()
		if !ok || !expect(']') {
			return nil, false, nil
		}
		if err == nil {
			var l adapters.Level
			if l.Price, err = parseDecimalBytes(priceField, price); err == nil {
				l.Quantity, err = parseDecimalBytes(qtyField, qty)
			}
			levels = append(levels, l)
		}
		if expect(']') {
			return levels, true, err
		}
		if !expect(',') {
			return nil, false, nil
		}
	}
}
