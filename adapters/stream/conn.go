// Package stream is Keel's exchange-neutral WebSocket client: a supervised connection that
// reconnects one attempt at a time with full-jitter backoff under a shared cap on connection
// attempts, detects dead connections with pings and a read deadline, and a local order book
// that follows diff updates by update id and asks for one snapshot when it must resync.
//
// Exchanges ban for reconnect storms: every stream reconnecting at once, each followed by a
// full REST resync. A Conn never dials twice at once, waits a random part of its backoff
// before every attempt (so streams dropped together come back spread out), and takes an
// attempt from an AttemptLimiter shared by every stream of the account, sized under the
// exchange's limit (Binance: 300 connection attempts per 5 minutes per IP). The Limiter here
// counts in one process; several processes behind one IP plug in a limiter they share.
//
// Each connection's life is logged through Config.Log, one event per step, so a reconnect
// storm can be read back from the log: stream_connect (a connection came up: its attempt, how
// long the handshake and the attempt limiter took), stream_drop (a connection that was up went
// down: why, and how long it had lived), stream_reconnect (an attempt is about to be made
// after a failure or a drop: which attempt since the last healthy connection, the jittered
// delay before it, and what ended the previous one).
//
// Most callers want:
//
//	lim := stream.NewLimiter(stream.LimiterConfig{}, nil)  // 240 attempts per 5 minutes
//	c := stream.New(stream.Config{URL: u, Limiter: lim, Seed: 1}, stream.Handler{
//		OnConnect: subscribe, OnMessage: handle, OnState: report})
//	go c.Run(ctx)
package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/scheduler"
)

// Config configures a Conn. Zero fields take the defaults noted, applied in setDefaults.
type Config struct {
	// URL is the WebSocket URL (ws:// or wss://). Required.
	URL string
	// Name labels the stream in states and errors (default the URL).
	Name string
	// ReadTimeout: a connection that delivers nothing (no message, no pong) this long is
	// dropped and redialled. Default 60s (Binance pings every 20s).
	ReadTimeout time.Duration
	// PingInterval between the client's own pings, which find half-open connections on quiet
	// streams. Default 30s; negative disables.
	PingInterval time.Duration
	// BackoffBase and BackoffCap: before attempt n (0 after a healthy connection) the Conn
	// waits jitter.Full: rand(0, min(cap, base·2^n)). Defaults 200ms and 10s.
	BackoffBase, BackoffCap time.Duration
	// StableAfter: a connection that lived this long, or delivered a message, resets the
	// backoff. Default 5s.
	StableAfter time.Duration
	// DialTimeout bounds one handshake (and OnConnect). Default 10s.
	DialTimeout time.Duration
	// Limiter caps connection attempts; share one among every stream of an account (and, with
	// a fleet-shared implementation, among every process behind the same IP). Default: a
	// Limiter of its own with LimiterConfig's defaults.
	Limiter AttemptLimiter
	// Clock defaults to the wall clock; Seed seeds the backoff's jitter.
	Clock clock.Clock
	Seed  uint64
	// HTTPClient for the handshake (default http.DefaultClient).
	HTTPClient *http.Client
	// ReadLimit is the largest message accepted. Default 4 MiB.
	ReadLimit int64
	// Log receives the connection's events (stream_connect, stream_drop, stream_reconnect;
	// see the package doc), each with an "event" and a "stream" field. The zero Logger
	// writes nothing.
	Log zerolog.Logger
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = c.URL
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = time.Minute
	}
	if c.PingInterval == 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 200 * time.Millisecond
	}
	if c.BackoffCap <= 0 {
		c.BackoffCap = 10 * time.Second
	}
	if c.StableAfter <= 0 {
		c.StableAfter = 5 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if isNil(c.Limiter) {
		c.Limiter = NewLimiter(LimiterConfig{}, c.Clock)
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 4 << 20
	}
}

// Session is the connection OnConnect gets: it may write requests and read their answers
// before the Conn starts reading messages for OnMessage.
type Session struct{ c *websocket.Conn }

