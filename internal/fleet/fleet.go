// Package fleet runs several Keel instances that share one API key as one client, through
// Redis. It implements the seams the other packages define: scheduler.Shared (the windows,
// bucket semaphores and holds the scheduler shares); a killswitch.Backend; and the gate that
// keeps orders in while Redis cannot be reached. The idempotency journal's Redis store lives
// in idempotency (RedisStore); Fleet.Journal returns one under the fleet's prefix, and the
// fleet marks its instance alive in it so that the others know when to take its entries over.
//
// # What is shared, and how
//
//   - Limit windows (fixed, aligned to the exchange's clock): each instance leases chunks of a
//     window's budget with one Lua script (the fleet total of leases never exceeds the cap of
//     the priority asking), and grants requests from its lease without a round trip. A chunk
//     grows with the instance's demand up to its fair share (cap ÷ Options.Size); every lease
//     publishes the fleet's new total, so an instance knows a window is spent without asking.
//     An unused lease is lost at the end of its window.
//   - Bucket concurrency: each slot is a member of a Redis sorted set scored by its lease's
//     expiry on Redis's clock. A slot an instance takes stays its own after its request ends
//     and serves its next request without a round trip (while its lease has time left), until
//     another instance waits for one: a refused instance queues in Redis and one holder is
//     named to give a slot back; the return hands the slot to the head of the queue, which is
//     told by pub/sub and needs no round trip of its own. Leases are renewed in the round trips
//     an instance makes anyway, so a killed instance's slots free themselves when their lease
//     ends (Options.SlotLease). The AIMD limit lives beside the set: one instance's 429 halves
//     it for the fleet (successes are counted in batches).
//   - Breaker openings and bucket pauses (SharedHolds): a key per hold with the hold's time to
//     live, announced by pub/sub to every instance when written; the whole set is read again
//     whenever the subscription (re)starts and every 600 × Options.Poll (a minute), in case.
//   - The kill switch: a key holding the halt's reason, kept in step with each instance's file.
//
// In a fleet whose instances contend for budget and slots, a request costs well under one
// Redis round trip on average (BenchmarkFleetGoodput reports it as redis-rtt/req).
//
// # When Redis cannot be reached
//
// Every Redis call on the request path has a short timeout. The first failure marks the fleet
// down, as does the fleet's subscription breaking (or a ping on it going unanswered after
// 2 × Options.Poll of silence), so an instance that makes no other call notices at once: the
// gate (Gate) refuses orders with the reason, and a background ping brings everything back
// when Redis answers again. Meanwhile each instance lives on a local share that keeps the
// fleet within its totals, whatever the others do:
//
//   - a bucket gets cap ÷ Options.Size slots (rounded down), counting this instance's requests
//     still in flight on Redis slots, and only once every lease Redis granted before it went
//     away has run out (Options.SlotLease after the failure was noticed). A bucket whose cap is
//     below the fleet's size gets no local share at all: its requests wait until Redis
//     answers, and are shed when their time is up (Status.NoLocalShare lists such buckets,
//     and the log line that reports Redis down names them);
//   - a window gets limit ÷ Options.Size of each period (rounded down), from the period after
//     the one Redis went away in: in that one the fleet may already have leased the whole cap,
//     so an instance uses only what is left of its own lease. In the period Redis comes back in
//     an instance stays on its local share (its use is pushed to Redis with its next lease),
//     unless Redis was back within the period it went away in.
//
// Slots this instance holds on its local share when Redis answers again are registered in
// Redis then, so that the others count them.
package fleet

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	// InstanceID names this instance in slot leases, holds and the journal (the instance tag of
	// its order keys). Required; no '|' or ':'.
	InstanceID string
	// Size is the number of instances: while Redis is down each one uses limit ÷ Size of every
	// window and cap ÷ Size slots of every bucket, rounded down (see the package doc). It is
	// also the number of fair shares a window's lease chunks are cut to. Default 1.
	Size int
	// SlotLease is how long a bucket slot stays taken without renewal: an instance that dies
	// holding slots frees them after at most this long. Default 10s.
	SlotLease time.Duration
	// LeaseShare is the smallest share of a window's limit one lease takes (a chunk grows with
	// demand up to limit ÷ Size). Default 0.01.
	LeaseShare float64
	// OpTimeout bounds each Redis call on the request path. Default 250ms.
	OpTimeout time.Duration
	// Poll is how often slots are looked after (renewed, given back, waited for), and, while
	// Redis is down, Redis is pinged. Default 100ms.
	Poll time.Duration
	// AliveTTL is how long the journal's "alive" mark of this instance lasts; it is renewed
	// every third of it. Default 30s.
	AliveTTL time.Duration
	// Logger receives Redis going down and coming back (default: none).
	Logger zerolog.Logger
	// Now is the clock of the fallback's timing (default time.Now).
	Now func() time.Time
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
	if o.AliveTTL <= 0 {
		o.AliveTTL = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrUnavailable is wrapped by the gate's error while Redis cannot be reached.
var ErrUnavailable = errors.New("fleet: shared store unreachable")

// Fleet is one instance's membership of a fleet. Build it with New, Start it, and Close it
// when done. It is safe for concurrent use.
type Fleet struct {
	rdb     redis.UniversalClient
	opts    Options
	log     zerolog.Logger
	journal *idempotency.RedisStore
	// holder names this process in slot members and the slot queues: the instance id and a
	// nonce, so that two processes started with one id by mistake never take each other's
	// slots for their own.
	holder string
	// spreadHash places this instance among the others in spread.
	spreadHash uint64
	attempts   atomic.Int64 // TakeAttempt's calls so far: with holder, each one's own member

	mu      sync.Mutex
	down    bool      // guarded by mu
	downErr string    // guarded by mu
	downAt  time.Time // guarded by mu: when the last outage was noticed (f.opts.Now)
	// since is downAt for /status; downAt itself is the epoch for an outage that began
	// before this instance ever reached Redis (MarkDown at start): it holds no lease, so its
	// local share applies at once. Guarded by mu.
	since    time.Time
	upAt     time.Time // guarded by mu: when Redis last answered again after one
	downGen  int       // guarded by mu: outages so far (each semaphore catches up with it)
	sems     []*semaphore
	counters []*counter

	holds *holds

	// ns is the fleet's namespace id as this instance last saw it in Redis ("" before the
	// first look): a sentinel written once by the first instance, never expiring. If it
	// vanishes or changes, Redis lost what the fleet kept there (see SyncedBackend).
	ns string // guarded by mu

	syncs   chan *semaphore // slots to give back, leases to renew: done by eventLoop
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started bool
}

// New returns the fleet member that keeps its shared state in rdb. rdb is the caller's; Close
// does not close it.
func New(rdb redis.UniversalClient, o Options) (*Fleet, error) {
	o.setDefaults()
	if o.Prefix == "" || o.InstanceID == "" {
		return nil, errors.New("fleet: prefix and instance id are required")
	}
	if strings.ContainsAny(o.InstanceID, "|:") {
		return nil, fmt.Errorf("fleet: instance id %q: must not contain '|' or ':'", o.InstanceID)
	}
	var nonce [4]byte
	_, _ = crand.Read(nonce[:])
	h := fnv.New64a()
	_, _ = h.Write([]byte(o.InstanceID))
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fleet{rdb: rdb, opts: o, log: o.Logger, syncs: make(chan *semaphore, 1024), ctx: ctx, cancel: cancel,
		journal: idempotency.NewRedisStore(rdb, o.Prefix), holder: o.InstanceID + "." + hex.EncodeToString(nonce[:]),
		spreadHash: h.Sum64()}
	f.holds = newHolds(f)
	return f, nil
}

// Options returns the fleet's options, defaults applied.
func (f *Fleet) Options() Options { return f.opts }

// Client returns the Redis client.
func (f *Fleet) Client() redis.UniversalClient { return f.rdb }

// Start starts the background work: the fleet's notices (slots handed over, budgets spent,
// holds), returning and renewing slots, watching Redis's health. It does not block.
func (f *Fleet) Start() {
	f.mu.Lock()
	if f.started {
		f.mu.Unlock()
		return
	}
	f.started = true
	f.mu.Unlock()
	f.wg.Add(2)
	go f.eventLoop()
	go f.pollLoop()
}

// Close stops the background work and returns the slots this instance still holds. It is
// safe to call more than once.
func (f *Fleet) Close() error {
	f.cancel()
	f.wg.Wait()
	// Give back what is still held, handed to the instances waiting with a notice, so that a
	// fleet stopping together does not wait out the leases (which would free it anyway).
	if down, _ := f.Down(); down {
		return nil
	}
	held := 0
	for _, s := range f.semaphores() {
		held += s.heldCount()
		ctx, cancel := context.WithTimeout(context.Background(), f.opts.OpTimeout)
		s.dropAll(ctx)
		cancel()
	}
	if held > 0 {
		f.log.Info().Int("slots", held).Msg("fleet: leaving: slots handed back to the fleet")
	}
	return nil
}

// Journal returns the idempotency journal shared by the fleet.
func (f *Fleet) Journal(opts ...idempotency.Option) *idempotency.RedisStore {
	return idempotency.NewRedisStore(f.rdb, f.opts.Prefix, opts...)
}

// SchedulerOptions are the scheduler options that share its windows, buckets and holds
// (scheduler.WithShared; see seam.go): fixed windows become leased Redis windows, every bucket
// a Redis semaphore, every breaker opening and bucket pause a shared hold. A window of another
// kind (Check refuses them in the configuration; AddWindow may add one at run time) stays
// local, on a share of limit ÷ Options.Size, and is logged.
func (f *Fleet) SchedulerOptions() []scheduler.Option {
	return []scheduler.Option{scheduler.WithShared(seam{f})}
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
	// NoLocalShare lists the buckets whose cap is below the fleet's size: while Redis is down
	// they get no slot at all, and their requests wait (or are shed).
	NoLocalShare []string `json:"no_local_share,omitempty"`
}

// Status returns whether Redis answers and, if not, since when and why.
func (f *Fleet) Status() Status {
	f.mu.Lock()
	st := Status{Store: "up", Size: f.opts.Size, Prefix: f.opts.Prefix}
	if f.down {
		st.Store, st.Since, st.Reason = "down", f.since, f.downErr
	}
	f.mu.Unlock()
	for _, s := range f.semaphores() {
		st.Holding += s.heldCount()
	}
	st.NoLocalShare = f.noLocalShare()
	return st
}

// noLocalShare lists the buckets with no slot while Redis is down.
func (f *Fleet) noLocalShare() []string {
	var out []string
	for _, s := range f.semaphores() {
		if s.localCap() == 0 {
			out = append(out, s.bucket)
		}
	}
	sort.Strings(out)
	return out
}

// Down reports whether Redis is unreachable, and why.
func (f *Fleet) Down() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down, f.downErr
}

