package sim

import (
	"net/http"
	"strconv"
	"time"
)

// Coinbase Advanced Trade's limits, as the coinbase dialect enforces them (the retired
// rest-api-rate-limits page, as ccxt and hummingbot quote it):
//
//   - private endpoints: 30 requests per second per user, shared by every key and process
//     of the user (here: per account);
//   - public endpoints: 10 requests per second per IP.
//
// Both windows slide (a guess: the page says "per second"). Past one, the answer is HTTP 429
// with an HTML page for a body. Every answer of a limited endpoint carries x-ratelimit-limit,
// x-ratelimit-remaining and x-ratelimit-reset (coinbase-advanced-py reads them; their format
// is undocumented: reset is a guess, the Unix time in seconds when the window has room
// again). A refused request does not count (a guess). Windows are divided by the time scale.
//
// The lockout is a MODEL, not Coinbase's documented behaviour (none is documented): when a
// known key's JWTs are refused LockoutAfter times within LockoutWindow, every request of
// that key is refused 401 for Lockout, whatever it carries.

// CoinbaseConfig configures the coinbase dialect. Zero fields take the documented values
// (the lockout's are the model's); tests lower them.
type CoinbaseConfig struct {
	// PrivateLimit requests per user and PublicLimit per IP, per Window (default 30 and 10
	// per 1s, before time scaling).
	PrivateLimit, PublicLimit int64
	Window                    time.Duration
	// LockoutAfter 401s within LockoutWindow lock the key out for Lockout (defaults 10, 1m,
	// 5m, before time scaling). The model's numbers, not Coinbase's.
	LockoutAfter  int
	LockoutWindow time.Duration
	Lockout       time.Duration
	// The WebSocket feeds (coinbase_ws.go): WSConnectionsPerSecond connection attempts per
	// IP (default 8, time-scaled), WSMessagesPerSecond unauthenticated messages per IP
	// (default 8), a subscription within SubscribeWithin of connecting (default 5s), a
	// connection without heartbeats closed after QuietClose without a message (default
	// 60s), WSBookLevels levels a side on level2 (default 50).
	WSConnectionsPerSecond, WSMessagesPerSecond int
	SubscribeWithin, QuietClose                 time.Duration
	WSBookLevels                                int
}

func (c CoinbaseConfig) withDefaults() CoinbaseConfig {
	if c.PrivateLimit <= 0 {
		c.PrivateLimit = 30
	}
	if c.PublicLimit <= 0 {
		c.PublicLimit = 10
	}
	if c.Window <= 0 {
		c.Window = time.Second
	}
	if c.LockoutAfter <= 0 {
		c.LockoutAfter = 10
	}
	if c.LockoutWindow <= 0 {
		c.LockoutWindow = time.Minute
	}
	if c.Lockout <= 0 {
		c.Lockout = 5 * time.Minute
	}
	if c.WSConnectionsPerSecond <= 0 {
		c.WSConnectionsPerSecond = 8
	}
	if c.WSMessagesPerSecond <= 0 {
		c.WSMessagesPerSecond = 8
	}
	if c.SubscribeWithin <= 0 {
		c.SubscribeWithin = 5 * time.Second
	}
	if c.QuietClose <= 0 {
		c.QuietClose = time.Minute
	}
	if c.WSBookLevels <= 0 {
		c.WSBookLevels = 50
	}
	return c
}

// coinbaseLimitState is one sliding window: a user's or an IP's.
type coinbaseLimitState struct {
	limit int64
	log   *slidingLog
	// holdUntil refuses everything until then (an injected 429 that said how long).
	holdUntil time.Time
}

// admit counts a request that fits and reports whether it did.
func (l *coinbaseLimitState) admit(now time.Time) bool {
	if now.Before(l.holdUntil) {
		return false
	}
	if l.log.at(now) >= l.limit {
		return false
	}
	l.log.add(now)
	return true
}

// headers writes x-ratelimit-limit, -remaining and -reset.
func (l *coinbaseLimitState) headers(h http.Header, now time.Time) {
	n := l.log.at(now)
	reset := l.log.resetAt(now, l.limit)
	if l.holdUntil.After(reset) {
		reset = l.holdUntil
	}
	h["X-Ratelimit-Limit"] = []string{strconv.FormatInt(l.limit, 10)}
	h["X-Ratelimit-Remaining"] = []string{strconv.FormatInt(max(l.limit-n, 0), 10)}
	// Whole seconds, rounded up: a client that waits until then finds room.
	secs := reset.Unix()
	if reset.Nanosecond() > 0 {
		secs++
	}
	h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(secs, 10)}
}

// requires that s.mu is held.
func (cb *coinbaseState) publicLimit(s *Server, host string) *coinbaseLimitState {
	l, ok := cb.ips[host]
	if !ok {
		l = &coinbaseLimitState{limit: cb.cfg.PublicLimit, log: &slidingLog{d: s.scaled(cb.cfg.Window)}}
		cb.ips[host] = l
	}
	return l
}

// requires that s.mu is held.
func (cb *coinbaseState) userLimit(s *Server, a *account) *coinbaseLimitState {
	l, ok := cb.users[a]
	if !ok {
		l = &coinbaseLimitState{limit: cb.cfg.PrivateLimit, log: &slidingLog{d: s.scaled(cb.cfg.Window)}}
		cb.users[a] = l
	}
	return l
}

// coinbaseLockout is one key's recent 401s and its lockout.
type coinbaseLockout struct {
	failures    []time.Time
	lockedUntil time.Time
}

// cbAuthRefused records a refused JWT of a known key and locks the key out past the
// threshold.
// requires that s.mu is held.
func (s *Server) cbAuthRefused(cb *coinbaseState, a *account, now time.Time) {
	lo := cb.lockouts[a]
	if lo == nil {
		lo = &coinbaseLockout{}
		cb.lockouts[a] = lo
	}
	win := s.scaled(cb.cfg.LockoutWindow)
	kept := lo.failures[:0]
	for _, t := range lo.failures {
		if now.Sub(t) < win {
			kept = append(kept, t)
		}
	}
	lo.failures = append(kept, now)
	if len(lo.failures) >= cb.cfg.LockoutAfter && !now.Before(lo.lockedUntil) {
		lo.lockedUntil = now.Add(s.scaled(cb.cfg.Lockout))
		lo.failures = nil
		s.stats.bans++
		s.cfg.Logger.Warn().Str("event", "key_locked_out").Str("dialect", DialectCoinbase).Time("until", lo.lockedUntil).
			Msg("sim: API key locked out after repeated 401s (a model: Coinbase documents no ban policy)")
	}
}

// cbLockedOut reports whether a's key is locked out now.
// requires that s.mu is held.
func (cb *coinbaseState) lockedOut(a *account, now time.Time) bool {
	lo := cb.lockouts[a]
	return lo != nil && now.Before(lo.lockedUntil)
}

// CoinbaseLockedOut reports whether the coinbase dialect has locked key out for repeated
// 401s (the modelled lockout); false for any other dialect.
func (s *Server) CoinbaseLockedOut(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb, ok := s.dialectState.(*coinbaseState)
	a := s.accounts[key]
	return ok && a != nil && cb.lockedOut(a, s.now())
}
