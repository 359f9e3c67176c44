package fleet

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/scheduler"
)

// script is a Lua script run by its SHA (loaded on first use).
type script struct{ s *redis.Script }

func newScript(src string) script { return script{redis.NewScript(src)} }

func (s script) run(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
	return s.s.Run(ctx, c, keys, args...)
}

// Redis's clock in milliseconds, inside a script.
const redisNow = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// acquireScript takes a slot of KEYS[1] (a sorted set of members scored by lease expiry) if
// fewer than the AIMD limit in KEYS[2] (default ARGV[2]) are held. ARGV: member, initial
// limit, lease ms. Returns {ok, inflight, limit, now}.
var acquireScript = newScript(redisNow + `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then return {0, n, limit, now} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 3)
return {1, n + 1, limit, now}`)

// releaseScript returns member ARGV[1] and feeds its class ARGV[2] to the fleet's AIMD limit
// in KEYS[2]: ok counts toward a run of ARGV[5] successes that adds one (never above cap
// ARGV[4]); rate_limit halves it (never below 1) unless the slot was taken (ARGV[3], Redis ms)
// before the last halving, whose congestion event it belongs to. Publishes the bucket on
// KEYS[3] so that waiting instances look again. Returns the limit.
var releaseScript = newScript(redisNow + `
redis.call('ZREM', KEYS[1], ARGV[1])
local cap = tonumber(ARGV[4])
local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or ARGV[6])
local succ = tonumber(redis.call('HGET', KEYS[2], 'succ') or '0')
local halved = tonumber(redis.call('HGET', KEYS[2], 'halved') or '0')
local class = ARGV[2]
if class == 'ok' then
  succ = succ + 1
  if succ >= tonumber(ARGV[5]) then succ = 0; limit = math.min(cap, limit + 1) end
elseif class == 'rate_limit' then
  succ = 0
  if tonumber(ARGV[3]) >= halved then limit = math.max(1, math.floor(limit / 2)); halved = now end
elseif class ~= 'validation' and class ~= 'abort' then
  succ = 0
end
redis.call('HSET', KEYS[2], 'limit', limit, 'succ', succ, 'halved', halved)
redis.call('PUBLISH', KEYS[3], ARGV[7])
return limit`)

// renewScript extends the leases of the members in ARGV[2..] that are still held, to now+ARGV[1].
var renewScript = newScript(redisNow + `
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
end
return 1`)

// slot is a held slot: its member and when Redis granted it.
type slot struct {
	member string
	at     int64 // Redis ms
}

// release is a slot to give back in the background.
type release struct {
	sem   *semaphore
	slot  slot
	class string
}

// semaphore is a bucket's concurrency cap shared by the fleet (scheduler.Semaphore and
// scheduler.Waker). The scheduler calls it with its lock held, one call at a time; mu guards
// it against the fleet's background goroutines.
type semaphore struct {
	f       *Fleet
	bucket  string
	cap     int
	initial int
	run     int
	setKey  string
	aimdKey string
	local   scheduler.Semaphore // the fallback while Redis is down: cap ÷ Size

	seq atomic.Uint64

	mu        sync.Mutex
	held      []slot // oldest first
	localHeld int
	limit     int // the fleet's AIMD limit, as last seen
	inflight  int // the fleet's slots in flight, as last seen
	blocked   bool
	wake      func()
}

func (f *Fleet) newSemaphore(b scheduler.BucketConfig, successRun int) scheduler.Semaphore {
	lb := b
	lb.MaxConcurrency = max(1, b.MaxConcurrency/f.opts.Size)
	s := &semaphore{
		f: f, bucket: b.Name, cap: b.MaxConcurrency, initial: (b.MaxConcurrency + 1) / 2, run: successRun,
		setKey: f.opts.Prefix + "s:" + b.Name, aimdKey: f.opts.Prefix + "a:" + b.Name,
		local: scheduler.NewLocalSemaphore(lb, successRun),
	}
	s.limit = s.initial
	f.mu.Lock()
	f.sems = append(f.sems, s)
	f.mu.Unlock()
	return s
}

func (f *Fleet) releaseChannel() string { return f.opts.Prefix + "released" }

func (s *semaphore) SetWaker(wake func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wake = wake
}

// unblock lets the scheduler try again after a slot may have been freed elsewhere.
func (s *semaphore) unblock() {
	s.mu.Lock()
	was, wake := s.blocked, s.wake
	s.blocked = false
	s.mu.Unlock()
	if was && wake != nil {
		wake()
	}
}

func (s *semaphore) heldCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held) + s.localHeld
}

