package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/scheduler"
)

// RedisBackend is a killswitch.Backend kept in one Redis key: trading is halted while the key
// exists, and its value is the JSON reason. It is safe for concurrent use, also across
// processes (a second Trip keeps the first reason).
type RedisBackend struct {
	rdb redis.UniversalClient
	key string
}

var _ killswitch.Backend = (*RedisBackend)(nil)

// NewRedisBackend returns the backend kept at key.
func NewRedisBackend(rdb redis.UniversalClient, key string) *RedisBackend {
	return &RedisBackend{rdb: rdb, key: key}
}

// KillSwitchKey is the fleet's kill-switch key.
func (f *Fleet) KillSwitchKey() string { return f.opts.Prefix + "killswitch" }

// String implements killswitch.Backend.
func (b *RedisBackend) String() string { return "redis " + b.key }

// Load implements killswitch.Backend. A value that is not a JSON reason still halts.
func (b *RedisBackend) Load(ctx context.Context) (killswitch.Status, error) {
	v, err := b.rdb.Get(ctx, b.key).Bytes()
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

// Resume implements killswitch.Backend.
func (b *RedisBackend) Resume(ctx context.Context) error {
	if err := b.rdb.Del(ctx, b.key).Err(); err != nil {
		return fmt.Errorf("killswitch: %s: %w", b, err)
	}
	return nil
}

// SyncedBackend keeps an instance's kill-switch file and the fleet's Redis key in step, so a
// halt anywhere halts every instance and a resume anywhere resumes them:
//
//   - trading is halted while either is;
//   - Trip and Resume write both (the file first: it works without Redis);
//   - a file created by hand or by `keel halt` is copied to Redis at the next Load, and a file
//     deleted by hand or by `keel resume` deletes the Redis key (if this instance's file had
//     put it there or agreed with it);
//   - a halt in Redis that another instance lifted deletes this instance's file.
//
// While Redis cannot be read, Load reports the file alone (the fleet's gate keeps orders in
// meanwhile, so a missed fleet halt sends nothing); a halt that could not be copied is copied
// when Redis answers. It is safe for concurrent use.
type SyncedBackend struct {
	file  killswitch.Backend
	redis killswitch.Backend

	mu     sync.Mutex
	agreed bool // guarded by mu: file and Redis were both halted at the last look
}

var _ killswitch.Backend = (*SyncedBackend)(nil)

// NewSyncedBackend keeps file and redis in step.
func NewSyncedBackend(file, redis killswitch.Backend) *SyncedBackend {
	return &SyncedBackend{file: file, redis: redis}
}

// KillSwitchBackend returns the instance's backend in fleet mode: its file kept in step with
// the fleet's Redis key.
func (f *Fleet) KillSwitchBackend(file killswitch.Backend) *SyncedBackend {
	return NewSyncedBackend(file, NewRedisBackend(f.rdb, f.KillSwitchKey()))
}

// String implements killswitch.Backend.
func (b *SyncedBackend) String() string { return b.file.String() + " + " + b.redis.String() }

// Load implements killswitch.Backend.
func (b *SyncedBackend) Load(ctx context.Context) (killswitch.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fs, err := b.file.Load(ctx)
	if err != nil {
		return fs, err
	}
	rs, rerr := b.redis.Load(ctx)
	if rerr != nil {
		return fs, nil
	}
	switch {
	case fs.Halted && rs.Halted:
		b.agreed = true
		return fs, nil
	case fs.Halted && !b.agreed: // a new halt here: share it
		if _, err := b.redis.Trip(ctx, fs.Reason); err == nil {
			b.agreed = true
		}
		return fs, nil
	case fs.Halted: // the fleet was resumed elsewhere: follow it
		if err := b.file.Resume(ctx); err != nil {
			return fs, nil
		}
		b.agreed = false
		return rs, nil
	case rs.Halted && b.agreed: // the file was deleted here: resume the fleet
		if err := b.redis.Resume(ctx); err != nil {
			return rs, nil
		}
		b.agreed = false
		return fs, nil
	default: // halted elsewhere, or running everywhere
		return rs, nil
	}
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
		b.agreed = true
		inForce = shared
	}
	return inForce, nil
}

// Resume implements killswitch.Backend: both are removed; if Redis cannot be reached the
// switch stays halted (Resume fails), since the fleet may still hold a halt.
func (b *SyncedBackend) Resume(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.redis.Resume(ctx); err != nil {
		return err
	}
	b.agreed = false
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
