package fleet

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// script is a Lua script run by its SHA (loaded on first use), or by its source in a
// pipeline (where a missing script cannot be loaded on the way).
type script struct {
	s   *redis.Script
	src string
}

func newScript(src string) script { return script{redis.NewScript(src), src} }

func (s script) run(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
	return s.s.Run(ctx, c, keys, args...)
}

func (s script) queue(ctx context.Context, p redis.Pipeliner, keys []string, args ...any) *redis.Cmd {
	return p.Eval(ctx, s.src, keys, args...)
}

// Redis's clock in milliseconds, inside a script.
const redisNow = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`
