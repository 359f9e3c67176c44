package sim

import (
	"time"
)

// Kraken's limits are decaying counters, not windows (docs.kraken.com guides
// spot-rest-ratelimits and spot-ratelimits): a counter rises by each call's cost and drains
// continuously at a rate per second; a call that would take it past its maximum is refused.
// The simulator runs every drain TimeScale times faster.

// KrakenTier is one of Kraken's verification tiers and its limits.
type KrakenTier struct {
	Name string
	// RESTMax and RESTDecay are the REST call counter per API key: its maximum and how much it
	// drains per second.
	RESTMax   float64
	RESTDecay float64
	// TradeMax and TradeDecay are the trading-engine counter per pair: its threshold and how
	// much it drains per second.
	TradeMax   float64
	TradeDecay float64
}

// KrakenTiers are the documented tiers: Starter 15 (-0.33/s) and 60 (-1/s), Intermediate 20
// (-0.5/s) and 125 (-2.34/s), Pro 20 (-1/s) and 180 (-3.75/s).
var KrakenTiers = map[string]KrakenTier{
	"starter":      {Name: "starter", RESTMax: 15, RESTDecay: 0.33, TradeMax: 60, TradeDecay: 1},
	"intermediate": {Name: "intermediate", RESTMax: 20, RESTDecay: 0.5, TradeMax: 125, TradeDecay: 2.34},
	"pro":          {Name: "pro", RESTMax: 20, RESTDecay: 1, TradeMax: 180, TradeDecay: 3.75},
}

// Public endpoints have no documented number. The simulator guesses a counter per IP like the
// REST one: at most krakenPublicMax, draining krakenPublicDecay per second; past it the answer
// is EGeneral:Too many requests (what Kraken's public endpoints answer when hammered).
const (
	krakenPublicMax   = 15
	krakenPublicDecay = 1
	// krakenMaxConcurrent is how many requests of one key may be in flight before Kraken
	// answers EService:Throttled (undocumented number; a guess).
	krakenMaxConcurrent = 8
	// krakenLockout is how long a temporary lockout lasts (support: "approximately 15
	// minutes"), before time scaling.
	krakenLockout = 15 * time.Minute
)

// krakenCancelCost is the trading-engine cost of cancelling an order that has rested for age
// (spot-ratelimits "Cancel Order": +8 under 5 s down to +1 under 300 s, then nothing).
func krakenCancelCost(age time.Duration) float64 {
	switch {
	case age < 5*time.Second:
		return 8
	case age < 10*time.Second:
		return 6
	case age < 15*time.Second:
		return 5
	case age < 45*time.Second:
		return 4
	case age < 90*time.Second:
		return 2
	case age < 300*time.Second:
		return 1
	}
	return 0
}

// decayCounter is a counter that drains continuously at rate per second (already time-scaled).
// Not safe for concurrent use; the server's mutex guards it.
type decayCounter struct {
	value float64
	at    time.Time
	rate  float64
}

// now drains the counter to t and returns its value.
func (c *decayCounter) now(t time.Time) float64 {
	if d := t.Sub(c.at); d > 0 {
		c.value -= c.rate * d.Seconds()
		if c.value < 0 {
			c.value = 0
		}
		c.at = t
	} else if c.at.IsZero() {
		c.at = t
	}
	return c.value
}

// add counts n at t.
func (c *decayCounter) add(t time.Time, n float64) {
	c.now(t)
	c.value += n
}

// krakenLockoutState is the authentication failures of one client IP: invalid keys,
// signatures and nonces. Too many within the auth window lock the IP out
// (EGeneral:Temporary lockout) for krakenLockout, time-scaled. (Kraken speaks of "too many
// sequential EAPI:Invalid key errors" and of bans for "too many requests with invalid
// nonces"; a count within a window, successes in between or not, covers both.)
type krakenLockoutState struct {
	failures []time.Time
	until    time.Time
}

// unscaled converts a duration on the server's clock back to nominal (unscaled) time:
// an order that rested 50 ms at TimeScale 100 rested 5 s as far as cancel costs go.
func (s *Server) unscaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.TimeScale)
}

// krakenAuthFailed records an authentication failure of the IP and locks it out past the
// threshold (Abuse.AuthFailures within Abuse.AuthWindow, time-scaled). It reports whether this
// failure started a lockout.
// requires that s.mu is held.
func (s *Server) krakenAuthFailed(st *krakenLockoutState, ep *endpointStats, now time.Time) bool {
	ep.AuthFailures++
	s.stats.total.AuthFailures++
	win := s.scaled(s.cfg.Abuse.AuthWindow)
	kept := st.failures[:0]
	for _, t := range st.failures {
		if now.Sub(t) < win {
			kept = append(kept, t)
		}
	}
	st.failures = append(kept, now)
	if len(st.failures) >= s.cfg.Abuse.AuthFailures && !now.Before(st.until) {
		st.until = now.Add(s.scaled(krakenLockout))
		st.failures = st.failures[:0]
		s.stats.bans++
		ep.Bans++
		s.cfg.Logger.Warn().Str("event", "kraken_lockout").Time("until", st.until).Msg("sim: kraken: IP temporarily locked out after repeated auth failures")
		return true
	}
	return false
}