// TryAcquire takes a slot in Redis (one round trip), or from the local share while Redis is
// down. After a refusal it answers no without a round trip until a slot may have been freed
// (a release anywhere in the fleet, a lease's end, Redis coming back).
func (s *semaphore) TryAcquire() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f.isDown() {
		return s.acquireLocal()
	}
	if s.blocked {
		return len(s.held), false
	}
	member := s.f.opts.InstanceID + ":" + strconv.FormatUint(s.seq.Add(1), 36)
	ctx, cancel := s.f.op()
	res, err := acquireScript.run(ctx, s.f.rdb, []string{s.setKey, s.aimdKey}, member, s.initial, s.f.opts.SlotLease.Milliseconds()).Int64Slice()
	cancel()
	if err != nil {
		s.f.fail(err)
		return s.acquireLocal()
	}
	s.inflight, s.limit = int(res[1]), int(res[2])
	if res[0] == 0 {
		s.blocked = true
		return len(s.held), false
	}
	s.held = append(s.held, slot{member: member, at: res[3]})
	return int(res[1]), true
}

// acquireLocal takes a slot of the fallback share. requires that s.mu is held.
func (s *semaphore) acquireLocal() (int, bool) {
	n, ok := s.local.TryAcquire()
	if ok {
		s.localHeld++
	}
	return n + len(s.held), ok
}

// Release gives a slot back: a fallback slot first, else the oldest Redis slot, whose return
// (and AIMD feedback) goes to Redis in the background.
func (s *semaphore) Release(c scheduler.Class) { s.give(c.String()) }

// Abort gives a slot back without feedback.
func (s *semaphore) Abort() { s.give("abort") }

func (s *semaphore) give(class string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.localHeld > 0 {
		s.localHeld--
		if class == "abort" {
			s.local.Abort()
		} else {
			s.local.Release(classOf(class))
		}
		return
	}
	if len(s.held) == 0 {
		return
	}
	sl := s.held[0]
	s.held = s.held[1:]
	select {
	case s.f.releases <- release{sem: s, slot: sl, class: class}:
	default:
		// The queue is full (Redis very slow): the lease frees the slot.
	}
}

func classOf(name string) scheduler.Class {
	for c := scheduler.ClassNone; c <= scheduler.ClassUnknown; c++ {
		if c.String() == name {
			return c
		}
	}
	return scheduler.ClassNone
}

func (s *semaphore) State() scheduler.SemaphoreState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f.isDown() {
		st := s.local.State()
		st.InFlight += len(s.held)
		return st
	}
	return scheduler.SemaphoreState{InFlight: len(s.held), Limit: s.limit, Cap: s.cap}
}

// dropAll returns every slot still held, in one go (Close).
func (s *semaphore) dropAll(ctx context.Context) {
	s.mu.Lock()
	held := s.held
	s.held = nil
	s.mu.Unlock()
	for _, sl := range held {
		_ = s.f.rdb.ZRem(ctx, s.setKey, sl.member).Err()
	}
}

// releaseLoop returns slots to Redis in the background and listens for slots freed by other
// instances.
func (f *Fleet) releaseLoop() {
	defer f.wg.Done()
	ps := f.rdb.Subscribe(f.ctx, f.releaseChannel())
	defer ps.Close()
	msgs := ps.Channel()
	for {
		select {
		case <-f.ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			for _, s := range f.semaphores() {
				if s.bucket == m.Payload {
					s.unblock()
				}
			}
		case r := <-f.releases:
			s := r.sem
			ctx, cancel := f.op()
			limit, err := releaseScript.run(ctx, f.rdb, []string{s.setKey, s.aimdKey, f.releaseChannel()},
				r.slot.member, r.class, r.slot.at, s.cap, s.run, s.initial, s.bucket).Int()
			cancel()
			if err != nil {
				f.fail(err)
			} else {
				s.mu.Lock()
				s.limit = limit
				s.mu.Unlock()
			}
			s.unblock()
		}
	}
}

// renewLoop extends the leases of the slots this instance holds, every SlotLease/3, so a
// request that runs long keeps its slot while a dead instance's slots expire.
func (f *Fleet) renewLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.opts.SlotLease / 3)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		if f.isDown() {
			continue
		}
		for _, s := range f.semaphores() {
			s.mu.Lock()
			args := []any{f.opts.SlotLease.Milliseconds()}
			for _, sl := range s.held {
				args = append(args, sl.member)
			}
			s.mu.Unlock()
			if len(args) == 1 {
				continue
			}
			ctx, cancel := f.op()
			err := renewScript.run(ctx, f.rdb, []string{s.setKey}, args...).Err()
			cancel()
			if err != nil {
				f.fail(err)
			}
		}
	}
}