// Write sends one text message.
func (s *Session) Write(ctx context.Context, msg []byte) error {
	return s.c.Write(ctx, websocket.MessageText, msg)
}

// Read reads one message.
func (s *Session) Read(ctx context.Context) ([]byte, error) {
	_, b, err := s.c.Read(ctx)
	return b, err
}

// State is a Conn's condition, reported through Handler.OnState.
type State struct {
	Up bool
	// Connects counts successful connections so far, this one included; Connects > 1 on an
	// Up state means a reconnect (data may have been missed while down).
	Connects int64
	Err      error // why the connection went down
}

// Handler is what a Conn calls. Every callback runs on the Conn's goroutine, one at a time.
type Handler struct {
	// OnConnect runs after each handshake, before reading (subscribe, log on). An error
	// drops the connection and counts as a failed attempt.
	OnConnect func(ctx context.Context, s *Session) error
	// OnMessage gets every message. msg is the Conn's read buffer, reused for the next
	// message: it is valid until OnMessage returns (copy what must outlive the call; decoding
	// it with encoding/json copies). An error drops the connection.
	OnMessage func(msg []byte) error
	// OnState is told when the connection goes up or down.
	OnState func(State)
}

// Stats counts a Conn's work.
type Stats struct {
	Attempts   int64 // dials started
	Connects   int64 // connections established (OnConnect passed)
	Reconnects int64 // Reconnect calls that caused a reconnect
	// LimiterErrors counts attempts the AttemptLimiter refused with an error of its own;
	// none of them dialled.
	LimiterErrors int64
}

// ErrStop, wrapped by an error from OnConnect or OnMessage, ends Run with that error instead of
// reconnecting: an answer that retrying cannot change (a rejected API key).
var ErrStop = errors.New("stream: stopped")

// ErrReconnect is the cause of a connection dropped by Reconnect.
var ErrReconnect = errors.New("stream: reconnect requested")

// Conn is one supervised stream connection. Only Run dials, so there is never more than one
// connection attempt at a time per Conn. A Conn is safe for concurrent use.
type Conn struct {
	cfg Config
	h   Handler
	rng *jitter.Rand

	attempts, connects, reconnects atomic.Int64
	limiterErrors                  atomic.Int64
	lastRead                       atomic.Int64 // unix nanos of the last message or pong
	delivered                      atomic.Bool  // the current connection delivered a message

	mu      sync.Mutex
	drop    context.CancelCauseFunc // drops the current connection; nil while down
	pending bool                    // a Reconnect is already under way
}

// New builds a Conn; Run starts it.
func New(cfg Config, h Handler) *Conn {
	cfg.setDefaults()
	return &Conn{cfg: cfg, h: h, rng: jitter.New(cfg.Seed)}
}

// Name is the stream's name (Config.Name), as its events and errors give it.
func (c *Conn) Name() string { return c.cfg.Name }

// Stats returns the counters.
func (c *Conn) Stats() Stats {
	return Stats{Attempts: c.attempts.Load(), Connects: c.connects.Load(), Reconnects: c.reconnects.Load(),
		LimiterErrors: c.limiterErrors.Load()}
}

// Reconnect drops the current connection so Run dials again. Calls while a reconnect is
// already under way (or while down) do nothing: many triggers, one reconnect.
func (c *Conn) Reconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drop == nil || c.pending {
		return
	}
	c.pending = true
	c.reconnects.Add(1)
	c.drop(ErrReconnect)
}

