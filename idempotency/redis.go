package idempotency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore is a Store kept in Redis, for a fleet: every instance that shares an API key
// shares one journal, so a key reserved by one instance is refused to all the others, and an
// instance that restarts on another host finds its unresolved entries. It is safe for
// concurrent use, also across processes. Its zero value is not usable; call NewRedisStore.
//
// Layout under the prefix: "j:e:<key>" holds each entry as JSON, the set "j:keys" lists the
// keys, the hash "j:cursors" holds the cursors, and "j:alive:<instance>" exists while that
// instance runs (MarkAlive; see Shared and Claim for how instances split the journal). Reserve is one Lua script (exists-or-set);
// Update is optimistic (WATCH the entry, apply fn and the lifecycle rules in Go, MULTI/EXEC),
// retried when another writer got there first, so CanMove holds across the fleet.
//
// Durability is the operator's job: a write is acknowledged by Redis, which keeps it in
// memory. Run Redis with an append-only file (appendonly yes, appendfsync everysec or always)
// and, for failover, replicas; a Redis that loses its memory loses the journal. When Redis
// cannot be reached every method fails (nothing is sent for an order that cannot be
// journalled), and the store works again as soon as Redis answers.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
	now    func() time.Time
	closed atomic.Bool
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns the journal kept in rdb under prefix (for example "keel:<account>:").
// Instances that must share a journal use the same prefix. WithClock is the only option it
// uses. Close does not close rdb: its owner does.
func NewRedisStore(rdb redis.UniversalClient, prefix string, opts ...Option) *RedisStore {
	o := buildOptions(opts)
	return &RedisStore{rdb: rdb, prefix: prefix, now: o.now}
}

func (s *RedisStore) entryKey(key string) string { return s.prefix + "j:e:" + key }
func (s *RedisStore) keysKey() string            { return s.prefix + "j:keys" }
func (s *RedisStore) cursorsKey() string         { return s.prefix + "j:cursors" }
func (s *RedisStore) aliveKey(instance string) string {
	return s.prefix + "j:alive:" + instance
}

var _ Shared = (*RedisStore)(nil)

// MarkAlive implements Shared: "j:alive:<instance>" lives for ttl. A fleet member calls it
// while it runs (internal/fleet does, every third of its ttl).
func (s *RedisStore) MarkAlive(ctx context.Context, instance string, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	return wrapRedis(s.rdb.Set(ctx, s.aliveKey(instance), s.now().UTC().Format(time.RFC3339Nano), ttl).Err())
}

// Alive implements Shared.
func (s *RedisStore) Alive(ctx context.Context, instance string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	n, err := s.rdb.Exists(ctx, s.aliveKey(instance)).Result()
	return n > 0, wrapRedis(err)
}

// check returns the error every method starts with: ctx's, or ErrClosed.
func (s *RedisStore) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// wrap names a Redis failure; a context error stays matchable with errors.Is.
func wrapRedis(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("idempotency: redis: %w", err)
}

var reserveScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
return 1`)

// Reserve implements Store.
func (s *RedisStore) Reserve(ctx context.Context, e Entry) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	e, err := prepareReserve(e, s.now())
	if err != nil {
		return err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	n, err := reserveScript.Run(ctx, s.rdb, []string{s.entryKey(e.Key), s.keysKey()}, raw, e.Key).Int()
	if err != nil {
		return wrapRedis(err)
	}
	if n == 0 {
		return ErrKeyExists
	}
	return nil
}

// maxUpdateTries bounds the optimistic retries of one Update; each lost race means another
// writer succeeded, so the bound is only reached under pathological contention.
const maxUpdateTries = 10000

// Update implements Store. fn may run more than once (when another writer changed the entry
// between the read and the write); only the last run's result is stored.
func (s *RedisStore) Update(ctx context.Context, key string, fn func(*Entry) error) (Entry, error) {
	if err := s.check(ctx); err != nil {
		return Entry{}, err
	}
	k := s.entryKey(key)
	var out Entry
	for range maxUpdateTries {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			cur, err := s.read(ctx, tx, k)
			if err != nil {
				return err
			}
			next, err := applyUpdate(cur, s.now(), fn)
			if err != nil {
				return err
			}
			raw, err := json.Marshal(next)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, k, raw, 0)
				return nil
			})
			if err == nil {
				out = next
			}
			return err
		}, k)
		if errors.Is(err, redis.TxFailedErr) {
			if err := ctx.Err(); err != nil {
				return Entry{}, err
			}
			continue
		}
		return out, err
	}
	return Entry{}, fmt.Errorf("idempotency: redis: update of %s lost %d races", key, maxUpdateTries)
}

// read loads one entry through c (a client or a transaction).
func (s *RedisStore) read(ctx context.Context, c redis.Cmdable, k string) (Entry, error) {
	raw, err := c.Get(ctx, k).Bytes()
	if errors.Is(err, redis.Nil) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, wrapRedis(err)
	}
	var e Entry
	if err := json.Unmarshal(raw, &e); err != nil {
		return Entry{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, k, err)
	}
	return e, nil
}

// Get implements Store.
func (s *RedisStore) Get(ctx context.Context, key string) (Entry, error) {
	if err := s.check(ctx); err != nil {
		return Entry{}, err
	}
	return s.read(ctx, s.rdb, s.entryKey(key))
}

// List implements Store.
func (s *RedisStore) List(ctx context.Context, states ...State) ([]Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	keys, err := s.rdb.SMembers(ctx, s.keysKey()).Result()
	if err != nil {
		return nil, wrapRedis(err)
	}
	var out []Entry
	for len(keys) > 0 {
		n := min(len(keys), 256)
		ks := make([]string, n)
		for i, k := range keys[:n] {
			ks[i] = s.entryKey(k)
		}
		keys = keys[n:]
		vals, err := s.rdb.MGet(ctx, ks...).Result()
		if err != nil {
			return nil, wrapRedis(err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				continue // compacted meanwhile
			}
			var e Entry
			if err := json.Unmarshal([]byte(str), &e); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, ks[i], err)
			}
			if wantState(e.State, states) {
				out = append(out, e)
			}
		}
	}
	sortEntries(out)
	return out, nil
}

// Cursor implements Store.
func (s *RedisStore) Cursor(ctx context.Context, name string) (string, error) {
	if err := s.check(ctx); err != nil {
		return "", err
	}
	v, err := s.rdb.HGet(ctx, s.cursorsKey(), name).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, wrapRedis(err)
}

// SetCursor implements Store.
func (s *RedisStore) SetCursor(ctx context.Context, name, value string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if name == "" {
		return errEmptyCursorName
	}
	return wrapRedis(s.rdb.HSet(ctx, s.cursorsKey(), name, value).Err())
}

// compactScript deletes an entry only if it is still what Compact read.
var compactScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1`)

// Compact implements Store. An entry updated by another writer while Compact runs is kept.
func (s *RedisStore) Compact(ctx context.Context, cutoff time.Time) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	all, err := s.List(ctx, StateResolved)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range all {
		if !compactable(e, cutoff) {
			continue
		}
		k := s.entryKey(e.Key)
		raw, err := s.rdb.Get(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return n, wrapRedis(err)
		}
		var cur Entry
		if json.Unmarshal([]byte(raw), &cur) != nil || !compactable(cur, cutoff) {
			continue
		}
		ok, err := compactScript.Run(ctx, s.rdb, []string{k, s.keysKey()}, raw, e.Key).Int()
		if err != nil {
			return n, wrapRedis(err)
		}
		n += ok
	}
	return n, nil
}

// Close implements Store. It does not close the Redis client.
func (s *RedisStore) Close() error {
	s.closed.Store(true)
	return nil
}
