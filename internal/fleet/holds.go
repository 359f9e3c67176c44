package fleet

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// holdScript sets KEYS[1] to ARGV[1] for ARGV[2] ms unless it already lives longer, lists it
// in the set KEYS[2], and announces it on KEYS[3] ("h|<ttl ms>|<value>").
var holdScript = newScript(`
redis.call('SADD', KEYS[2], KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', KEYS[3], 'h|' .. ARGV[2] .. '|' .. ARGV[1])
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

// holds are the holds part of the fleet's scheduler.Shared: one key per hold ("h:<class>:<bucket>", and
// ":orders" after it for a hold of an order-count limit) whose
// time to live is the hold's, on Redis's clock. Publish writes in the background, and the
// write is announced to every instance, which adds it to the cache Holds answers from; the
// whole set is read again when the subscription (re)starts (a broken one is noticed and
// resubscribed: the notices sent meanwhile are lost), when Redis comes back, and every
// 600 × Options.Poll in case.
type holds struct {
	f       *Fleet
	pending chan scheduler.SharedHold
	readReq chan struct{}

	mu     sync.Mutex
	cached []scheduler.SharedHold // replaced, never modified
}

type holdJSON struct {
	Class      string `json:"class"`
	Bucket     string `json:"bucket,omitempty"`
	OrderLimit bool   `json:"order_limit,omitempty"`
	Reason     string `json:"reason"`
	Instance   string `json:"instance"`
}

func newHolds(f *Fleet) *holds {
	return &holds{f: f, pending: make(chan scheduler.SharedHold, 256), readReq: make(chan struct{}, 1)}
}

// Publish is scheduler.Shared's. It never blocks: a hold that finds the queue full
// is dropped (this instance holds anyway).
func (h *holds) Publish(sh scheduler.SharedHold) {
	select {
	case h.pending <- sh:
	default:
	}
	// Keep this instance's own view current at once.
	h.add(sh)
}

// Holds is scheduler.Shared's.
func (h *holds) Holds(time.Time) []scheduler.SharedHold {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cached
}

// add puts sh in the cache in place of the same class, bucket and scope's hold, unless that
// one lasts longer, and drops holds that ended.
func (h *holds) add(sh scheduler.SharedHold) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]scheduler.SharedHold, 0, len(h.cached)+1)
	for _, c := range h.cached {
		switch {
		case !c.Until.After(now):
		case c.Class == sh.Class && c.Bucket == sh.Bucket && c.OrderLimit == sh.OrderLimit:
			if c.Until.After(sh.Until) {
				sh = c
			}
		default:
			out = append(out, c)
		}
	}
	h.cached = append(out, sh)
}

// requestRead has eventLoop read every hold soon.
func (h *holds) requestRead() {
	select {
	case h.readReq <- struct{}{}:
	default:
	}
}

// write stores one hold and announces it.
func (h *holds) write(ctx context.Context, sh scheduler.SharedHold) error {
	ms := time.Until(sh.Until).Milliseconds()
	if ms <= 0 {
		return nil
	}
	v, _ := json.Marshal(holdJSON{Class: sh.Class.String(), Bucket: sh.Bucket, OrderLimit: sh.OrderLimit,
		Reason: sh.Reason, Instance: h.f.opts.InstanceID})
	key := h.f.opts.Prefix + "h:" + sh.Class.String() + ":" + sh.Bucket
	if sh.OrderLimit {
		key += ":orders" // stops new orders only: kept apart from a hold that stops everything
	}
	return holdScript.run(ctx, h.f.rdb, []string{key, h.setKey(), h.f.eventsChannel()}, v, ms).Err()
}

// notice takes in a hold another instance (or this one) wrote: "<ttl ms>|<value>".
func (h *holds) notice(rest string, now time.Time) {
	ttl, v, _ := strings.Cut(rest, "|")
	ms, err := strconv.ParseInt(ttl, 10, 64)
	if err != nil {
		return
	}
	if sh, ok := decodeHold(v, now.Add(time.Duration(ms)*time.Millisecond)); ok {
		h.add(sh)
	}
}

func decodeHold(v string, until time.Time) (scheduler.SharedHold, bool) {
	var hj holdJSON
	if json.Unmarshal([]byte(v), &hj) != nil {
		return scheduler.SharedHold{}, false
	}
	return scheduler.SharedHold{Class: classOf(hj.Class), Bucket: hj.Bucket, OrderLimit: hj.OrderLimit, Until: until,
		Reason: hj.Reason + " (instance " + hj.Instance + ")"}, true
}

// read replaces the cache with every hold in Redis.
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
		if sh, ok := decodeHold(s, now.Add(time.Duration(ttl)*time.Millisecond)); ok {
			out = append(out, sh)
		}
	}
	h.mu.Lock()
	h.cached = out
	h.mu.Unlock()
	return nil
}

func (h *holds) setKey() string { return h.f.opts.Prefix + "holds" }
