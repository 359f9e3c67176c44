package sim

import (
	"time"
)

// ipState is what the simulator tracks per client IP: its weight and raw-request windows (the
// limits "are based on the IPs, not the API keys"), the Retry-After it was last told to honour,
// and its ban history. rest-api.md "IP Limits": "Repeatedly violating rate limits and/or failing
// to back off after receiving 429s will result in an automated IP ban (HTTP status 418)", and
// "IP bans are tracked and scale in duration for repeat offenders, from 2 minutes to 3 days".
type ipState struct {
	weight, raw window
	// retryUntil is the end of the last Retry-After this IP was sent with a 429.
	retryUntil time.Time
	// violations counts requests received before retryUntil.
	violations  int
	bannedUntil time.Time
	bans        int // how many bans so far; each doubles the next
	// banHits counts requests received while banned (see Server.SetRebanAfter).
	banHits int
}

// requires that s.mu is held.
func (s *Server) ip(addr string) *ipState {
	st, ok := s.ips[addr]
	if !ok {
		st = &ipState{weight: newWindow(s.limits.weight), raw: newWindow(s.limits.raw)}
		s.ips[addr] = st
	}
	return st
}

// scaled divides a nominal duration by the time scale.
func (s *Server) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.cfg.TimeScale)
}

// ban bans the IP for the next duration of its escalation (BanBase doubling per ban, capped at
// BanMax, both time-scaled), or for d when d > 0 (a forced ban from the admin API).
// requires that s.mu is held.
func (s *Server) ban(st *ipState, now time.Time, d time.Duration) time.Time {
	if d <= 0 {
		d = s.cfg.Abuse.BanBase
		for i := 0; i < st.bans && d < s.cfg.Abuse.BanMax; i++ {
			d *= 2
		}
		if d > s.cfg.Abuse.BanMax {
			d = s.cfg.Abuse.BanMax
		}
		d = s.scaled(d)
	}
	st.bans++
	st.bannedUntil = now.Add(d)
	st.violations = 0
	st.banHits = 0
	st.retryUntil = time.Time{}
	return st.bannedUntil
}

// checkBackoff enforces bans and Retry-After before a request is weighed. It returns the error
// to answer with, or nil to go on. A client that waits out every Retry-After is never banned:
// only requests that arrive before the deadline it was given count as violations.
// requires that s.mu is held.
func (s *Server) checkBackoff(st *ipState, now time.Time, ep *endpointStats) (*apiError, int64) {
	if now.Before(st.bannedUntil) {
		st.banHits++
		if s.rebanAfter > 0 && st.banHits >= s.rebanAfter {
			// A client that keeps knocking during its ban is a repeat offender: the ban
			// grows to the next step of the escalation, starting now.
			until := s.ban(st, now, 0)
			s.stats.bans++
			ep.Bans++
			s.cfg.Logger.Warn().Str("event", "ip_banned").Time("until", until).Int("bans", st.bans).Msg("sim: IP ban extended for requests during the ban")
		}
		return errBanned(st.bannedUntil.UnixMilli()), retryAfter(now, st.bannedUntil)
	}
	if now.Before(st.retryUntil) {
		st.violations++
		if st.violations >= s.cfg.Abuse.BanAfter {
			until := s.ban(st, now, 0)
			s.stats.bans++
			ep.Bans++
			s.cfg.Logger.Warn().Str("event", "ip_banned").Time("until", until).Int("bans", st.bans).Msg("sim: IP banned for not backing off")
			return errBanned(until.UnixMilli()), retryAfter(now, until)
		}
		// Still inside the window: the limit is still exceeded.
		return errWeightExceeded(s.limits.weightLimit, s.limits.weight.per()), retryAfter(now, st.retryUntil)
	}
	return nil, 0
}

// keyState tracks authentication failures of one API key. When AuthFailures bad signatures or
// timestamps arrive within AuthWindow the key is disabled: every signed call answers 401 -2015
// until the admin API restores it.
//
// Unknown or malformed keys (-2015/-2014) count toward nothing: such a key names no account,
// so there is no key to disable, and Binance's docs describe no other penalty for them.
type keyState struct {
	failures []time.Time
	disabled bool
}

// authFailed records one failure of a known key and disables it past the threshold.
// requires that s.mu is held.
func (s *Server) authFailed(acct *account, now time.Time) {
	ks := &acct.key
	win := s.scaled(s.cfg.Abuse.AuthWindow)
	kept := ks.failures[:0]
	for _, t := range ks.failures {
		if now.Sub(t) < win {
			kept = append(kept, t)
		}
	}
	ks.failures = append(kept, now)
	if !ks.disabled && len(ks.failures) >= s.cfg.Abuse.AuthFailures {
		ks.disabled = true
		s.cfg.Logger.Warn().Str("event", "key_disabled").Int("failures", len(ks.failures)).Msg("sim: API key disabled after repeated auth failures")
	}
}

// SetRebanAfter makes an IP that sends n requests while banned banned again at once for the
// next, doubled step of the escalation (Binance: bans "scale in duration for repeat
// offenders"); 0 (the default) leaves a ban as it was set. keel certify turns it on so a
// client that ignores a 418 is seen to make its ban grow.
func (s *Server) SetRebanAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rebanAfter = max(n, 0)
}