// fail records a failed Redis call: the fleet is down until a ping succeeds.
func (f *Fleet) fail(err error) { f.failAt(err, false) }

// failAt is fail; atStart marks an outage that began before this instance ever reached Redis
// (no lease to wait out: the local share applies at once).
func (f *Fleet) failAt(err error, atStart bool) {
	if err == nil || errors.Is(err, context.Canceled) && f.ctx.Err() != nil {
		return
	}
	wait := f.opts.SlotLease
	f.mu.Lock()
	was := f.down
	if !was {
		f.down, f.downErr, f.downAt = true, err.Error(), f.opts.Now()
		f.since = f.downAt
		f.downGen++
		if atStart && f.upAt.IsZero() && f.downGen == 1 {
			f.downAt, wait = time.Unix(0, 0), 0
		}
	}
	f.mu.Unlock()
	if was {
		return
	}
	ev := f.log.Error().Err(err).Str("prefix", f.opts.Prefix).Dur("local_share_after", wait)
	if none := f.noLocalShare(); len(none) > 0 {
		ev = ev.Strs("no_local_share", none)
	}
	ev.Msg("fleet: Redis unreachable: orders held; reads on a local share of each budget (cap ÷ fleet.size, once the " +
		"slot leases granted before have run out); buckets with no local share wait until Redis answers")
}

