package fleet

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/scheduler"
)

// callCount counts the calls a client makes (a pipeline is one).
type callCount struct{ n atomic.Int64 }

func (h *callCount) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *callCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *callCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestWindowIgnoresNoticesOfALaterPeriod: a notice of the next period's total, from an
// instance whose clock is a moment ahead, neither ends this instance's period nor its lease:
// the period's last requests are granted from that lease, without a round trip, and nothing is
// leased against the next period.
func TestWindowIgnoresNoticesOfALaterPeriod(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	calls := &callCount{}
	rdb.AddHook(calls)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a period starts
	clk := clock.NewFake(t0)
	f, err := New(rdb, Options{Prefix: prefix, InstanceID: "a", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := f.newCounter(scheduler.WindowConfig{Name: "W", Limit: 100, Interval: time.Minute})
	if ok, _ := c.Reserve(t0, 1, 100); !ok {
		t.Fatal("first request refused")
	}
	p := c.index(t0)
	if c.leased < 2 {
		t.Fatalf("leased %d, want a chunk of at least 2", c.leased)
	}

	c.notice(c.key+strconv.FormatInt(p+1, 10), "60") // the clock ahead's lease
	c.notice(c.key+strconv.FormatInt(p, 10), "40")   // the fleet's total of this period
	before := calls.n.Load()
	end := t0.Add(time.Minute - time.Millisecond) // the period's last instant
	clk.Set(end)
	if ok, _ := c.Reserve(end, 1, 100); !ok {
		t.Fatal("last request of the period refused")
	}
	if n := calls.n.Load() - before; n != 0 {
		t.Errorf("%d round trips for a request the lease covers, want 0", n)
	}
	if got := c.Used(end); got != 40-(c.leased-c.used) {
		t.Errorf("Used = %d, want the period's total heard (40) less the unspent lease (%d)", got, c.leased-c.used)
	}
	if err := rdb.Get(t.Context(), c.key+strconv.FormatInt(p+1, 10)).Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("next period's key: %v, want none (nothing leased against it)", err)
	}
}