// Run connects and reads until ctx ends, reconnecting after every failure. It returns
// ctx's error, or an error wrapping ErrStop from a handler.
func (c *Conn) Run(ctx context.Context) error {
	failures := 0
	var ended error // what ended the previous attempt; nil before the first
	for {
		// Full jitter before every attempt, the first after a drop included: streams dropped
		// together come back spread over the window instead of in one burst.
		d := jitter.Full(c.rng, c.cfg.BackoffBase, c.cfg.BackoffCap, failures)
		if ended != nil {
			c.logReconnect(failures+1, d, ended)
		}
		if !clock.Sleep(ctx, c.cfg.Clock, d) {
			return ctx.Err()
		}
		asked := c.cfg.Clock.Now()
		if err := c.cfg.Limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The limiter could not say (a shared store down): no dial without its word; back
			// off and ask again.
			c.limiterErrors.Add(1)
			failures++
			ended = fmt.Errorf("stream %s: connection attempt limiter: %w", c.cfg.Name, err)
			continue
		}
		c.attempts.Add(1)
		began := c.cfg.Clock.Now()
		err := c.session(ctx, failures+1, began.Sub(asked))
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrStop) {
			return err
		}
		ended = err
		// A connection that came up and delivered data resets the backoff: the next attempt
		// waits rand(0, base). Failed dials, and connections dropped before any data, back
		// off exponentially.
		if c.cfg.Clock.Now().Sub(began) >= c.cfg.StableAfter || errors.Is(err, ErrReconnect) || c.delivered.Swap(false) {
			failures = 0
		} else {
			failures++
		}
	}
}