// downState reports whether the fleet runs on its local fallback, and how many outages began.
func (f *Fleet) downState() (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down, f.downGen
}

// outage returns when the last outage was noticed and when it ended (zero while it lasts, or
// if there was none).
func (f *Fleet) outage() (downAt, upAt time.Time, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.downAt, f.upAt, f.down
}

// recover marks Redis reachable again, registers the slots taken on the local share and wakes
// every scheduler. The caller has loaded the scripts again (loadScripts).
func (f *Fleet) recover() {
	f.mu.Lock()
	was := f.down
	f.down, f.downErr = false, ""
	if was {
		f.upAt = f.opts.Now()
	}
	f.mu.Unlock()
	if was {
		f.log.Warn().Str("prefix", f.opts.Prefix).Msg("fleet: Redis answers again: shared budgets, slots and holds restored")
		for _, s := range f.semaphores() {
			s.cameBack()
		}
		f.holds.requestRead()
	}
}

func (f *Fleet) semaphores() []*semaphore {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*semaphore(nil), f.sems...)
}

func (f *Fleet) counterList() []*counter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*counter(nil), f.counters...)
}

// op returns a context for one Redis call on the request path.
func (f *Fleet) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.ctx, f.opts.OpTimeout)
}

// eventsChannel is the fleet's pub/sub channel: slots handed over ("g"), wanted ("w"), free
// ("r"), AIMD limits changed ("l"), window totals ("f"), holds ("h").
func (f *Fleet) eventsChannel() string { return f.opts.Prefix + "events" }

