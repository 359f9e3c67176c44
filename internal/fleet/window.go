package fleet

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// leaseScript leases up to ARGV[1] (at least ARGV[2]) of a window's period if the fleet's
// total stays within ARGV[3], after raising the total to ARGV[5] (the exchange's own count,
// adopted). It returns {granted, total}; granted is 0 when even ARGV[2] does not fit.
var leaseScript = newScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local adopt = tonumber(ARGV[5])
if adopt > used then
  used = adopt
  redis.call('SET', KEYS[1], used, 'PX', ARGV[4])
end
local room = tonumber(ARGV[3]) - used
if room < tonumber(ARGV[2]) then return {0, used} end
local g = math.min(tonumber(ARGV[1]), room)
used = redis.call('INCRBY', KEYS[1], g)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {g, used}`)

// counter is a fixed window shared by the fleet (scheduler.Counter and scheduler.Reserver).
// It leases chunks of the window's current period from Redis and grants from its lease; the
// sum of every instance's leases never exceeds the cap asked for, so the fleet never sends
// more than the limit in a period. The scheduler calls it with its lock held, one call at a
// time; mu guards it against the fleet's background goroutines.
type counter struct {
	f        *Fleet
	name     string
	interval int64 // ns
	chunk    int64
	key      string
	limit    int64 // announced, for the fallback share

	mu      sync.Mutex
	period  int64
	leased  int64 // granted to this instance in period
	used    int64 // of leased, taken by grants
	seen    int64 // the fleet's total at the last lease (includes leased)
	adopted int64 // the exchange's count, pushed to Redis with the next lease
	local   int64 // taken from the fallback share while Redis was down
}

func (f *Fleet) newCounter(w scheduler.WindowConfig) scheduler.Counter {
	c := &counter{
		f: f, name: w.Name, interval: int64(w.Interval), limit: w.Limit,
		chunk: max(1, int64(math.Floor(float64(w.Limit)*f.opts.LeaseShare))),
		key:   f.opts.Prefix + "w:" + w.Name + ":" + strconv.FormatInt(int64(w.Interval/time.Millisecond), 10) + ":",
	}
	f.mu.Lock()
	f.counters = append(f.counters, c)
	f.mu.Unlock()
	return c
}

func (c *counter) index(t time.Time) int64 {
	ns := t.UnixNano()
	q := ns / c.interval
	if ns%c.interval < 0 {
		q--
	}
	return q
}

// roll starts a new period when now is past the current one. requires that c.mu is held.
func (c *counter) roll(now time.Time) {
	if p := c.index(now); p != c.period {
		c.period, c.leased, c.used, c.seen, c.adopted, c.local = p, 0, 0, 0, 0, 0
	}
}

// estimate is the fleet's count as this instance knows it: the total at the last lease minus
// what of its own lease is still unspent, or the exchange's count if higher.
// requires that c.mu is held.
func (c *counter) estimate() int64 {
	return max(c.seen-(c.leased-c.used)+c.local, c.adopted)
}

func (c *counter) Used(now time.Time) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	return c.estimate()
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

// Reserve implements scheduler.Reserver.
func (c *counter) Reserve(now time.Time, n, limit int64) (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roll(now)
	next := c.Next(now)
	if c.f.isDown() {
		// Redis is away: what is left of this instance's lease, then its share of the window.
		if c.used+n <= c.leased {
			c.used += n
			return true, time.Time{}
		}
		if c.local+n > max(1, limit/int64(c.f.opts.Size)) {
			return false, next
		}
		c.local += n
		return true, time.Time{}
	}
	if c.used+n <= c.leased && c.estimate()+n <= limit {
		c.used += n
		return true, time.Time{}
	}
	need := n - (c.leased - c.used)
	want := max(need, c.chunk)
	// What this instance sent on its fallback share while Redis was away is pushed as a floor
	// of the fleet's total, with the exchange's own count.
	adopt := max(c.adopted, c.seen+c.local)
	ttl := 2*c.interval/int64(time.Millisecond) + 1000
	ctx, cancel := c.f.op()
	res, err := leaseScript.run(ctx, c.f.rdb, []string{c.key + strconv.FormatInt(c.period, 10)}, want, need, limit, ttl, adopt).Int64Slice()
	cancel()
	if err != nil {
		c.f.fail(err)
		return c.reserveDown(now, n, limit)
	}
	c.leased, c.used, c.local = c.leased+c.local, c.used+c.local, 0
	c.seen = res[1]
	if res[0] == 0 {
		return false, next
	}
	c.leased += res[0]
	c.used += n
	return true, time.Time{}
}

// reserveDown is Reserve's first call after Redis failed. requires that c.mu is held.
func (c *counter) reserveDown(now time.Time, n, limit int64) (bool, time.Time) {
	c.mu.Unlock()
	defer c.mu.Lock()
	return c.Reserve(now, n, limit)
}
