package fleet

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// bucketScript does all of one instance's business with a bucket in one round trip, in this
// order:
//
//  1. it forgets expired slots and places in the queue;
//  2. it feeds the AIMD limit the batched successes ARGV[7], after a failure that breaks
//     their run if ARGV[8] is 1;
//  3. it takes back the slots listed (member, class, Redis ms when put to use), feeding their
//     classes to AIMD: rate_limit halves the limit once per congestion event (not for a slot
//     put to use before the last halving); an instance that gives slots back without asking
//     for one leaves the queue;
//  4. it renews the slots listed, and adds the placeholders listed (slots taken on the local
//     share while Redis was down, counted even beyond the limit);
//  5. it hands free slots to the queued instances, oldest first, each told on KEYS[4] ("g"),
//     up to the caller's own place, which step 6 serves;
//  6. if ARGV[9] names a member, it takes a slot for it or, when none is free and ARGV[10] (how
//     long a place in the queue lasts) is not 0, queues ARGV[6] (once) and names the instance
//     that holds the most slots as the one to give one back ("w").
//
// Returns that leave a slot free announce how many are held ("r"); a new limit is announced
// ("l").
//
// KEYS: slots (sorted set, member → lease expiry), AIMD hash, queue (sorted set, instance →
// expiry of its place), channel. ARGV: lease ms, cap, success run, initial limit, bucket,
// instance, successes, run broken (1/0), member to acquire or "", queue ms, n returns, n
// renewals, n placeholders, then the returns as triples, the renewals, the placeholders.
//
// It returns {acquired, slots held in all, limit, Redis ms, when to try again (Redis ms; 0 if
// acquired), {renewed flags}, {this instance's slots: member, lease expiry (Redis ms)} (when
// acquiring: a slot handed over whose notice was lost is found so)}.
var bucketScript = newScript(redisNow + `
local lease = tonumber(ARGV[1]); local cap = tonumber(ARGV[2]); local run = tonumber(ARGV[3])
local bucket, me = ARGV[5], ARGV[6]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or ARGV[4])
local before = limit
local succ = tonumber(redis.call('HGET', KEYS[2], 'succ') or '0')
local halved = tonumber(redis.call('HGET', KEYS[2], 'halved') or '0')
local function ok()
  succ = succ + 1
  if succ >= run then succ = 0; limit = math.min(cap, limit + 1) end
end
if ARGV[8] == '1' then succ = 0 end
for _ = 1, tonumber(ARGV[7]) do ok() end
local nret, nren, nforce = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local i = 14
for _ = 1, nret do
  local m, class, at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  redis.call('ZREM', KEYS[1], m)
  if class == 'ok' then ok()
  elseif class == 'rate_limit' then
    succ = 0
    if at >= halved then limit = math.max(1, math.floor(limit / 2)); halved = now end
  elseif class ~= 'validation' and class ~= 'abort' and class ~= 'spare' then succ = 0 end
end
local out = {0, 0, 0, now, 0, {}, {}}
for _ = 1, nren do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i]); table.insert(out[6], 1)
  else
    table.insert(out[6], 0)
  end
  i = i + 1
end
for _ = 1, nforce do
  redis.call('ZADD', KEYS[1], now + lease, ARGV[i]); i = i + 1
end
local member = ARGV[9]
if member == '' and nret > 0 then redis.call('ZREM', KEYS[3], me) end
local held = redis.call('ZCARD', KEYS[1])
while held < limit do
  local w = redis.call('ZRANGE', KEYS[3], 0, 0)
  if #w == 0 or w[1] == me then break end
  redis.call('ZREM', KEYS[3], w[1])
  local m = w[1] .. ':h' .. redis.call('HINCRBY', KEYS[2], 'seq', 1)
  redis.call('ZADD', KEYS[1], now + lease, m)
  held = held + 1
  redis.call('PUBLISH', KEYS[4], 'g|' .. bucket .. '|' .. w[1] .. '|' .. m .. '|' .. lease)
end
if member ~= '' then
  if held < limit then
    redis.call('ZADD', KEYS[1], now + lease, member)
    redis.call('ZREM', KEYS[3], me)
    held = held + 1
    out[1] = 1
  elseif tonumber(ARGV[10]) > 0 then
    local place = now + tonumber(ARGV[10])
    if redis.call('ZADD', KEYS[3], 'NX', place, me) == 1 then
      local count, victim, most = {}, '', 0
      for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
        local owner = string.match(m, '^([^:]+):')
        if owner and owner ~= me then
          count[owner] = (count[owner] or 0) + 1
          if count[owner] > most then victim, most = owner, count[owner] end
        end
      end
      if victim ~= '' then redis.call('PUBLISH', KEYS[4], 'w|' .. bucket .. '|' .. me .. '|' .. victim) end
    else
      place = tonumber(redis.call('ZSCORE', KEYS[3], me))
    end
    redis.call('PEXPIRE', KEYS[3], lease * 3)
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    out[5] = place
    if #first > 0 and tonumber(first[2]) < place then out[5] = tonumber(first[2]) end
  end
end
if member ~= '' then
  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for k = 1, #all, 2 do
    if string.sub(all[k], 1, #me + 1) == me .. ':' then
      table.insert(out[7], all[k]); table.insert(out[7], tostring(all[k + 1]))
    end
  end
end
if nret > 0 and held < limit then redis.call('PUBLISH', KEYS[4], 'r|' .. bucket .. '|' .. held) end
if held > 0 then redis.call('PEXPIRE', KEYS[1], lease * 3) end
redis.call('HSET', KEYS[2], 'limit', limit, 'succ', succ, 'halved', halved)
redis.call('PEXPIRE', KEYS[2], 86400000)
if limit ~= before then redis.call('PUBLISH', KEYS[4], 'l|' .. bucket .. '|' .. limit) end
out[2], out[3] = held, limit
return out`)