// eventLoop applies the fleet's notices (receiveLoop reads them) and does the Redis work that
// may wait a moment: slot returns and renewals, hold writes, reading every hold after
// (re)subscribing.
func (f *Fleet) eventLoop() {
	defer f.wg.Done()
	msgs := make(chan any, 256)
	f.wg.Add(1)
	go f.receiveLoop(msgs)
	for {
		select {
		case <-f.ctx.Done():
			return
		case m := <-msgs:
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					f.holds.requestRead()
					for _, s := range f.semaphores() {
						s.subscribed()
					}
				}
			case *redis.Message:
				f.notice(m.Payload)
			}
		case s := <-f.syncs:
			s.sync()
		case <-f.holds.readReq:
			ctx, cancel := f.op()
			if err := f.holds.read(ctx); err != nil {
				f.fail(err)
			}
			cancel()
		case h := <-f.holds.pending:
			ctx, cancel := f.op()
			if err := f.holds.write(ctx, h); err != nil {
				f.fail(err)
			}
			cancel()
		}
	}
}

// receiveLoop reads the fleet's channel. It is also how an instance that has no other reason
// to talk to Redis notices that Redis went away: the subscription's connection breaks (or a
// ping on it, sent after 2 × Options.Poll of silence, goes unanswered), which marks the fleet
// down at once. go-redis resubscribes when it reconnects; notices sent in between are lost,
// which the (re)subscription's handling makes up for.
func (f *Fleet) receiveLoop(out chan<- any) {
	defer f.wg.Done()
	ps := f.rdb.Subscribe(f.ctx, f.eventsChannel())
	defer ps.Close()
	quiet := 2 * f.opts.Poll
	pinged := false
	for f.ctx.Err() == nil {
		m, err := ps.ReceiveTimeout(f.ctx, quiet)
		var ne net.Error
		switch {
		case err == nil:
			pinged = false
			if _, pong := m.(*redis.Pong); pong {
				continue
			}
			select {
			case out <- m:
			case <-f.ctx.Done():
				return
			}
		case f.ctx.Err() != nil:
			return
		case errors.As(err, &ne) && ne.Timeout() && !pinged:
			// Silence: ask; the answer comes in like a message.
			pinged = true
			ctx, cancel := f.op()
			if err := ps.Ping(ctx); err != nil {
				f.fail(err)
			}
			cancel()
		default:
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("fleet: no answer to a ping within %s: %w", quiet, err)
			}
			pinged = false
			f.fail(err)
			t := time.NewTimer(f.opts.Poll) // go-redis reconnects on the next receive
			select {
			case <-t.C:
			case <-f.ctx.Done():
				t.Stop()
				return
			}
		}
	}
}

// notice applies one message of the fleet's channel.
func (f *Fleet) notice(payload string) {
	kind, rest, _ := strings.Cut(payload, "|")
	now := f.opts.Now()
	switch kind {
	case "g", "w", "r", "l":
		bucket, rest, _ := strings.Cut(rest, "|")
		for _, s := range f.semaphores() {
			if s.bucket == bucket {
				s.notice(kind, rest, now)
			}
		}
	case "f":
		key, total, _ := strings.Cut(rest, "|")
		for _, c := range f.counterList() {
			c.notice(key, total)
		}
	case "h":
		f.holds.notice(rest, time.Now())
	}
}

