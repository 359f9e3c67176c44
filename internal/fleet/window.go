package fleet

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/scheduler"
)

// leaseScript leases up to ARGV[1] (at least ARGV[2]) of a window's period if the fleet's
// total stays within ARGV[3], after raising the total to ARGV[5] (the exchange's own count,
// adopted) and adding ARGV[6] (what the asker took on its local share while Redis was away, and
// the weight it had in flight when the period began: scheduler.InFlight).
// It publishes the new total on KEYS[2] ("f|<period key>|<total>"), so that every instance
// knows how much is left without asking. It returns {granted, total}; granted is 0 when even
// ARGV[2] does not fit.
var leaseScript = newScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local adopt = tonumber(ARGV[5])
if adopt > used then used = adopt end
used = used + tonumber(ARGV[6])
local room = tonumber(ARGV[3]) - used
local g = 0
if room >= tonumber(ARGV[2]) then g = math.min(tonumber(ARGV[1]), room) end
used = used + g
redis.call('SET', KEYS[1], used, 'PX', ARGV[4])
redis.call('PUBLISH', KEYS[2], 'f|' .. KEYS[1] .. '|' .. used)
return {g, used}`)

// counter is a fixed window shared by the fleet (a scheduler.Counter with Reserve, built by
// Shared.Window).
// It leases chunks of the window's current period from Redis and grants from its lease; the
// sum of every instance's leases never exceeds the cap asked for, so the fleet never sends
// more than the limit in a period. The scheduler calls it with its lock held, one call at a
// time; mu guards it against the fleet's background goroutines.
type counter struct {
	f        *Fleet
	name     string
	interval int64 // ns
	base     int64 // the smallest chunk (Options.LeaseShare of the limit)
	key      string

	mu       sync.Mutex
	period   int64
	leased   int64 // granted to this instance in period
	used     int64 // of leased, taken by grants
	seen     int64 // the fleet's total as last heard (a lease's answer or another's notice)
	adopted  int64 // the exchange's count, pushed to Redis with the next lease
	local    int64 // taken from the local share in period (Redis away, or just back)
	prevUsed int64 // what this instance took in the period before: the next chunk's size
	// Requests in flight across a rollover count in the new period too (scheduler.InFlight):
	// flying is what this instance granted in period and has not ended, carried what it
	// granted in the period before and had not ended when period began, and of that, pending
	// is what Redis has not been told yet (pushed with the next lease, as local is; a carry is
	// this instance's lease in period once it is pushed, used until it is released).
	flying, carried, pending int64
	// skew is how far the exchange's clock as measured may run ahead of its own
	// (scheduler.Scheduler.SetClockUncertainty), at most half the interval: a request granted
	// in the first skew of period may arrive while the exchange is still in the period
	// before, so it is granted only from prevLeft, what was left of this instance's lease of
	// that period (counted there already), as well as from period's.
	skew, prevLeft int64

	lastN, lastLimit int64 // the last Reserve's cost and cap: what a prefetch asks for
}

func (f *Fleet) newCounter(w scheduler.WindowConfig) *counter {
	c := &counter{
		f: f, name: w.Name, interval: int64(w.Interval),
		base: max(1, int64(math.Floor(float64(w.Limit)*f.opts.LeaseShare))),
		key:  f.opts.Prefix + "w:" + w.Name + ":" + strconv.FormatInt(int64(w.Interval/time.Millisecond), 10) + ":",
	}
	f.mu.Lock()
	kept := f.counters[:0]
	for _, o := range f.counters {
		if o.name != c.name { // a rebuilt window replaces the old one
			kept = append(kept, o)
		}
	}
	f.counters = append(kept, c)
	f.mu.Unlock()
	return c
}

// index is the period now falls in. The window starts are the scheduler's fixed windows'
// (epoch-aligned on the exchange's clock).
func (c *counter) index(t time.Time) int64 {
	return fixedWindowIndex(t, time.Duration(c.interval))
}

// fixedWindowIndex numbers the fixed window of length interval that t falls in, counting from
// the Unix epoch, as the scheduler's fixed windows do (Binance's: "a 1 MINUTE interval starts
// every minute"): window n spans [n·interval, (n+1)·interval).
func fixedWindowIndex(t time.Time, interval time.Duration) int64 {
	ns, iv := t.UnixNano(), int64(interval)
	q := ns / iv
	if ns%iv < 0 { // floor, not truncation, before the epoch
		q--
	}
	return q
}

// roll starts a new period when now is past the current one. requires that c.mu is held.
func (c *counter) roll(now time.Time) {
	p := c.index(now)
	if p <= c.period {
		return
	}
	c.prevUsed, c.carried, c.prevLeft = 0, 0, 0
	if p == c.period+1 {
		c.prevUsed, c.carried, c.prevLeft = c.used+c.local, c.flying, max(0, c.leased-c.used)
	}
	c.period, c.leased, c.used, c.seen, c.adopted, c.local = p, 0, 0, 0, 0, 0
	c.flying, c.pending = 0, c.carried
}

// estimate is the fleet's count as this instance knows it: the total last heard minus what of
// its own lease is still unspent, plus its local share's use and the carry Redis was not told
// yet, or the exchange's count if higher. requires that c.mu is held.
func (c *counter) estimate() int64 {
	return max(c.seen-(c.leased-c.used)+c.local+c.pending, c.adopted)
}

// Used returns the fleet's count; a carry into a new period is pushed to Redis first, so that
// the other instances lease around it.
func (c *counter) Used(now time.Time) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	c.pushCarryLocked(now)
	return c.estimate()
}

// Sent records n granted at at as in flight (scheduler.InFlight).
func (c *counter) Sent(at time.Time, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(at)
	if c.index(at) == c.period {
		c.flying += n
	}
}

// Done ends n granted at at (scheduler.InFlight). A carried request counted in the new period
// stays this instance's lease's use; one released goes back into the lease (or out of the
// carry Redis was not told yet): the fleet's total never goes down, as with Remove, and this
// instance grants it again.
func (c *counter) Done(at, now time.Time, n int64, counted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	switch c.index(at) {
	case c.period:
		c.flying = max(0, c.flying-n)
	case c.period - 1:
		if c.carried <= 0 {
			return
		}
		c.carried = max(0, c.carried-n)
		if !counted {
			d := min(c.pending, n)
			c.pending -= d
			c.used = max(0, c.used-(n-d))
		}
		c.pushCarryLocked(now)
	}
}

// pushCarryLocked tells Redis the carry it was not told yet, with a lease of nothing, unless
// this instance runs on its local share (then it goes with the first lease once Redis is
// back). requires that c.mu is held.
func (c *counter) pushCarryLocked(now time.Time) {
	if c.pending <= 0 {
		return
	}
	if local, _ := c.localShareLocked(now); local {
		return
	}
	ctx, cancel := c.f.op()
	defer cancel()
	p := c.f.rdb.Pipeline()
	apply := c.queueLeaseLocked(ctx, p, 0, c.lastLimit)
	_, _ = p.Exec(ctx)
	if _, err := apply(); err != nil {
		c.f.fail(err)
	}
}

// Add counts n without a lease (the scheduler carrying a count over to a rebuilt window).
func (c *counter) Add(now time.Time, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	c.adopted = max(c.adopted, c.estimate()+n)
}

func (c *counter) Remove(at, now time.Time, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index(at) != c.index(now) || c.index(now) != c.period {
		return
	}
	if c.early(at) {
		c.prevLeft += n
	}
	if c.local > 0 {
		c.local = max(0, c.local-n)
		return
	}
	c.used = max(0, c.used-n) // back into the lease
}

func (c *counter) Adopt(sent, now time.Time, used int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index(sent) != c.index(now) {
		return
	}
	c.roll(now)
	c.adopted = max(c.adopted, used)
}

func (c *counter) Next(now time.Time) time.Time {
	return time.Unix(0, (c.index(now)+1)*c.interval)
}

// notice takes in another instance's lease: the fleet's total for a period. A total for any
// period but the current one is ignored: an instance whose clock is a moment ahead may lease
// the next period while this one still grants from its lease of the current one (rolling on
// would lose that lease, and lease the current period's last requests against the next).
func (c *counter) notice(key, total string) {
	rest, ok := strings.CutPrefix(key, c.key)
	if !ok {
		return
	}
	p, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p == c.period {
		c.seen = max(c.seen, n)
	}
}

// localShareLocked reports whether this instance runs on its local share in the period of now (on
// the exchange's clock): while Redis is away, from the period after the one it went away in;
// once back, for the rest of the period it came back in, unless that is the period it went
// away in (then nobody used a local share in it). requires that c.mu is held.
func (c *counter) localShareLocked(now time.Time) (local, allowed bool) {
	downAt, upAt, down := c.f.outage()
	if downAt.IsZero() {
		return false, false
	}
	skew := now.Sub(c.f.opts.Now()) // the exchange's clock minus ours
	d := c.index(downAt.Add(skew))
	if down {
		return true, c.period > d
	}
	if u := c.index(upAt.Add(skew)); u == c.period && u > d {
		return true, true
	}
	return false, false
}

// early reports whether t, in period, is within its first skew: the exchange may still be in
// the period before. requires that c.mu is held.
func (c *counter) early(t time.Time) bool {
	return t.UnixNano()-c.period*c.interval < c.skew
}

// SetSkew sets how far the exchange's clock as measured may run ahead of its own.
func (c *counter) SetSkew(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.skew = min(max(int64(d), 0), c.interval/2)
}

// Reserve counts n fleet-wide if the fleet's total stays within limit (see scheduler.Shared).
// In the first skew of a period it must fit in what was left of this instance's lease of the
// period before, too.
func (c *counter) Reserve(now time.Time, n, limit int64) (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	early := n > 0 && c.index(now) == c.period && c.early(now)
	if early {
		if c.prevLeft < n {
			return false, time.Unix(0, c.period*c.interval+c.skew)
		}
		c.prevLeft -= n
	}
	ok, retry := c.reserveLocked(now, n, limit)
	if early && !ok {
		c.prevLeft += n
	}
	return ok, retry
}

// reserveLocked is Reserve within the period of now. requires that c.mu is held.
func (c *counter) reserveLocked(now time.Time, n, limit int64) (bool, time.Time) {
	c.lastN, c.lastLimit = n, limit
	next := c.Next(now)
	if local, allowed := c.localShareLocked(now); local {
		// What is left of this instance's lease, then its share of the window.
		if c.used+n <= c.leased {
			c.used += n
			return true, time.Time{}
		}
		if !allowed || c.local+c.pending+n > limit/int64(c.f.opts.Size) {
			return false, next
		}
		c.local += n
		return true, time.Time{}
	}
	if c.used+n <= c.leased && c.estimate()+n <= limit {
		c.used += n
		return true, time.Time{}
	}
	if c.estimate()+n > limit {
		return false, next // the fleet's total, as last heard, leaves no room
	}
	if later := c.laterLocked(n, limit); now.Before(later) {
		return false, later
	}
	ctx, cancel := c.f.op()
	defer cancel()
	p := c.f.rdb.Pipeline()
	apply := c.queueLeaseLocked(ctx, p, n, limit)
	// The round trip also carries the other windows' leases that will be needed next, and the
	// slots' renewals and returns that are due.
	var after []func()
	for _, o := range c.f.counterList() {
		if o == c || !o.mu.TryLock() {
			continue
		}
		if fn := o.prefetchLocked(ctx, p, now); fn != nil {
			after = append(after, func() { fn(); o.mu.Unlock() })
		} else {
			o.mu.Unlock()
		}
	}
	for _, s := range c.f.semaphores() {
		if fn := s.piggyback(ctx, p, c.f.opts.Now()); fn != nil {
			after = append(after, fn)
		}
	}
	_, _ = p.Exec(ctx)
	for _, fn := range after {
		fn()
	}
	granted, err := apply()
	if err != nil {
		c.f.fail(err)
		return c.reserveDown(now, n, limit)
	}
	if granted == 0 {
		return false, next
	}
	c.used += n
	return true, time.Time{}
}

// laterLocked returns when an instance that had its fair share of the period may ask for
// more (zero if it may now): the others get the first half of the period to take theirs
// (asking now would mostly be refused); then what is left is anyone's, the instances asking
// one after the other (each one's notice tells the next one what is left) rather than all at
// once. requires that c.mu is held.
func (c *counter) laterLocked(n, limit int64) time.Time {
	if c.leased+c.pending+n <= limit/int64(c.f.opts.Size) || c.f.opts.Size == 1 {
		return time.Time{}
	}
	return time.Unix(0, c.period*c.interval+c.interval/2+c.f.spread(c.interval/4))
}

// queueLeaseLocked queues a lease under limit in p for a request of cost n, at least what the
// lease left lacks for it, and returns what takes its answer in: how much was granted. A chunk
// grows with demand (what this instance took the period before, twice what it leased in this
// one or twice the need), up to its fair share of the cap (in all, while within it), and is
// cut so that what the lease
// then holds is a whole number of requests like this one: a remainder smaller than a request
// would sit unused in every instance's lease while the fleet's total said the window was
// spent (five instances leasing 1176 each of a 5880 cap for reads of 250 strand 880). What
// this instance took on its local share while Redis was away is pushed with it. requires
// that c.mu is held (also when the answer is taken in).
func (c *counter) queueLeaseLocked(ctx context.Context, p redis.Pipeliner, n, limit int64) func() (int64, error) {
	left := c.leased - c.used
	need := n - left
	fair := limit / int64(c.f.opts.Size)
	want := min(fair, max(c.base, c.prevUsed, 2*c.leased, 2*need))
	if held := c.leased + c.pending; held < fair { // within its fair share (laterLocked), the carry in it: no chunk takes it past it
		want = min(want, fair-held)
	}
	want = max(need, want)
	if n > 0 {
		want = max(need, (left+want)/n*n-left)
	} else {
		want, need = 0, 0 // only pushing what was taken without a lease (pushCarryLocked)
	}
	ttl := 2*c.interval/int64(time.Millisecond) + 1000
	taken := c.local + c.pending
	q := leaseScript.queue(ctx, p, []string{c.key + strconv.FormatInt(c.period, 10), c.f.eventsChannel()},
		want, need, limit, ttl, c.adopted, taken)
	return func() (int64, error) {
		res, err := q.reply(ctx, c.f.rdb).Int64Slice()
		if err == nil && len(res) != 2 {
			err = errBadReply
		}
		if err != nil {
			return 0, err
		}
		// What was pushed is this instance's lease now, used; a part of the carry released
		// meanwhile (c.mu is held from the queueing to here) cannot have been.
		c.leased, c.used, c.local, c.pending = c.leased+taken, c.used+taken, 0, 0
		c.seen = max(c.seen, res[1])
		c.leased += res[0]
		return res[0], nil
	}
}

// prefetchLocked queues, in a round trip another window makes, the lease this one will need
// for its next request (one like its last), if what is left of its lease will not cover it,
// and returns what takes the answer in; nil if nothing is needed or it could not be granted.
// requires that c.mu is held.
func (c *counter) prefetchLocked(ctx context.Context, p redis.Pipeliner, now time.Time) func() {
	c.roll(now)
	n, limit := c.lastN, c.lastLimit
	if n <= 0 || c.leased-c.used >= n || c.estimate()+n > limit || !c.laterLocked(n, limit).IsZero() {
		return nil
	}
	if local, _ := c.localShareLocked(now); local {
		return nil
	}
	apply := c.queueLeaseLocked(ctx, p, n, limit)
	return func() { _, _ = apply() }
}

// reserveDown is reserveLocked's first call after Redis failed. requires that c.mu is held.
func (c *counter) reserveDown(now time.Time, n, limit int64) (bool, time.Time) {
	return c.reserveLocked(now, n, limit)
}
