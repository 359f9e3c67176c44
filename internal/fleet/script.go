package fleet

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// script is a Lua script, sent by its SHA. Run on its own, it is sent by its source when Redis
// does not know it (which loads it). Queued in a pipeline it cannot be, as the pipeline is
// sent whole: the scripts that are queued are loaded when the fleet starts and whenever Redis
// comes back (a restarted Redis has forgotten them), and a NOSCRIPT reply all the same is run
// again by source (queuedScript.reply).
type script struct{ s *redis.Script }

func newScript(src string) script { return script{redis.NewScript(src)} }

// pipelined are the scripts queued in pipelines: loaded by loadScripts.
var pipelined = []script{leaseScript, bucketScript}

// loadScripts loads the scripts queued in pipelines into Redis, so that their SHA is known.
func loadScripts(ctx context.Context, c redis.Scripter) error {
	for _, s := range pipelined {
		if err := s.s.Load(ctx, c).Err(); err != nil {
			return err
		}
	}
	return nil
}

func (s script) run(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
	return s.s.Run(ctx, c, keys, args...)
}

// queue queues s in p by its SHA; once p has been executed, the answer is the result's reply.
func (s script) queue(ctx context.Context, p redis.Pipeliner, keys []string, args ...any) queuedScript {
	return queuedScript{cmd: p.EvalSha(ctx, s.s.Hash(), keys, args...), s: s, keys: keys, args: args}
}

// queuedScript is a script queued in a pipeline, with what it was queued with.
type queuedScript struct {
	cmd  *redis.Cmd
	s    script
	keys []string
	args []any
}

// reply is the script's answer once its pipeline was executed. If Redis did not know the
// script (it lost its scripts since they were loaded: a restart, a failover, SCRIPT FLUSH),
// the script is run again, once, by its source, which loads it again; that call's failure is
// the caller's like any other.
func (q queuedScript) reply(ctx context.Context, c redis.Scripter) *redis.Cmd {
	if err := q.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		return q.s.s.Eval(ctx, c, q.keys, q.args...)
	}
	return q.cmd
}

// Redis's clock in milliseconds, inside a script.
const redisNow = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`
