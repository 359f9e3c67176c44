package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/scheduler"
)

// RedisBackend is a killswitch.Backend kept in Redis: trading is halted while its key exists,
// and its value is the JSON reason. A resume deletes the key and writes a resume record beside
// it (who, when, why, and the halt it lifted), so that an instance can tell a halt lifted on
// purpose from a key that vanished (a flush, a restart without persistence, a failover to a
// lagging replica, eviction): only the record lifts a halt (see SyncedBackend). It is safe
// for concurrent use, also across processes (a second Trip keeps the first reason).
type RedisBackend struct {
	rdb redis.UniversalClient
	key string
}

var (
	_ killswitch.Backend       = (*RedisBackend)(nil)
	_ killswitch.ReasonResumer = (*RedisBackend)(nil)
)

// NewRedisBackend returns the backend kept at key (and its resume record at key + ":resume").
func NewRedisBackend(rdb redis.UniversalClient, key string) *RedisBackend {
	return &RedisBackend{rdb: rdb, key: key}
}

// KillSwitchKey is the fleet's kill-switch key.
func (f *Fleet) KillSwitchKey() string { return f.opts.Prefix + "killswitch" }

// resumeKey holds the last resume record.
func (b *RedisBackend) resumeKey() string { return b.key + ":resume" }

// String implements killswitch.Backend.
func (b *RedisBackend) String() string { return "redis " + b.key }

// Load implements killswitch.Backend. A value that is not a JSON reason still halts.
func (b *RedisBackend) Load(ctx context.Context) (killswitch.Status, error) {
	v, err := b.rdb.Get(ctx, b.key).Bytes()
	return b.status(v, err)
}

// status reads the answer to a GET of the key.
func (b *RedisBackend) status(v []byte, err error) (killswitch.Status, error) {
	if errors.Is(err, redis.Nil) {
		return killswitch.Status{}, nil
	}
	if err != nil {
		return killswitch.Status{}, fmt.Errorf("killswitch: %s: %w", b, err)
	}
	var r killswitch.Reason
	if json.Unmarshal(v, &r) != nil {
		r = killswitch.Reason{Who: "unknown", Why: "unreadable reason in " + b.String()}
	}
	return killswitch.Status{Halted: true, Reason: r}, nil
}