// session runs one connection, the attempt-th since the last healthy one, which waited
// limiterWait for the attempt limiter, to its end and returns why it ended.
func (c *Conn) session(ctx context.Context, attempt int, limiterWait time.Duration) (err error) {
	dialed := c.cfg.Clock.Now()
	cctx, drop := context.WithCancelCause(ctx)
	defer drop(nil)
	dctx, cancel := context.WithTimeout(cctx, c.cfg.DialTimeout)
	ws, _, err := websocket.Dial(dctx, c.cfg.URL, &websocket.DialOptions{
		HTTPClient:     c.cfg.HTTPClient,
		OnPongReceived: func(context.Context, []byte) { c.touch() },
		OnPingReceived: func(context.Context, []byte) bool { c.touch(); return true },
	})
	if err != nil {
		cancel()
		return fmt.Errorf("stream %s: dial: %w", c.cfg.Name, err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(c.cfg.ReadLimit)
	if c.h.OnConnect != nil {
		if err := c.h.OnConnect(dctx, &Session{c: ws}); err != nil {
			cancel()
			return fmt.Errorf("stream %s: on connect: %w", c.cfg.Name, err)
		}
	}
	cancel()
	n := c.connects.Add(1)
	c.touch()
	c.mu.Lock()
	c.drop, c.pending = drop, false
	c.mu.Unlock()
	up := c.cfg.Clock.Now()
	c.logConnect(n, attempt, up.Sub(dialed), limiterWait)
	if c.h.OnState != nil {
		c.h.OnState(State{Up: true, Connects: n})
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.watch(cctx, ws, drop) }()
	defer func() {
		c.mu.Lock()
		c.drop = nil
		c.mu.Unlock()
		drop(err)
		_ = ws.CloseNow()
		wg.Wait()
		if ctx.Err() == nil { // a stop is no drop
			c.logDrop(n, c.cfg.Clock.Now().Sub(up), err)
		}
		if c.h.OnState != nil {
			c.h.OnState(State{Up: false, Connects: n, Err: err})
		}
	}()
	// The reader allocates as little as it can per message: under CPU contention the
	// collector's assists slow the goroutine that allocates, and a slowed reader leaves
	// messages queued in the socket. So one buffer per connection is reused for every message
	// (where ws.Read allocates each one whole), and reads take a context that is never done
	// (where a cancellable one costs coder/websocket a context.AfterFunc per read): the
	// connection's context closes the socket instead, once, which ends a blocked read.
	stopCloser := context.AfterFunc(cctx, func() { _ = ws.CloseNow() })
	defer stopCloser()
	var buf bytes.Buffer
	for {
		rerr := readMessage(ws, &buf)
		if rerr != nil {
			if cause := context.Cause(cctx); cause != nil && !errors.Is(cause, context.Canceled) {
				return cause
			}
			return fmt.Errorf("stream %s: read: %w", c.cfg.Name, rerr)
		}
		c.touch()
		c.delivered.Store(true)
		if c.h.OnMessage != nil {
			if herr := c.h.OnMessage(buf.Bytes()); herr != nil {
				return fmt.Errorf("stream %s: %w", c.cfg.Name, herr)
			}
		}
		if buf.Cap() > keptReadBuffer {
			buf = bytes.Buffer{} // one large message (a snapshot) does not pin its size
		}
	}
}

// keptReadBuffer is the largest read buffer a connection keeps between messages; a diff
// update or a trade is a few KiB at most.
const keptReadBuffer = 256 << 10

// readMessage reads the next data message into buf, replacing what it held.
func readMessage(ws *websocket.Conn, buf *bytes.Buffer) error {
	_, r, err := ws.Reader(context.Background())
	if err != nil {
		return err
	}
	buf.Reset()
	_, err = buf.ReadFrom(r)
	return err
}

func (c *Conn) touch() { c.lastRead.Store(c.cfg.Clock.Now().UnixNano()) }

// ErrReadTimeout is the cause of a connection dropped for silence.
var ErrReadTimeout = errors.New("stream: read deadline passed")

// watch pings and enforces the read deadline on the Conn's clock until ctx ends.
func (c *Conn) watch(ctx context.Context, ws *websocket.Conn, drop context.CancelCauseFunc) {
	check := c.cfg.ReadTimeout / 4
	nextPing := c.cfg.Clock.Now().Add(c.cfg.PingInterval)
	for {
		wait := check
		if c.cfg.PingInterval > 0 {
			wait = min(wait, nextPing.Sub(c.cfg.Clock.Now()))
		}
		if !clock.Sleep(ctx, c.cfg.Clock, max(wait, time.Millisecond)) {
			return
		}
		now := c.cfg.Clock.Now()
		if now.Sub(time.Unix(0, c.lastRead.Load())) > c.cfg.ReadTimeout {
			drop(ErrReadTimeout)
			return
		}
		if c.cfg.PingInterval > 0 && !now.Before(nextPing) {
			nextPing = now.Add(c.cfg.PingInterval)
			pctx, cancel := context.WithTimeout(ctx, c.cfg.ReadTimeout)
			err := ws.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				drop(fmt.Errorf("stream %s: ping: %w", c.cfg.Name, err))
				return
			}
		}
	}
}

// The connection's log events (Config.Log).
const (
	EventConnect   = "stream_connect"
	EventDrop      = "stream_drop"
	EventReconnect = "stream_reconnect"
)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// logConnect: the n-th connection came up at its attempt-th try.
func (c *Conn) logConnect(n int64, attempt int, handshake, limiterWait time.Duration) {
	c.cfg.Log.Info().Str("event", EventConnect).Str("stream", c.cfg.Name).Int64("connects", n).
		Int("attempt", attempt).Float64("handshake_ms", ms(handshake)).Float64("limiter_wait_ms", ms(limiterWait)).
		Msg("stream connected")
}

// logDrop: the n-th connection went down after living for up.
func (c *Conn) logDrop(n int64, up time.Duration, why error) {
	msg := ""
	if why != nil {
		msg = scheduler.Redact(why.Error())
	}
	c.cfg.Log.Warn().Str("event", EventDrop).Str("stream", c.cfg.Name).Int64("connects", n).
		Float64("up_ms", ms(up)).Str("error_message", msg).Msg("stream dropped")
}

// logReconnect: the attempt-th try since the last healthy connection will be made after delay,
// because the previous one ended with why.
func (c *Conn) logReconnect(attempt int, delay time.Duration, why error) {
	c.cfg.Log.Info().Str("event", EventReconnect).Str("stream", c.cfg.Name).Int("attempt", attempt).
		Int64("delay_ms", delay.Milliseconds()).Str("error_message", scheduler.Redact(why.Error())).
		Msg("stream reconnecting")
}