// bucketOp is one call of bucketScript: what it carries and what it got.
type bucketOp struct {
	ok      int
	reset   int // 1: a failure broke the run of successes before them
	returns []ret
	renew   []*slot
	force   []*slot
	acquire string
	queue   bool      // wait in the queue if no slot is free
	sent    time.Time // our clock, just before the call

	// the answer
	got     bool
	held    int
	limit   int
	redisMs int64
	retryMs int64
	renewed []bool
	mine    map[string]int64 // this instance's slots in Redis → lease expiry (acquiring only)
}

func (op *bucketOp) empty() bool {
	return op.ok == 0 && op.reset == 0 && len(op.returns) == 0 && len(op.renew) == 0 && len(op.force) == 0 && op.acquire == ""
}

// collectLocked takes what this bucket has pending for Redis into one call: returns,
// successes (while the limit is below the cap), placeholders, and renewals of the slots whose
// lease has less than renewBelow left. A spare slot idle for a whole lease is given back
// instead of renewed. requires that s.mu is held.
func (s *semaphore) collectLocked(now time.Time, renewBelow time.Duration) *bucketOp {
	op := &bucketOp{returns: s.returns, force: s.force}
	s.returns, s.force = nil, nil
	if s.limit < s.cap || len(op.returns) > 0 {
		op.ok, s.pendingOK = s.pendingOK, 0
		if s.pendingReset {
			op.reset, s.pendingReset = 1, false
		}
	}
	for _, sl := range append([]*slot(nil), s.slots...) {
		switch {
		case sl.exp.Sub(now) >= renewBelow:
		case sl.exp.IsZero() && sl.busy: // lost: nothing to renew; its release forgets it
		case !sl.busy && (sl.exp.IsZero() || now.Sub(sl.idle) >= s.f.opts.SlotLease):
			s.dropLocked(sl, "spare")
			op.returns = append(op.returns, s.returns...)
			s.returns = nil
		default:
			op.renew = append(op.renew, sl)
		}
	}
	if len(op.returns) > 0 && s.returning == nil {
		s.returning = map[string]bool{}
	}
	for _, r := range op.returns {
		s.returning[r.member] = true
	}
	return op
}

// doneLocked forgets op's returns as on their way (done, or failed: then Redis frees them by
// their lease, or they are given back again). requires that s.mu is held.
func (s *semaphore) doneLocked(op *bucketOp) {
	for _, r := range op.returns {
		delete(s.returning, r.member)
	}
}

// args are bucketScript's arguments for op.
func (s *semaphore) args(op *bucketOp) []any {
	queue := int64(0)
	if op.queue {
		queue = s.f.opts.SlotLease.Milliseconds()
	}
	a := []any{s.f.opts.SlotLease.Milliseconds(), s.cap, s.run, s.initial, s.bucket, s.f.holder,
		op.ok, op.reset, op.acquire, queue, len(op.returns), len(op.renew), len(op.force)}
	for _, r := range op.returns {
		a = append(a, r.member, r.class, r.at)
	}
	for _, sl := range op.renew {
		a = append(a, sl.member)
	}
	for _, sl := range op.force {
		a = append(a, sl.member)
	}
	return a
}

// call runs op in one round trip.
func (s *semaphore) call(ctx context.Context, op *bucketOp) error {
	op.sent = s.f.opts.Now()
	res, err := bucketScript.run(ctx, s.f.rdb, s.keys, s.args(op)...).Slice()
	if err != nil {
		return err
	}
	return op.parse(res)
}