var tripScript = newScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]`)

// Trip implements killswitch.Backend.
func (b *RedisBackend) Trip(ctx context.Context, r killswitch.Reason) (killswitch.Reason, error) {
	v, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	cur, err := tripScript.run(ctx, b.rdb, []string{b.key}, v).Text()
	if err != nil {
		return r, fmt.Errorf("killswitch: %s: %w", b, err)
	}
	var inForce killswitch.Reason
	if json.Unmarshal([]byte(cur), &inForce) != nil {
		return r, nil
	}
	return inForce, nil
}

// ResumeRecord is what a resume leaves in Redis: who resumed, when and why, and the halt it
// lifted (nil if none was in Redis).
type ResumeRecord struct {
	Resume killswitch.Reason  `json:"resume"`
	Lifted *killswitch.Reason `json:"lifted"`
	// AtMS is when the resume was recorded (ms since the epoch, the resumer's clock).
	AtMS int64 `json:"at_ms,omitempty"`
}

// lifts reports whether the record lifted the halt r.
// A resume lifts the halt it found in Redis, and any halt issued before it: after a store
// loss the instances may each hold a different halt (their own "store lost", one written
// back), and an operator's resume is meant for all of them. A halt issued after the resume
// (by another host's clock, within its skew) stays: failing closed.
func (rec ResumeRecord) lifts(r killswitch.Reason) bool {
	if l := rec.Lifted; l != nil && l.Who == r.Who && l.Why == r.Why && l.Host == r.Host && l.PID == r.PID && l.When.Equal(r.When) {
		return true
	}
	return rec.AtMS > 0 && !r.When.IsZero() && rec.AtMS >= r.When.UnixMilli()
}

// resumeScript deletes the halt and records the resume with the halt it lifted, atomically.
var resumeScript = newScript(`
local cur = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
local lifted = 'null'
if cur and pcall(cjson.decode, cur) then lifted = cur end
redis.call('SET', KEYS[2], '{"resume":' .. ARGV[1] .. ',"lifted":' .. lifted .. ',"at_ms":' .. ARGV[2] .. '}')
return 1`)

// writeBackScript puts a vanished halt back, unless a resume record that lifted it (or was
// written after it was issued, ARGV[2] ms) has been written since it was last seen: the check and the write are one step, so a resume landing
// between an instance's read and its write-back is never undone. It returns {0, halt} when it
// wrote the halt back, {1, halt} when a halt is already in place, {2, record} when the halt
// was resumed.
var writeBackScript = newScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return {1, cur} end
local rec = redis.call('GET', KEYS[2])
if rec then
  local ok, r = pcall(cjson.decode, rec)
  local okh, h = pcall(cjson.decode, ARGV[1])
  if ok and type(r) == 'table' and tonumber(r.at_ms) and tonumber(ARGV[2]) > 0 and tonumber(r.at_ms) >= tonumber(ARGV[2]) then
    return {2, rec}
  end
  if ok and okh and type(r) == 'table' and type(r.lifted) == 'table' then
    local l = r.lifted
    if l.who == h.who and l.why == h.why and l.when == h.when and
       (l.host or '') == (h.host or '') and (tonumber(l.pid) or 0) == (tonumber(h.pid) or 0) then
      return {2, rec}
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return {0, ARGV[1]}`)

// writeBack restores the halt held after its key vanished, unless a resume lifted it
// meanwhile (resumed true).
func (b *RedisBackend) writeBack(ctx context.Context, held killswitch.Reason) (inForce killswitch.Reason, resumed bool, err error) {
	v, err := json.Marshal(held)
	if err != nil {
		return held, false, err
	}
	var heldMS int64
	if !held.When.IsZero() {
		heldMS = held.When.UnixMilli()
	}
	res, err := writeBackScript.run(ctx, b.rdb, []string{b.key, b.resumeKey()}, v, heldMS).Slice()
	if err != nil || len(res) != 2 {
		return held, false, fmt.Errorf("killswitch: %s: write back: %v", b, err)
	}
	code, _ := res[0].(int64)
	text, _ := res[1].(string)
	if code == 2 {
		return held, true, nil
	}
	if json.Unmarshal([]byte(text), &inForce) != nil {
		return held, false, nil
	}
	return inForce, false, nil
}

