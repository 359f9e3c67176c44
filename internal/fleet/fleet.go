// Package fleet runs several Keel instances that share one API key as one client, through
// Redis. It implements the seams the other packages define: the scheduler's shared window
// Counter (Reserver), bucket Semaphore and SharedHolds; a killswitch.Backend; and the gate that
// keeps orders in while Redis cannot be reached. The idempotency journal's Redis store lives
// in idempotency (RedisStore); Fleet.Journal returns one under the fleet's prefix.
//
// # What is shared, and how
//
//   - Limit windows (fixed, aligned to the exchange's clock): each instance leases chunks of a
//     window's budget with one Lua script (the fleet total of leases never exceeds the cap of
//     the priority asking), and grants requests from its lease without a round trip. An
//     unused lease is lost at the end of its window, so chunks are small (Options.LeaseShare).
//   - Bucket concurrency: each slot is a member of a Redis sorted set scored by its lease's
//     expiry on Redis's clock (Lua, TIME). A slot is one round trip to take; it is returned in
//     the background and renewed while its request runs, so a killed instance's slots free
//     themselves when their lease ends (Options.SlotLease). The AIMD limit lives beside the
//     set: one instance's 429 halves it for the fleet.
//   - Breaker openings and bucket pauses (SharedHolds): a key per hold with the hold's time to
//     live; every instance reads them every 100 ms.
//   - The kill switch: a key holding the halt's reason, kept in step with each instance's file.
//
// # When Redis cannot be reached
//
// Every Redis call on the request path has a short timeout. The first failure marks the fleet
// down: the gate (Gate) refuses orders with the reason, windows and buckets fall back to a
// local share (limit ÷ Options.Size, at least 1), and a background ping brings everything back
// when Redis answers again. Slots held when Redis went away expire by their lease.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/scheduler"
)

// Options configures a Fleet. Zero values mean the defaults documented on each field.
type Options struct {
	// Prefix starts every key ("keel:<exchange>:<account>:"). Instances that share an API key
	// must share it. Required.
	Prefix string
	// InstanceID names this instance in slot leases and holds. Required.
	InstanceID string
	// Size is the number of instances: while Redis is down each one uses limit ÷ Size of every
	// window and cap ÷ Size slots of every bucket (at least 1). Default 1.
	Size int
	// SlotLease is how long a bucket slot stays taken without renewal: an instance that dies
	// holding slots frees them after at most this long. Renewed every SlotLease/3. Default 10s.
	SlotLease time.Duration
	// LeaseShare is the share of a window's limit one lease takes, at least 1. Default 0.01.
	LeaseShare float64
	// OpTimeout bounds each Redis call on the request path. Default 250ms.
	OpTimeout time.Duration
	// Poll is how often holds are read, blocked buckets looked at again and, while Redis is
	// down, Redis pinged. Default 100ms (the ≤ 100 ms of a shared breaker).
	Poll time.Duration
	// Logger receives Redis going down and coming back (default: none).
	Logger zerolog.Logger
}

