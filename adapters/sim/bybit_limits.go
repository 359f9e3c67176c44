package sim

import (
	"net/http"
	"strconv"
	"time"
)

// Bybit's limit model (docs/v5/rate-limit/rate-limit.mdx), as the bybit dialect enforces it:
//
//   - the IP limit: "600 requests within a 5-second window per IP", public and private alike.
//     Past it the IP is answered "403, access too frequent" and must "wait for at least 10
//     minutes. The ban will be lifted automatically." Every request of the IP is refused with
//     that 403 until then. The docs do not say whether requests during the ban extend it; the
//     simulator does not extend it (a guess).
//   - the per-UID limits: a "rolling time window per second and UID", counted per endpoint
//     (POST /v5/order/create 20/s for spot, ...). Past one, the answer is HTTP 200 with
//     retCode 10006 "Too many visits!" and X-Bapi-Limit-Reset-Timestamp is when the window has
//     room again. Every private answer carries X-Bapi-Limit (the limit), X-Bapi-Limit-Status
//     (what remains) and X-Bapi-Limit-Reset-Timestamp (now, when not exceeded). A refused
//     request does not count against the window (the docs are silent; a guess).
//
// Both windows slide ("rolling"), and both, like the ban, are divided by the time scale.

// BybitConfig configures the bybit dialect's limits. Zero fields take Bybit's documented
// values; tests lower them so that a test-sized load reaches them.
type BybitConfig struct {
	// IPLimit requests per IPWindow per IP (default 600 per 5s), then a ban of IPBan
	// (default 10m). All three are before time scaling.
	IPLimit  int64
	IPWindow time.Duration
	IPBan    time.Duration
	// EndpointLimits overrides per-UID limits per second by "METHOD /path"
	// ("POST /v5/order/create": 20); see bybitRoutes for the defaults.
	EndpointLimits map[string]int64
	// RealtimeClosed is how many closed orders per account GET /v5/order/realtime still
	// shows ("a maximum of recent 500 closed status records"); default 500. Older closed
	// orders are only in GET /v5/order/history.
	RealtimeClosed int
}

func (c BybitConfig) withDefaults() BybitConfig {
	if c.IPLimit <= 0 {
		c.IPLimit = 600
	}
	if c.IPWindow <= 0 {
		c.IPWindow = 5 * time.Second
	}
	if c.IPBan <= 0 {
		c.IPBan = 10 * time.Minute
	}
	if c.RealtimeClosed <= 0 {
		c.RealtimeClosed = 500
	}
	return c
}

// slidingLog counts events over the last d: a rolling window, as Bybit counts. Not safe for
// concurrent use; the server's mutex guards it.
type slidingLog struct {
	d     time.Duration
	times []time.Time // oldest first
}

// at drops events older than d before now and returns how many remain.
func (l *slidingLog) at(now time.Time) int64 {
	cut := 0
	for cut < len(l.times) && !now.Before(l.times[cut].Add(l.d)) {
		cut++
	}
	if cut > 0 {
		l.times = append(l.times[:0], l.times[cut:]...)
	}
	return int64(len(l.times))
}

func (l *slidingLog) add(now time.Time) { l.times = append(l.times, now) }

// resetAt is when the window has room for one more event, given limit: the instant the
// oldest event that must leave leaves. now when there is room already.
func (l *slidingLog) resetAt(now time.Time, limit int64) time.Time {
	n := int64(len(l.times))
	if n < limit || limit <= 0 {
		return now
	}
	return l.times[n-limit].Add(l.d)
}

// bybitIPAdmit applies the IP limit to one request from st. It returns false when the
// request must be answered with the IP-ban 403: the IP is banned, or this request broke the
// limit and banned it.
// requires that s.mu is held.
func (s *Server) bybitIPAdmit(b *bybitState, host string, st *ipState, now time.Time, ep *endpointStats) bool {
	if now.Before(st.bannedUntil) {
		return false
	}
	l := b.ipLog(host, s.scaled(b.cfg.IPWindow))
	if l.at(now)+1 > b.cfg.IPLimit {
		until := s.ban(st, now, s.scaled(b.cfg.IPBan))
		s.stats.bans++
		ep.Bans++
		s.cfg.Logger.Warn().Str("event", "ip_banned").Str("dialect", DialectBybit).Time("until", until).Msg("sim: IP over Bybit's 600 requests per 5 s")
		return false
	}
	l.add(now)
	return true
}

// ipLog is the IP's rolling request log.
// requires that s.mu is held.
func (b *bybitState) ipLog(host string, d time.Duration) *slidingLog {
	l, ok := b.ips[host]
	if !ok {
		l = &slidingLog{d: d}
		b.ips[host] = l
	}
	return l
}

// uidLimit is one endpoint's per-UID window of one account.
type uidLimit struct {
	limit int64
	log   slidingLog
}

// endpointLimit returns the window of route rt for the account of key, nil when the route
// has no per-UID limit (public endpoints).
// requires that s.mu is held.
func (s *Server) bybitEndpointLimit(b *bybitState, key string, rt bybitRoute) *uidLimit {
	if rt.limit == 0 {
		return nil
	}
	k := key + " " + rt.key()
	u, ok := b.uid[k]
	if !ok {
		limit := rt.limit
		if v, set := b.cfg.EndpointLimits[rt.key()]; set && v > 0 {
			limit = v
		}
		u = &uidLimit{limit: limit, log: slidingLog{d: s.scaled(time.Second)}}
		b.uid[k] = u
	}
	return u
}

// bybitLimitHeaders are the three headers of a private answer: the limit, what remains and
// when the window has room again (now when it has).
func bybitLimitHeaders(h http.Header, u *uidLimit, now time.Time) {
	n := u.log.at(now)
	h["X-Bapi-Limit"] = []string{strconv.FormatInt(u.limit, 10)}
	h["X-Bapi-Limit-Status"] = []string{strconv.FormatInt(max(u.limit-n, 0), 10)}
	h["X-Bapi-Limit-Reset-Timestamp"] = []string{strconv.FormatInt(u.log.resetAt(now, u.limit).UnixMilli(), 10)}
}
