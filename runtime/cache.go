package runtime

import (
	"context"
	"sync"
	"time"

	"github.com/keelbot/keel/clock"
	"golang.org/x/sync/singleflight"
)

// ttlCache keeps slow-moving answers (exchange info, fees, permissions) for a TTL. Concurrent
// callers of one key share one in-flight call, so a burst of strategies asking costs one
// request, not one each; when a refresh fails, a stale answer is served rather than none.
type ttlCache[V any] struct {
	ttl   time.Duration
	clk   clock.Clock
	fetch func(ctx context.Context, key string) (V, error)

	group singleflight.Group
	mu    sync.Mutex
	items map[string]cacheItem[V]
}

type cacheItem[V any] struct {
	val V
	at  time.Time
}

func newTTLCache[V any](ttl time.Duration, clk clock.Clock, fetch func(ctx context.Context, key string) (V, error)) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, clk: clk, fetch: fetch, items: map[string]cacheItem[V]{}}
}

// peek returns key's value as last fetched, however old, without fetching.
func (c *ttlCache[V]) peek(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[key]
	return it.val, ok
}

// Get returns key's value, fetching it when absent or older than the TTL.
func (c *ttlCache[V]) Get(ctx context.Context, key string) (V, error) {
	c.mu.Lock()
	it, ok := c.items[key]
	c.mu.Unlock()
	if ok && c.clk.Now().Sub(it.at) < c.ttl {
		return it.val, nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		// The shared call must not die with the first caller's context.
		v, err := c.fetch(context.WithoutCancel(ctx), key)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		c.items[key] = cacheItem[V]{val: v, at: c.clk.Now()}
		c.mu.Unlock()
		return v, nil
	})
	// The caller waits only as long as its own context: a stop during start-up must not wait
	// for a slow exchange to answer the shared call.
	var v any
	var err error
	select {
	case r := <-ch:
		v, err = r.Val, r.Err
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	if err != nil {
		if ok {
			return it.val, nil
		}
		var zero V
		return zero, err
	}
	return v.(V), nil
}