// pollLoop loads the scripts queued in pipelines, looks after the slots (renewals, returns,
// refused instances' next try), reads the holds again now and then, marks this instance alive
// in the journal every third of Options.AliveTTL and, while Redis is down, pings it (and loads
// the scripts again once it answers: a restarted Redis has forgotten them).
func (f *Fleet) pollLoop() {
	defer f.wg.Done()
	t := time.NewTicker(f.opts.Poll)
	defer t.Stop()
	holdsEvery := 600 * f.opts.Poll
	lastHolds := time.Now()
	f.loadScripts()
	aliveAt, _ := f.markAlive()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		if down, _ := f.downState(); down {
			ctx, cancel := f.op()
			err := f.rdb.Ping(ctx).Err()
			if err == nil {
				err = loadScripts(ctx, f.rdb)
			}
			cancel()
			if err == nil {
				f.recover()
			}
			continue
		}
		now := f.opts.Now()
		for _, s := range f.semaphores() {
			s.tick(now)
		}
		if time.Since(lastHolds) >= holdsEvery {
			lastHolds = time.Now()
			f.holds.requestRead()
		}
		if now.Sub(aliveAt) >= f.opts.AliveTTL/3 {
			if at, ok := f.markAlive(); ok {
				aliveAt = at
			}
		}
	}
}

// loadScripts loads the scripts queued in pipelines (see script).
func (f *Fleet) loadScripts() {
	ctx, cancel := f.op()
	defer cancel()
	if err := loadScripts(ctx, f.rdb); err != nil {
		f.fail(err)
	}
}

// markAlive marks this instance alive in the journal for Options.AliveTTL, and reports when
// (f.opts.Now) and whether it did.
func (f *Fleet) markAlive() (time.Time, bool) {
	ctx, cancel := f.op()
	defer cancel()
	at := f.opts.Now()
	if err := f.journal.MarkAlive(ctx, f.opts.InstanceID, f.opts.AliveTTL); err != nil {
		f.fail(err)
		return time.Time{}, false
	}
	return at, true
}

// spread returns this instance's own offset in [0, d): instances that would all do something
// at one instant do it one after the other.
func (f *Fleet) spread(d int64) int64 {
	if d <= 0 {
		return 0
	}
	return int64(f.spreadHash % uint64(d))
}

// renewBelow is when a slot's lease is renewed by a round trip made anyway (a lease, another
// call for its bucket): when less than 9/10 of it is left. pollLoop renews on its own only
// what has less than a third left.
func (f *Fleet) renewBelow() time.Duration { return 9 * f.opts.SlotLease / 10 }

// namespaceKey is the sentinel that tells the fleet its Redis data is still there.
func (f *Fleet) namespaceKey() string { return f.opts.Prefix + "namespace" }

// newNamespaceID is a sentinel value for SET NX: the first instance's wins.
func (f *Fleet) newNamespaceID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return f.holder + "." + hex.EncodeToString(b[:])
}

// sawNamespace takes in the sentinel as read, and reports whether it differs from the one seen
// before: the namespace was lost (and has just been written again).
func (f *Fleet) sawNamespace(id string) (lost bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	lost = f.ns != "" && id != f.ns
	f.ns = id
	return lost
}

// errBadReply is a script's answer of the wrong shape.
var errBadReply = errors.New("fleet: unexpected reply from Redis")

// MarkDown records that Redis could not be reached: orders stay held until a ping succeeds,
// and the local shares apply once the leases granted before have run out.
func (f *Fleet) MarkDown(err error) { f.fail(err) }

// MarkDownAtStart records that Redis could not be reached before this instance ever reached
// it (the runtime's first ping): orders stay held until a ping succeeds. This instance holds
// no lease, so it runs on its local share at once: its share of each bucket and of each
// window's current period (the others, if any, still count what Redis granted them before
// against their own shares).
func (f *Fleet) MarkDownAtStart(err error) { f.failAt(err, true) }