// resumeIfScript resumes like resumeScript, but only while the halt in Redis is still the
// one the caller read (ARGV[3]); it returns 1 when it lifted it, 0 when the halt had changed
// or gone.
var resumeIfScript = newScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, c = pcall(cjson.decode, cur)
local okh, h = pcall(cjson.decode, ARGV[3])
if not (ok and okh and type(c) == 'table' and c.who == h.who and c.why == h.why and c.when == h.when) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '{"resume":' .. ARGV[1] .. ',"lifted":' .. cur .. ',"at_ms":' .. ARGV[2] .. '}')
return 1`)

// resumeIfHeld lifts the halt held, if it is still the one in Redis, recording r.
func (b *RedisBackend) resumeIfHeld(ctx context.Context, r, held killswitch.Reason) (bool, error) {
	v, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	h, err := json.Marshal(held)
	if err != nil {
		return false, err
	}
	at := r.When
	if at.IsZero() {
		at = time.Now()
	}
	n, err := resumeIfScript.run(ctx, b.rdb, []string{b.key, b.resumeKey()}, v, at.UnixMilli(), h).Int()
	if err != nil {
		return false, fmt.Errorf("killswitch: %s: %w", b, err)
	}
	return n == 1, nil
}

// Resume implements killswitch.Backend: ResumeWith with no reason.
func (b *RedisBackend) Resume(ctx context.Context) error {
	return b.ResumeWith(ctx, killswitch.Reason{Who: "unknown", When: time.Now(), Why: "no reason given"})
}

// ResumeWith implements killswitch.ReasonResumer.
func (b *RedisBackend) ResumeWith(ctx context.Context, r killswitch.Reason) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	at := r.When
	if at.IsZero() {
		at = time.Now()
	}
	if err := resumeScript.run(ctx, b.rdb, []string{b.key, b.resumeKey()}, v, at.UnixMilli()).Err(); err != nil {
		return fmt.Errorf("killswitch: %s: %w", b, err)
	}
	return nil
}

// LastResume returns the last resume record, if there is one.
func (b *RedisBackend) LastResume(ctx context.Context) (ResumeRecord, bool, error) {
	v, err := b.rdb.Get(ctx, b.resumeKey()).Bytes()
	return b.record(v, err)
}

func (b *RedisBackend) record(v []byte, err error) (ResumeRecord, bool, error) {
	if errors.Is(err, redis.Nil) {
		return ResumeRecord{}, false, nil
	}
	if err != nil {
		return ResumeRecord{}, false, fmt.Errorf("killswitch: %s: %w", b, err)
	}
	var rec ResumeRecord
	if json.Unmarshal(v, &rec) != nil {
		return ResumeRecord{}, false, nil // unreadable: lifts nothing
	}
	return rec, true, nil
}

// SyncedBackend keeps an instance's kill-switch file and the fleet's Redis key in step, so a
// halt anywhere halts every instance and a resume anywhere resumes them:
//
//   - trading is halted while either is;
//   - Trip and Resume write both (the file first: it works without Redis);
//   - a file created by hand or by `keel halt` is copied to Redis at the next Load, and a file
//     deleted by hand or by `keel resume` resumes the fleet (if this instance's file had put
//     the halt there or agreed with it), with a resume record;
//   - a fleet halt ends here only by a resume record that lifted it (`keel resume` anywhere):
//     then this instance's file is deleted too. A halt whose key vanished without one (Redis
//     flushed, restarted without persistence, failed over, evicted) stays in force, is logged
//     at error and written back to Redis; the file is never deleted for it;
//   - the fleet's namespace is checked on every Load (a sentinel key, see Fleet): if it
//     vanished or was replaced, the store was lost; the instance halts (its file and Redis)
//     with a reason saying so, logs it at error, and stays halted until an explicit resume.
//
// While Redis cannot be read, Load reports the file alone (the fleet's gate keeps orders in
// meanwhile, so a missed fleet halt sends nothing); a halt that could not be copied is copied
// when Redis answers. It is safe for concurrent use.
type SyncedBackend struct {
	file  killswitch.Backend
	redis *RedisBackend
	f     *Fleet // nil: no namespace check

	mu     sync.Mutex
	agreed bool               // guarded by mu: file and Redis were both halted at the last look
	known  *killswitch.Reason // guarded by mu: the fleet halt last seen in force in Redis
}

var (
	_ killswitch.Backend       = (*SyncedBackend)(nil)
	_ killswitch.ReasonResumer = (*SyncedBackend)(nil)
)

// NewSyncedBackend keeps file and redis in step.
func NewSyncedBackend(file killswitch.Backend, redis *RedisBackend) *SyncedBackend {
	return &SyncedBackend{file: file, redis: redis}
}

// KillSwitchBackend returns the instance's backend in fleet mode: its file kept in step with
// the fleet's Redis key, and the fleet's namespace checked on every Load.
func (f *Fleet) KillSwitchBackend(file killswitch.Backend) *SyncedBackend {
	b := NewSyncedBackend(file, NewRedisBackend(f.rdb, f.KillSwitchKey()))
	b.f = f
	return b
}

// String implements killswitch.Backend.
func (b *SyncedBackend) String() string { return b.file.String() + " + " + b.redis.String() }

// load reads the halt, the last resume record and (with a fleet) the namespace in one round
// trip; lost reports that the namespace vanished or was replaced since it was last seen.
func (b *SyncedBackend) load(ctx context.Context) (rs killswitch.Status, rec ResumeRecord, hasRec, lost bool, err error) {
	p := b.redis.rdb.Pipeline()
	var ns *redis.StringCmd
	if b.f != nil {
		p.SetNX(ctx, b.f.namespaceKey(), b.f.newNamespaceID(), 0)
		ns = p.Get(ctx, b.f.namespaceKey())
	}
	halt := p.Get(ctx, b.redis.key)
	last := p.Get(ctx, b.redis.resumeKey())
	_, _ = p.Exec(ctx)
	if rs, err = b.redis.status(halt.Bytes()); err != nil {
		return rs, rec, false, false, err
	}
	if rec, hasRec, err = b.redis.record(last.Bytes()); err != nil {
		return rs, rec, false, false, err
	}
	if ns != nil {
		id, err := ns.Result()
		if err != nil {
			return rs, rec, false, false, fmt.Errorf("killswitch: %s: %w", b.redis, err)
		}
		lost = b.f.sawNamespace(id)
	}
	return rs, rec, hasRec, lost, nil
}

// Load implements killswitch.Backend.
func (b *SyncedBackend) Load(ctx context.Context) (killswitch.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fs, err := b.file.Load(ctx)
	if err != nil {
		return fs, err
	}
	rs, rec, hasRec, lost, rerr := b.load(ctx)
	if rerr != nil {
		return fs, nil
	}
	if lost {
		return b.storeLost(ctx, fs), nil
	}
	switch {
	case rs.Halted && fs.Halted:
		b.agreed, b.known = true, &rs.Reason
		return fs, nil
	case rs.Halted && b.agreed: // the file was deleted here: resume the fleet
		// Only the halt just read: if a resume (or another halt) landed since, the next load
		// follows it instead, so a `keel resume` is never overwritten by its own file deletion.
		if lifted, err := b.redis.resumeIfHeld(ctx, b.fileResume(), rs.Reason); err != nil || !lifted {
			return rs, nil
		}
		b.agreed, b.known = false, nil
		return fs, nil
	case rs.Halted: // halted elsewhere
		b.known = &rs.Reason
		return rs, nil
	case fs.Halted && !b.agreed: // a new halt here: share it
		if inForce, err := b.redis.Trip(ctx, fs.Reason); err == nil {
			b.agreed, b.known = true, &inForce
		}
		return fs, nil
	case b.known != nil && hasRec && rec.lifts(*b.known): // resumed elsewhere: follow it
		if fs.Halted {
			if err := b.file.Resume(ctx); err != nil {
				return fs, nil
			}
		}
		b.agreed, b.known = false, nil
		return killswitch.Status{}, nil
	case b.known != nil: // the fleet's halt vanished without a resume: it stays
		held := *b.known
		inForce, resumed, err := b.redis.writeBack(ctx, held)
		if err == nil && resumed { // a resume landed since this instance read: follow it
			if fs.Halted {
				if err := b.file.Resume(ctx); err != nil {
					return fs, nil
				}
			}
			b.agreed, b.known = false, nil
			return killswitch.Status{}, nil
		}
		b.logLost("the fleet's halt vanished from Redis without a resume (store lost?): halt kept and written back", held)
		if err == nil {
			b.known = &inForce
		}
		if fs.Halted {
			return fs, nil
		}
		return killswitch.Status{Halted: true, Reason: held}, nil
	default: // running everywhere
		return rs, nil
	}
}

// storeLost halts this instance (its file, then Redis) because the fleet's namespace vanished:
// what Redis held (halts, journal entries, budgets) may be gone, and only an operator's resume
// says trading may go on.
func (b *SyncedBackend) storeLost(ctx context.Context, fs killswitch.Status) killswitch.Status {
	host, _ := os.Hostname()
	r := killswitch.Reason{Who: "fleet", When: time.Now(), Host: host, PID: os.Getpid(),
		Why: "store lost: the fleet's namespace vanished from Redis (flushed, restarted without persistence, failed over or evicted); " +
			"halts and journal entries kept there may be gone: check the open orders, then resume explicitly (keel resume)"}
	if b.known != nil {
		r = *b.known // the halt in force before keeps its reason
	}
	b.logLost("store lost: the fleet's namespace vanished from Redis; trading halted until an explicit resume", r)
	if fs.Halted {
		r = fs.Reason
	} else if inForce, err := b.file.Trip(ctx, r); err == nil {
		r = inForce
	}
	if inForce, err := b.redis.Trip(ctx, r); err == nil {
		b.agreed, b.known = true, &inForce
		return killswitch.Status{Halted: true, Reason: inForce}
	}
	return killswitch.Status{Halted: true, Reason: r}
}

// logLost logs at error, through the fleet's logger.
func (b *SyncedBackend) logLost(msg string, r killswitch.Reason) {
	if b.f == nil {
		return
	}
	b.f.log.Error().Str("prefix", b.f.opts.Prefix).Str("halt", r.String()).Msg("fleet: " + msg)
}

// fileResume is the resume record of a file deleted by hand or by `keel resume --file`.
func (b *SyncedBackend) fileResume() killswitch.Reason {
	host, _ := os.Hostname()
	return killswitch.Reason{Who: "unknown", When: time.Now(), Host: host, PID: os.Getpid(),
		Why: "kill-switch file deleted: " + b.file.String()}
}

// Trip implements killswitch.Backend: the file records the halt; Redis shares it now, or at
// the first Load after Redis answers again.
func (b *SyncedBackend) Trip(ctx context.Context, r killswitch.Reason) (killswitch.Reason, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	inForce, err := b.file.Trip(ctx, r)
	if err != nil {
		return inForce, err
	}
	if shared, err := b.redis.Trip(ctx, inForce); err == nil {
		b.agreed, b.known = true, &shared
		inForce = shared
	}
	return inForce, nil
}

// Resume implements killswitch.Backend: ResumeWith with no reason.
func (b *SyncedBackend) Resume(ctx context.Context) error {
	return b.ResumeWith(ctx, killswitch.Reason{Who: "unknown", When: time.Now(), Why: "no reason given"})
}

// ResumeWith implements killswitch.ReasonResumer: both are removed, and Redis records the
// resume; if Redis cannot be reached the switch stays halted (ResumeWith fails), since the
// fleet may still hold a halt.
func (b *SyncedBackend) ResumeWith(ctx context.Context, r killswitch.Reason) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.redis.ResumeWith(ctx, r); err != nil {
		return err
	}
	b.agreed, b.known = false, nil
	return b.file.Resume(ctx)
}

// Gate wraps the kill switch's gate: while Redis cannot be reached it refuses orders with the
// reason (errors.Is ErrUnavailable), since the fleet's budgets, journal and halts cannot be
// known; otherwise inner decides.
func (f *Fleet) Gate(inner scheduler.Gate) scheduler.Gate { return fleetGate{f, inner} }

type fleetGate struct {
	f     *Fleet
	inner scheduler.Gate
}

func (g fleetGate) Allow(ctx context.Context, p scheduler.Priority) error {
	if down, why := g.f.Down(); down {
		return fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	return g.inner.Allow(ctx, p)
}

// FilePath returns the path of the file half when it is a killswitch.FileBackend, else "".
func (b *SyncedBackend) FilePath() string {
	if fb, ok := b.file.(*killswitch.FileBackend); ok {
		return fb.Path()
	}
	return ""
}