func (op *bucketOp) parse(res []any) error {
	if len(res) != 7 {
		return errBadReply
	}
	var n [5]int64
	for i := range n {
		v, ok := res[i].(int64)
		if !ok {
			return errBadReply
		}
		n[i] = v
	}
	op.got, op.held, op.limit, op.redisMs, op.retryMs = n[0] == 1, int(n[1]), int(n[2]), n[3], n[4]
	flags, _ := res[5].([]any)
	for _, f := range flags {
		v, _ := f.(int64)
		op.renewed = append(op.renewed, v == 1)
	}
	mine, _ := res[6].([]any)
	for i := 0; i+1 < len(mine); i += 2 {
		m, _ := mine[i].(string)
		exp, _ := mine[i+1].(string)
		ms, err := strconv.ParseInt(exp, 10, 64)
		if m == "" || err != nil {
			continue
		}
		if op.mine == nil {
			op.mine = map[string]int64{}
		}
		op.mine[m] = ms
	}
	return nil
}

// applyLocked takes op's answer in. requires that s.mu is held.
func (s *semaphore) applyLocked(op *bucketOp) {
	s.doneLocked(op)
	if op.redisMs == 0 {
		return
	}
	drop := op.limit < s.limit
	if op.limit > s.limit && s.wake != nil {
		s.wake() // room for one more (it never blocks)
	}
	s.limit, s.inflight = op.limit, op.held
	s.offset = time.UnixMilli(op.redisMs).Sub(op.sent)
	lease := op.sent.Add(s.f.opts.SlotLease)
	for i, sl := range op.renew {
		if i < len(op.renewed) && op.renewed[i] {
			sl.exp = lease
			continue
		}
		sl.exp = time.Time{} // its lease ended: Redis no longer counts it
		if !sl.busy {
			s.dropLocked(sl, "")
		}
	}
	for _, sl := range op.force {
		sl.exp = lease
	}
	// A slot of this process's that it does not know was handed over and its notice is late
	// or lost: take it as a spare.
	for m, ms := range op.mine {
		if m != op.acquire && !s.knownLocked(m) {
			s.slots = append(s.slots, &slot{member: m, idle: op.sent,
				exp: op.sent.Add(time.Duration(ms-op.redisMs) * time.Millisecond)})
		}
	}
	if drop {
		s.dropSparesLocked()
	}
}

// knownLocked reports whether member is one of this instance's slots, or on its way back.
// requires that s.mu is held.
func (s *semaphore) knownLocked(member string) bool {
	for _, sl := range s.slots {
		if sl.member == member {
			return true
		}
	}
	for _, r := range s.returns {
		if r.member == member {
			return true
		}
	}
	return s.returning[member]
}

// dropSparesLocked gives back every slot not in use. requires that s.mu is held.
func (s *semaphore) dropSparesLocked() {
	for _, sl := range append([]*slot(nil), s.slots...) {
		if !sl.busy {
			s.dropLocked(sl, "spare")
		}
	}
}

// sync makes the round trip eventLoop was asked for: returns, renewals, successes.
func (s *semaphore) sync() {
	s.mu.Lock()
	s.queued = false
	if s.downLocked() {
		s.mu.Unlock()
		return
	}
	op := s.collectLocked(s.f.opts.Now(), s.f.renewBelow())
	s.mu.Unlock()
	if op.empty() {
		return
	}
	ctx, cancel := s.f.op()
	err := s.call(ctx, op)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.doneLocked(op)
		s.f.fail(err)
		return
	}
	s.applyLocked(op)
}

// piggyback adds this bucket's due work to a round trip another call makes anyway (a window's
// lease), and returns what to do with the answer, or nil if nothing is due.
func (s *semaphore) piggyback(ctx context.Context, p redis.Pipeliner, now time.Time) func() {
	s.mu.Lock()
	op := s.collectLocked(now, s.f.renewBelow())
	s.mu.Unlock()
	if op.empty() {
		return nil
	}
	op.sent = now
	q := bucketScript.queue(ctx, p, s.keys, s.args(op)...)
	return func() {
		res, err := q.cmd.Slice() // NOSCRIPT too: the round trip on its own loads the script
		if err == nil {
			err = op.parse(res)
		}
		if err != nil {
			// Not done: try again on its own.
			s.mu.Lock()
			s.doneLocked(op)
			s.returns = append(s.returns, op.returns...)
			s.force = append(s.force, op.force...)
			s.pendingOK += op.ok
			s.pendingReset = s.pendingReset || op.reset == 1
			s.kickLocked()
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.applyLocked(op)
		s.mu.Unlock()
	}
}
