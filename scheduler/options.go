package scheduler

import (
	"context"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/rs/zerolog"
)

// Option configures a Scheduler beyond its Config: the things that are code, not settings.
type Option func(*options)

type options struct {
	clock     clock.Clock
	rand      *jitter.Rand
	log       zerolog.Logger
	gate      Gate
	observers []func(AttemptEvent)
	authHook  func(Outcome)
	authEvent func(Outcome, AttemptEvent)
	prober    Prober
	kinds     map[string]NewCounterFunc
	shared    Shared

	// holdObservers receive every bucket pause (bounds.go).
	holdObservers []func(HoldEvent)
}

// WithClock sets the scheduler's clock (default: the wall clock). Tests pass a fake.
func WithClock(c clock.Clock) Option { return func(o *options) { o.clock = c } }

// WithRand sets the source of jitter (default: jitter.NewRandom()). Tests pass a seeded one,
// jitter.New(seed). It is safe for concurrent use, so it may be shared with other components.
func WithRand(r *jitter.Rand) Option { return func(o *options) { o.rand = r } }

// WithLogger sets where the per-attempt events go (default: nowhere).
func WithLogger(l zerolog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithGate sets the gate asked before each attempt of each write that is not a cancel,
// whatever its priority (the kill switch). Reads and cancels are never gated. Default:
// always open.
func WithGate(g Gate) Option { return func(o *options) { o.gate = g } }

// WithObserver adds a function that receives each attempt's event after it is logged (the
// runtime feeds metrics from it). It runs on the request's goroutine and must not block.
func WithObserver(f func(AttemptEvent)) Option {
	return func(o *options) { o.observers = append(o.observers, f) }
}

// WithAuthFailureHook sets a function called with the outcome of every auth failure: the
// kill switch trips on it. It runs on the request's goroutine and must not block.
func WithAuthFailureHook(f func(Outcome)) Option { return func(o *options) { o.authHook = f } }

// WithAuthFailureEvent is WithAuthFailureHook with the attempt's event too (its request_id
// and idempotency_key), so that whatever the hook trips can name the attempt that caused it.
// Both hooks may be set; each is called once per auth failure.
func WithAuthFailureEvent(f func(Outcome, AttemptEvent)) Option {
	return func(o *options) { o.authEvent = f }
}

// Prober sends one cheap, idempotent read that tests what a half-open breaker of class c
// guards (server time or ping for the platform and rate limits; a signed read for auth)
// through the scheduler, like any read, and returns its error. The scheduler calls it on a
// goroutine of its own, with a context that Close cancels.
type Prober func(ctx context.Context, c Class) error

// WithProber sets the prober. With one, a half-open breaker's probe is always a read: writes
// (orders and cancels) wait until a read has gone through and closed it, and if none is
// queued the scheduler sends one with p. Without one (the default), any request may be the
// probe, the next order included.
func WithProber(p Prober) Option { return func(o *options) { o.prober = p } }

// WithWindowKind registers a window kind: WindowConfig.Kind names it, f builds its Counter
// (a user's own way of counting). Registering a built-in kind's name replaces its Counter; the
// kind keeps its other traits (a decaying window's default burst and pacing rate), so the
// Counter must count the way that kind does.
func WithWindowKind(kind string, f NewCounterFunc) Option {
	return func(o *options) { o.kinds[kind] = f }
}
