package stream

import (
	"context"
	"sync"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
)

// AttemptLimiter is what a Conn asks before each dial (adapters.AttemptLimiter).
type AttemptLimiter = adapters.AttemptLimiter

var _ AttemptLimiter = (*Limiter)(nil)

// isNil reports whether l is nil or a typed nil pointer, so a nil *Limiter passed through an
// AttemptLimiter field still takes the default.
func isNil(l AttemptLimiter) bool {
	if l == nil {
		return true
	}
	lim, ok := l.(*Limiter)
	return ok && lim == nil
}

// LimiterConfig sizes a Limiter. Zero fields take the defaults noted.
type LimiterConfig struct {
	// Max connection attempts per Window. Default 240: 80% of Binance's 300 per 5 minutes
	// per IP, so a process that also serves the WebSocket API stays clear of the limit.
	Max int
	// Window is the sliding window. Default 5m.
	Window time.Duration
}

// The default cap on connection attempts: 80% of Binance's 300 per 5 minutes per IP, so a
// process that also serves the WebSocket API stays clear of the limit.
const (
	DefaultMaxAttempts   = 240
	DefaultAttemptWindow = 5 * time.Minute
)

// Limiter caps connection attempts over a sliding window. One Limiter is shared by every
// stream of an account (the exchange counts per IP); it is safe for concurrent use. Wait is
// what callers want.
type Limiter struct {
	cfg LimiterConfig
	clk clock.Clock

	mu    sync.Mutex
	times []time.Time // attempts inside the window, oldest first
	total int64
}

// NewLimiter builds a Limiter on clk (nil: the wall clock).
func NewLimiter(cfg LimiterConfig, clk clock.Clock) *Limiter {
	if cfg.Max <= 0 {
		cfg.Max = DefaultMaxAttempts
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultAttemptWindow
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Limiter{cfg: cfg, clk: clk}
}

// Wait blocks until an attempt fits in the window, takes it, and returns nil; or returns
// ctx's error.
func (l *Limiter) Wait(ctx context.Context) error {
	for {
		wait := l.reserve(l.clk.Now())
		if wait <= 0 {
			return nil
		}
		t, stop := l.clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-t:
		}
	}
}

// reserve takes an attempt at now and returns 0, or returns how long until one frees.
func (l *Limiter) reserve(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	cut := 0
	for cut < len(l.times) && !now.Before(l.times[cut].Add(l.cfg.Window)) {
		cut++
	}
	l.times = l.times[cut:]
	if len(l.times) >= l.cfg.Max {
		return l.times[0].Add(l.cfg.Window).Sub(now)
	}
	l.times = append(l.times, now)
	l.total++
	return 0
}

// InWindow is how many attempts the current window holds.
func (l *Limiter) InWindow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	n := 0
	for _, t := range l.times {
		if now.Before(t.Add(l.cfg.Window)) {
			n++
		}
	}
	return n
}

// Total is how many attempts were taken since the Limiter was built.
func (l *Limiter) Total() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
