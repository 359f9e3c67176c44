package adapters

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
)

// Streams are part of the exchange contract: an adapter follows market data and the
// account's order updates over the exchange's WebSockets, and the runtime falls back to REST
// polling while a stream is down, or always for an adapter without streams
// (Definition.Streams false; its methods return ErrNoStreams, see NoStreams).

// ErrNoStreams is returned by MarketStream and UserStream of an adapter without streams.
var ErrNoStreams = errors.New("adapters: this exchange adapter has no streams; poll REST")

// ErrStreamAuth matches (errors.Is) a stream the exchange refused for the key or the
// signature: an auth failure like a REST 401, which halts trading. A stream stops on it
// instead of retrying.
var ErrStreamAuth = errors.New("adapters: stream authentication refused")

// ErrStreamKeyUnsupported matches a stream refused because of the kind of key configured
// (Binance's session.logon takes Ed25519 keys only): a configuration matter, not a bad key.
var ErrStreamKeyUnsupported = errors.New("adapters: the stream does not support this kind of key")

// AttemptLimiter is what a stream asks before each connection attempt. Wait blocks until one
// attempt may be made, takes it, and returns nil; or returns an error, and the stream does not
// dial: ctx's error ends it, any other (a shared store out of reach) counts as a failed
// attempt, so the stream backs off and asks again. Exchanges count connection attempts per
// IP; share one limiter among every stream of the account (adapters/stream.Limiter), or
// among a fleet. Implementations are safe for concurrent use.
type AttemptLimiter interface {
	Wait(ctx context.Context) error
}

// StreamOptions configure a MarketStream or UserStream. Zero fields take defaults.
type StreamOptions struct {
	// Limiter caps connection attempts; nil: each stream its own, at the exchange's limit.
	Limiter AttemptLimiter
	// Clock times reconnects, backoff and staleness; nil: the wall clock.
	Clock clock.Clock
	// Seed seeds the reconnect jitter, so streams started together drift apart.
	Seed uint64
	// Log receives the stream's events, one per connect, drop, reconnect attempt and resync
	// (adapters/stream's stream_connect, stream_drop, stream_reconnect, and stream_resync for
	// each order-book snapshot with its weight); the zero Logger writes nothing.
	Log zerolog.Logger
}

// MarketHandler receives a market stream's events, on the stream's goroutines. Nil fields
// are skipped.
type MarketHandler struct {
	// OnBook is called after an update moved a symbol's synced local book.
	OnBook func(symbol string, book *OrderBook, u DepthUpdate)
	// OnTrade gets every public trade.
	OnTrade func(Trade)
	// OnStatus reports a symbol's data going stale (stream down, resyncing) or fresh again.
	OnStatus func(symbol string, fresh bool, reason string)
}

// UserHandler receives the account's user data stream events. Nil fields are skipped.
type UserHandler struct {
	// OnOrder gets every order change.
	OnOrder func(Order)
	// OnBalances gets the balances an event moved.
	OnBalances func([]Balance)
	// OnStatus reports the stream going up or down.
	OnStatus func(up bool, err error)
	// OnResync is called after every reconnect once the subscription is active again:
	// events may have been missed while down, so orders in flight should be queried.
	OnResync func()
}

// MarketStream follows the order books and trades of some symbols. Run it until ctx ends.
type MarketStream interface {
	Run(ctx context.Context) error
	// Book is a symbol's local book, kept from the stream; nil for a symbol not followed.
	Book(symbol string) *OrderBook
}

// UserStream follows the account's order updates. Run returns when ctx ends, or with an
// error matching ErrStreamAuth when the exchange refuses the key.
type UserStream interface {
	Run(ctx context.Context) error
}

// ConnectionLimit is implemented by an adapter whose exchange caps WebSocket connection
// attempts per IP otherwise than adapters/stream's default limiter assumes (240 per 5 minutes,
// under Binance's 300): Coinbase allows 8 a second. The runtime sizes the attempt limiter it
// shares among the process's streams — and, in fleet mode, the fleet's window in Redis — by
// it. Optional: the runtime looks for it, through a wrapping adapter's Unwrap.
type ConnectionLimit interface {
	// StreamConnectionLimit is how many connection attempts per window to allow.
	StreamConnectionLimit() (max int, window time.Duration)
}

// Streamer is the streaming part of the Exchange contract.
type Streamer interface {
	// MarketStream builds one stream following symbols' books and trades.
	MarketStream(symbols []string, h MarketHandler, o StreamOptions) (MarketStream, error)
	// UserStream builds the account's user data stream.
	UserStream(h UserHandler, o StreamOptions) (UserStream, error)
}

// NoStreams is embedded by adapters without streams: both methods return ErrNoStreams.
type NoStreams struct{}

// MarketStream returns ErrNoStreams.
func (NoStreams) MarketStream([]string, MarketHandler, StreamOptions) (MarketStream, error) {
	return nil, ErrNoStreams
}

// UserStream returns ErrNoStreams.
func (NoStreams) UserStream(UserHandler, StreamOptions) (UserStream, error) {
	return nil, ErrNoStreams
}