func (o *Options) setDefaults() {
	if o.Size <= 0 {
		o.Size = 1
	}
	if o.SlotLease <= 0 {
		o.SlotLease = 10 * time.Second
	}
	if o.LeaseShare <= 0 {
		o.LeaseShare = 0.01
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 250 * time.Millisecond
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
}

// ErrUnavailable is wrapped by the gate's error while Redis cannot be reached.
var ErrUnavailable = errors.New("fleet: shared store unreachable")

// Fleet is one instance's membership of a fleet. Build it with New, Start it, and Close it
// when done. It is safe for concurrent use.
type Fleet struct {
	rdb  redis.UniversalClient
	opts Options
	log  zerolog.Logger

	mu       sync.Mutex
	down     bool      // guarded by mu
	downErr  string    // guarded by mu
	downAt   time.Time // guarded by mu
	sems     []*semaphore
	counters []*counter

	holds *holds

	releases chan release
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  bool
}

// New returns the fleet member that keeps its shared state in rdb. rdb is the caller's; Close
// does not close it.
func New(rdb redis.UniversalClient, o Options) (*Fleet, error) {
	o.setDefaults()
	if o.Prefix == "" || o.InstanceID == "" {
		return nil, errors.New("fleet: prefix and instance id are required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{rdb: rdb, opts: o, log: o.Logger, releases: make(chan release, 4096), ctx: ctx, cancel: cancel}
	f.holds = newHolds(f)
	return f, nil
}

// Options returns the fleet's options, defaults applied.
func (f *Fleet) Options() Options { return f.opts }

// Client returns the Redis client.
func (f *Fleet) Client() redis.UniversalClient { return f.rdb }

// Start starts the background work: returning slots, renewing leases, reading holds,
// watching Redis's health. It does not block.
func (f *Fleet) Start() {
	f.mu.Lock()
	if f.started {
		f.mu.Unlock()
		return
	}
	f.started = true
	f.mu.Unlock()
	f.wg.Add(3)
	go f.releaseLoop()
	go f.pollLoop()
	go f.renewLoop()
}

// Close stops the background work and returns the slots this instance still holds. It is
// safe to call more than once.
func (f *Fleet) Close() error {
	f.cancel()
	f.wg.Wait()
	// Give back what is still held, best effort: the leases would free it anyway.
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.OpTimeout)
	defer cancel()
	for _, s := range f.semaphores() {
		s.dropAll(ctx)
	}
	return nil
}

// Journal returns the idempotency journal shared by the fleet.
func (f *Fleet) Journal(opts ...idempotency.Option) *idempotency.RedisStore {
	return idempotency.NewRedisStore(f.rdb, f.opts.Prefix, opts...)
}

// SchedulerOptions are the scheduler options that share its windows, buckets and holds: fixed
// windows become leased Redis windows (sliding windows are not shared; Check refuses them),
// every bucket a Redis semaphore, every breaker opening and bucket pause a shared hold.
func (f *Fleet) SchedulerOptions() []scheduler.Option {
	return []scheduler.Option{
		scheduler.WithWindowKind(scheduler.KindFixed, f.newCounter),
		scheduler.WithSemaphores(f.newSemaphore),
		scheduler.WithSharedHolds(f.holds),
	}
}

// Check reports a scheduler configuration fleet mode cannot share: a window of a kind other
// than fixed.
func Check(c scheduler.Config) error {
	for _, w := range c.Windows {
		if w.Kind != "" && w.Kind != scheduler.KindFixed {
			return fmt.Errorf("fleet: windows[%s].kind: fleet mode shares fixed windows only, got %q", w.Name, w.Kind)
		}
	}
	return nil
}

// Status is the fleet's part of /status.
type Status struct {
	Store   string    `json:"store"` // "up" or "down"
	Since   time.Time `json:"since,omitzero"`
	Reason  string    `json:"reason,omitempty"`
	Size    int       `json:"size"`
	Prefix  string    `json:"prefix"`
	Holding int       `json:"slots_held"`
}

// Status returns whether Redis answers and, if not, since when and why.
func (f *Fleet) Status() Status {
	f.mu.Lock()
	st := Status{Store: "up", Size: f.opts.Size, Prefix: f.opts.Prefix}
	if f.down {
		st.Store, st.Since, st.Reason = "down", f.downAt, f.downErr
	}
	f.mu.Unlock()
	for _, s := range f.semaphores() {
		st.Holding += s.heldCount()
	}
	return st
}

// Down reports whether Redis is unreachable, and why.
func (f *Fleet) Down() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down, f.downErr
}

// fail records a failed Redis call: the fleet is down until a ping succeeds.
func (f *Fleet) fail(err error) {
	if err == nil || errors.Is(err, context.Canceled) && f.ctx.Err() != nil {
		return
	}
	f.mu.Lock()
	was := f.down
	if !was {
		f.down, f.downErr, f.downAt = true, err.Error(), time.Now()
	}
	f.mu.Unlock()
	if !was {
		f.log.Error().Err(err).Str("prefix", f.opts.Prefix).
			Msg("fleet: Redis unreachable: orders held, reads on a local share of each budget until it answers")
	}
}

// isDown reports whether the fleet runs on its local fallback.
func (f *Fleet) isDown() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down
}

// recover marks Redis reachable again and wakes every scheduler.
func (f *Fleet) recover() {
	f.mu.Lock()
	was := f.down
	f.down, f.downErr, f.downAt = false, "", time.Time{}
	f.mu.Unlock()
	if was {
		f.log.Warn().Str("prefix", f.opts.Prefix).Msg("fleet: Redis answers again: shared budgets, slots and holds restored")
		for _, s := range f.semaphores() {
			s.unblock()
		}
	}
}

func (f *Fleet) semaphores() []*semaphore {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*semaphore(nil), f.sems...)
}

// op returns a context for one Redis call on the request path.
func (f *Fleet) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.ctx, f.opts.OpTimeout)
}

// pollLoop reads the shared holds, looks again at blocked buckets (a dead instance's slot
// expires without a message) and, while Redis is down, pings it.
func (f *Fleet) pollLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := f.op()
		if f.isDown() {
			if err := f.rdb.Ping(ctx).Err(); err == nil {
				f.recover()
			}
			cancel()
			continue
		}
		if err := f.holds.refresh(ctx); err != nil {
			f.fail(err)
		}
		cancel()
		for _, s := range f.semaphores() {
			s.unblock()
		}
	}
}

// MarkDown records that Redis could not be reached (the runtime's first ping at start-up):
// orders stay held until a ping succeeds.
func (f *Fleet) MarkDown(err error) { f.fail(err) }
