package fleet

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// takeAttempt admits one attempt into a sliding window kept as a sorted set of admission
// times (Redis's own clock, so instances with skewed clocks agree). It answers {1, 0} when
// the attempt is admitted, or {0, ms} with the wait until the oldest admission leaves the
// window.
var takeAttempt = newScript(redisNow + `local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(oldest[2]) + window - now)}
`)

// TakeAttempt admits one attempt of the fleet-wide sliding window name (at most max per
// window, counted across every instance): it returns 0 when admitted, or how long to wait
// before asking again. It is for rare events whose limit the exchange counts per IP or per
// account rather than per process — WebSocket connection attempts — so it costs one round
// trip per attempt. An error means Redis did not answer: the caller falls back to its local
// share (max ÷ fleet.size).
func (f *Fleet) TakeAttempt(ctx context.Context, name string, max int64, window time.Duration) (time.Duration, error) {
	if max <= 0 || window <= 0 {
		return 0, fmt.Errorf("fleet: attempts %s: max and window must be positive", name)
	}
	// The holder, unlike the instance id, is this process's alone: two processes started with
	// one id by mistake do not write over each other's attempts.
	member := f.holder + ":" + strconv.FormatInt(f.attempts.Add(1), 10)
	res, err := takeAttempt.run(ctx, f.rdb, []string{f.opts.Prefix + "attempts:" + name},
		max, window.Milliseconds(), member).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("fleet: attempts %s: %w", name, err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("fleet: attempts %s: unexpected reply %v", name, res)
	}
	if res[0] == 1 {
		return 0, nil
	}
	return time.Duration(res[1]) * time.Millisecond, nil
}
