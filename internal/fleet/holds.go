package fleet

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// holdScript sets KEYS[1] to ARGV[1] for ARGV[2] ms unless it already lives longer, and
// lists it in the set KEYS[2].
var holdScript = newScript(`
redis.call('SADD', KEYS[2], KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// readHoldsScript returns the value and the time to live (ms) of every hold listed in the set
// KEYS[1], and forgets those that ended.
var readHoldsScript = newScript(`
local out = {}
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', k)
  local ttl = redis.call('PTTL', k)
  if v and ttl > 0 then
    table.insert(out, v); table.insert(out, ttl)
  else
    redis.call('SREM', KEYS[1], k)
  end
end
return out`)

// holds is the fleet's scheduler.SharedHolds: one key per hold ("h:<class>:<bucket>") whose
// time to live is the hold's, on Redis's clock; Publish writes in the background, Holds
// answers from a cache that pollLoop refreshes every Options.Poll.
type holds struct {
	f       *Fleet
	pending chan scheduler.SharedHold

	mu     sync.Mutex
	cached []scheduler.SharedHold // replaced, never modified
}

type holdJSON struct {
	Class    string `json:"class"`
	Bucket   string `json:"bucket,omitempty"`
	Reason   string `json:"reason"`
	Instance string `json:"instance"`
}

func newHolds(f *Fleet) *holds { return &holds{f: f, pending: make(chan scheduler.SharedHold, 256)} }

// Publish implements scheduler.SharedHolds. It never blocks: a hold that finds the queue full
// is dropped (this instance holds anyway).
func (h *holds) Publish(sh scheduler.SharedHold) {
	select {
	case h.pending <- sh:
	default:
	}
	// Writing happens on the next refresh; keep this instance's own view current at once.
	h.mu.Lock()
	h.cached = append(append([]scheduler.SharedHold(nil), h.cached...), sh)
	h.mu.Unlock()
}

// Holds implements scheduler.SharedHolds.
func (h *holds) Holds(time.Time) []scheduler.SharedHold {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cached
}

// refresh writes the holds published since the last one and reads the fleet's.
func (h *holds) refresh(ctx context.Context) error {
	for {
		var sh scheduler.SharedHold
		select {
		case sh = <-h.pending:
		default:
			return h.read(ctx)
		}
		ms := time.Until(sh.Until).Milliseconds()
		if ms <= 0 {
			continue
		}
		v, _ := json.Marshal(holdJSON{Class: sh.Class.String(), Bucket: sh.Bucket, Reason: sh.Reason, Instance: h.f.opts.InstanceID})
		key := h.f.opts.Prefix + "h:" + sh.Class.String() + ":" + sh.Bucket
		if err := holdScript.run(ctx, h.f.rdb, []string{key, h.setKey()}, v, ms).Err(); err != nil {
			return err
		}
	}
}

func (h *holds) read(ctx context.Context) error {
	res, err := readHoldsScript.run(ctx, h.f.rdb, []string{h.setKey()}).Slice()
	if err != nil {
		return err
	}
	now := time.Now()
	var out []scheduler.SharedHold
	for i := 0; i+1 < len(res); i += 2 {
		s, _ := res[i].(string)
		ttl, _ := res[i+1].(int64)
		var hj holdJSON
		if json.Unmarshal([]byte(s), &hj) != nil {
			continue
		}
		out = append(out, scheduler.SharedHold{Class: classOf(hj.Class), Bucket: hj.Bucket,
			Until: now.Add(time.Duration(ttl) * time.Millisecond), Reason: hj.Reason + " (instance " + hj.Instance + ")"})
	}
	h.mu.Lock()
	h.cached = out
	h.mu.Unlock()
	return nil
}

func (h *holds) setKey() string { return h.f.opts.Prefix + "holds" }
