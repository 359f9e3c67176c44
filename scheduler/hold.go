package scheduler

import (
	"time"

	"github.com/keelbot/keel/jitter"
)

// holdScope is what a hold stops. Every hold records it (a bucket's pause after a 429 or a
// ban, the rate_limit breaker's opening), so that a request passes the holds that do not
// concern it instead of waiting on them.
//
// The distinction exists for cancels. An order-count limit (Binance 429 -1015, the ORDERS
// windows) limits new orders only: cancels do not count against it, and a bot that cannot
// cancel while it is refused new orders is stuck with its exposure. An IP-wide limit (429
// -1003 on request weight, a 418 ban) counts every request, cancels included, and sending
// during a ban extends it: it holds everything.
//
// The auth breaker is not a scope: while it is open it holds everything but cancels, which
// pass it one at a time per bucket (see breaker.holds).
type holdScope uint8

const (
	// scopeAll is an IP-wide limit (request weight, raw requests, a ban): every request it
	// covers waits, cancels included. It is what a refusal means unless told otherwise.
	scopeAll holdScope = iota
	// scopeOrders is an order-count limit (Outcome.OrderLimit): only requests that place
	// orders (writes that are not cancels) wait; cancels and reads pass.
	scopeOrders
	numScopes
)

// scopeOf returns the scope of the hold a rate-limit refusal o starts.
func scopeOf(o Outcome) holdScope {
	if o.OrderLimit && !isBan(o) {
		return scopeOrders
	}
	return scopeAll
}

// stops reports whether a hold of scope sc stops w.
func (sc holdScope) stops(w *waiter) bool { return sc == scopeAll || w.places }

// isBan reports whether o is an IP ban (Binance 418).
func isBan(o Outcome) bool { return o.Ban || o.Status == 418 }

// hold is one pause of a bucket. The requests it stops wait until until and then resume
// spread over rand(0, spread), not as a herd; gen tells a waiter whether it has drawn its
// spread for this pause. The zero value holds nothing.
type hold struct {
	until  time.Time
	spread time.Duration
	gen    uint64
	reason string
}

// extend holds until until, unless the hold already lasts longer, and reports whether it
// did.
func (h *hold) extend(until time.Time, spread time.Duration, reason string) bool {
	if !until.After(h.until) {
		return false
	}
	h.until, h.spread, h.reason = until, spread, reason
	h.gen++
	return true
}

// banState remembers the IP bans (418) the exchange answered with, to size one that came
// without Retry-After. Its fields are guarded by Scheduler.mu.
type banState struct {
	streak int       // default pauses in a row, each a repeat of the last: each doubles the next
	from   time.Time // when the last ban began
	until  time.Time // when it ends
}

// banPauseLocked returns how long the ban that answered an attempt sent at sent, at now,
// lasts: its Retry-After when the exchange gave one; else BanPause, doubled for each repeat
// up to BanPauseCap.
//
// Why that default: Binance documents a 418 as an IP ban of 2 minutes to 3 days, longer for
// repeat offenders, with Retry-After giving its length, and a request sent during a ban
// extends it. Without Retry-After the length is unknown; coming back too early costs a longer
// ban, coming back too late costs idle time, so wait the shortest documented ban and double
// it for each ban that comes within BanPauseCap of the end of the previous one. A 418 that
// answers a request sent before the current ban began is the same ban, not a repeat (the
// requests in flight together all meet it; one sent at the very instant it began was sent
// before it was known).
// requires that s.mu is held.
func (s *Scheduler) banPauseLocked(sent, now time.Time, retryAfter time.Duration) time.Duration {
	bs := &s.ban
	if retryAfter > 0 {
		bs.from, bs.until = now, maxTime(bs.until, now.Add(retryAfter))
		return retryAfter
	}
	if !sent.After(bs.from) && now.Before(bs.until) {
		return bs.until.Sub(now)
	}
	if bs.until.IsZero() || now.Sub(bs.until) >= s.cfg.Backoff.BanPauseCap {
		bs.streak = 0
	}
	// It doubles like a backoff's ceiling, with no draw: the ban's length is not ours to spread.
	pause := jitter.Ceiling(s.cfg.Backoff.BanPause, s.cfg.Backoff.BanPauseCap, bs.streak)
	bs.streak++
	bs.from, bs.until = now, maxTime(bs.until, now.Add(pause))
	return pause
}
