package bybit_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// Each limit signal of Bybit's, end to end: the simulator answers it, the adapter classifies
// it, a real scheduler acts on it.

// authHook counts the auth failures the scheduler reports, as the kill switch's hook does.
type authHook struct{ n atomic.Int64 }

func (h *authHook) option() scheduler.Option {
	return scheduler.WithAuthFailureHook(func(scheduler.Outcome) { h.n.Add(1) })
}

// TestIPBanIsNotAnAuthFailure: an IP over 600 requests per 5 s is answered 403 "access too
// frequent". It is a rate limit with a ban of at least 10 minutes: the scheduler holds every
// request but its bucket's spaced cancel probe (one cancel, so that the kill switch can always
// try to cancel) and the auth-failure hook, which trips the kill switch, is not called. A
// revoked key, by contrast, calls it.
func TestIPBanIsNotAnAuthFailure(t *testing.T) {
	var hook authHook
	s := startSim(t, sim.Config{DialectConfig: sim.BybitConfig{IPLimit: 4}})
	f := newClientOn(t, s, fixtureOpts{schedOpts: []scheduler.Option{hook.option()}})
	ctx := testCtx(t)
	// The time sync and three reads fit in the IP's four; the fifth request is over.
	for range 3 {
		if _, err := f.client.Ticker(ctx, "BTCUSDT"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.client.Balances(ctx); err == nil {
		t.Fatal("no error past the IP limit")
	} else {
		var se *scheduler.Error
		if !errors.As(err, &se) || se.Class != scheduler.ClassRateLimit || !se.Outcome.Ban ||
			se.Outcome.RetryAfter < 10*time.Minute || se.Outcome.Status != http.StatusForbidden || se.Attempts != 1 {
			t.Fatalf("got %v, want one attempt: rate_limit, ban, 403, Retry-After >= 10m", err)
		}
	}
	sent := s.Stats().Total.Requests
	_, err := f.client.Ticker(ctx, "BTCUSDT")
	var bo *scheduler.BreakerOpenError
	if !errors.As(err, &bo) || scheduler.ClassOf(err) != scheduler.ClassRateLimit {
		t.Fatalf("read during the ban: %v, want a held rate_limit", err)
	}
	// The cancel goes as its bucket's probe, and meets the ban.
	if _, err := f.client.CancelOrder(ctx, "BTCUSDT", "any-id"); scheduler.ClassOf(err) != scheduler.ClassRateLimit {
		t.Fatalf("cancel during the ban: %v, want a rate_limit failure", err)
	}
	if got := s.Stats().Total.Requests; got != sent+1 {
		t.Fatalf("%d requests sent during the ban, want the one cancel probe", got-sent)
	}
	if n := hook.n.Load(); n != 0 {
		t.Fatalf("the IP ban called the auth-failure hook %d times: the kill switch would trip", n)
	}

	// A revoked key on a fresh IP budget is an auth failure: the hook runs.
	var hook2 authHook
	s2 := startSim(t, sim.Config{})
	f2 := newClientOn(t, s2, fixtureOpts{schedOpts: []scheduler.Option{hook2.option()}})
	if _, err := f2.client.Balances(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s2.RevokeKey(testKey); err != nil {
		t.Fatal(err)
	}
	if _, err := f2.client.Balances(ctx); scheduler.ClassOf(err) != scheduler.ClassAuth {
		t.Fatalf("revoked key: %v", err)
	}
	if n := hook2.n.Load(); n != 1 {
		t.Fatalf("a revoked key called the auth-failure hook %d times, want 1", n)
	}
}

// TestOther403IsAnEdgeBlock: a 403 without "access too frequent" (a region-restricted IP, a
// CDN rule) is not retried, stops as auth, and says it is not a key problem.
func TestOther403IsAnEdgeBlock(t *testing.T) {
	var hook authHook
	s := startSim(t, sim.Config{})
	f := newClientOn(t, s, fixtureOpts{schedOpts: []scheduler.Option{hook.option()}})
	ctx := testCtx(t)
	if _, err := f.client.Balances(ctx); err != nil {
		t.Fatal(err)
	}
	s.SetFaults(sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusForbidden})
	defer s.SetFaults(sim.Faults{})
	_, err := f.client.Balances(ctx)
	var se *scheduler.Error
	if !errors.As(err, &se) || se.Class != scheduler.ClassAuth || se.Outcome.Ban || se.Attempts != 1 ||
		!strings.Contains(se.Outcome.Message, "not an API key problem") {
		t.Fatalf("got %v", err)
	}
	if hook.n.Load() != 1 {
		t.Fatalf("hook called %d times, want 1", hook.n.Load())
	}
}

// TestUIDLimitWaitsForTheReset: past an endpoint's per-UID limit (the simulator's fee-rate
// lowered to 2 per second, the user's scheduler configured for 4, which the adapter leaves
// alone; time scale 10, so a second lasts 100 ms), Bybit answers 10006; the adapter reads the reset timestamp into Retry-After, the
// scheduler waits it out and the retry succeeds. One 10006, every call served.
func TestUIDLimitWaitsForTheReset(t *testing.T) {
	s := startSim(t, sim.Config{TimeScale: 10, DialectConfig: sim.BybitConfig{EndpointLimits: map[string]int64{"GET /v5/account/fee-rate": 2}}})
	f := newClientOn(t, s, fixtureOpts{schedCfg: func(c *scheduler.Config) {
		scaledWindows(10, 600)(c)
		for i := range c.Windows {
			if c.Windows[i].Name == bybit.WindowFeeRate {
				c.Windows[i].Limit = 4 // the user's: not Bybit's documented 5
				c.Windows[i].Burst = 1 // let the scheduler send its 3.6 at once
			}
		}
	}})
	ctx := testCtx(t)
	for i := range 3 {
		if _, err := f.client.TradingFees(ctx, "BTCUSDT", adapters.WithPriority(scheduler.PriorityCritical)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := s.Stats().Total.Status429; n != 1 {
		t.Fatalf("%d 10006 answers, want 1", n)
	}
	var limited []scheduler.Outcome
	for _, o := range f.sched.Outcomes() {
		if o.Code == 10006 {
			limited = append(limited, o)
		}
	}
	if len(limited) != 1 || limited[0].Class != scheduler.ClassRateLimit || limited[0].RetryAfter <= 0 ||
		limited[0].RetryAfter > 100*time.Millisecond || limited[0].OrderLimit {
		t.Fatalf("10006 outcome: %+v", limited)
	}
	var used bool
	for _, u := range f.sched.Usage() {
		used = used || u.Window == bybit.WindowFeeRate && u.Used == 2
	}
	if !used {
		t.Fatalf("the X-Bapi-Limit headers did not reach the scheduler: %+v", f.sched.Usage())
	}
}

// TestCreateLimitHoldsNewOrdersOnly: a 10006 on order creation holds new orders until the
// reset, and only them: a cancel goes out during the hold (it has its own per-UID window), so
// a bot at its order limit can still take exposure away. The held placement is then sent
// after the reset and lands. (The simulator's create limit is 1 per second at time scale 2;
// the user's scheduler allows 5, so the adapter does not lower it.)
func TestCreateLimitHoldsNewOrdersOnly(t *testing.T) {
	s := startSim(t, sim.Config{TimeScale: 2, DialectConfig: sim.BybitConfig{EndpointLimits: map[string]int64{"POST /v5/order/create": 1}}})
	f := newClientOn(t, s, fixtureOpts{schedCfg: func(c *scheduler.Config) {
		scaledWindows(2, 600)(c)
		for i := range c.Windows {
			if c.Windows[i].Name == bybit.WindowOrderCreate {
				c.Windows[i].Limit, c.Windows[i].Burst = 5, 1
			}
		}
	}})
	ctx := testCtx(t)
	req := func(id string) adapters.OrderRequest {
		return adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			Quantity: dec("0.001"), Price: dec("50000"), ClientOrderID: id}
	}
	if _, err := f.client.PlaceOrder(ctx, req("hold-a")); err != nil {
		t.Fatal(err)
	}
	limited := make(chan struct{})
	var once sync.Once
	f.sched.mu.Lock()
	f.sched.seen = func(o scheduler.Outcome) {
		if o.Code == 10006 {
			once.Do(func() { close(limited) })
		}
	}
	f.sched.mu.Unlock()
	placed := make(chan error, 1)
	go func() {
		_, err := f.client.PlaceOrder(ctx, req("hold-b"))
		placed <- err
	}()
	select {
	case <-limited:
	case err := <-placed:
		t.Fatalf("the second placement was not refused: %v", err)
	}
	if _, err := f.client.CancelOrder(ctx, "BTCUSDT", "hold-a"); err != nil {
		t.Fatalf("cancel during the create hold: %v", err)
	}
	var held bool
	for _, b := range f.sched.Snapshot().Buckets {
		held = held || b.Name == bybit.BucketOrders && b.OrdersHeldUntil.After(time.Now()) && !b.HeldUntil.After(time.Now())
	}
	if !held {
		t.Fatalf("the cancel went out after the hold, or the hold was not for new orders only: %+v", f.sched.Snapshot().Buckets)
	}
	if err := <-placed; err != nil {
		t.Fatalf("the held placement: %v", err)
	}
	if n := s.Stats().Total.Status429; n != 1 {
		t.Fatalf("%d 10006 answers, want 1", n)
	}
}

// TestLearnsTheAccountsLimits: X-Bapi-Limit tells the account's own limits (a VIP's order
// limit above the documented 20, here 40; an endpoint below its documented 5, here 2): the
// adapter sets the scheduler's windows to them, so the lowered one is never exceeded.
func TestLearnsTheAccountsLimits(t *testing.T) {
	s := startSim(t, sim.Config{TimeScale: 10, DialectConfig: sim.BybitConfig{EndpointLimits: map[string]int64{
		"POST /v5/order/create": 40, "GET /v5/account/fee-rate": 2}}})
	f := newClientOn(t, s, fixtureOpts{schedCfg: scaledWindows(10, 600)})
	ctx := testCtx(t)
	if _, err := f.client.PlaceOrder(ctx, adapters.OrderRequest{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: dec("0.001"), Price: dec("50000"), ClientOrderID: "learn-1"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := f.client.TradingFees(ctx, "BTCUSDT", adapters.WithPriority(scheduler.PriorityCritical)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	limits := map[string]int64{}
	for _, w := range f.sched.Snapshot().Windows {
		limits[w.Name] = w.Limit
	}
	if limits[bybit.WindowOrderCreate] != 40 || limits[bybit.WindowFeeRate] != 2 || limits[bybit.WindowOrderRealtime] != 50 {
		t.Fatalf("scheduler windows %v", limits)
	}
	if n := s.Stats().Total.Status429; n != 0 {
		t.Fatalf("%d 10006 answers after learning the limit", n)
	}
}

// TestTimestampRejectedResyncs: when Bybit's clock moves (the simulator's steps 1.5 s back),
// the next signed call is refused with 10002, classified validation (a refused request: the
// clock stepped, the key is fine); the adapter measures the clock again before its next
// signature, and that call's timestamp is accepted. A second step before a request signed
// with the new offset was accepted is an auth failure: measuring did not help.
func TestTimestampRejectedResyncs(t *testing.T) {
	s := startSim(t, sim.Config{})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	if _, err := f.client.Balances(ctx); err != nil {
		t.Fatal(err)
	}
	syncs := func() int64 { return s.Stats().Endpoints["GET /v5/market/time"].Requests }
	before := syncs()
	s.SetClockOffset(-1500 * time.Millisecond) // our timestamps now run 1.5 s ahead: past server + 1000
	_, err := f.client.Balances(ctx)
	var se *scheduler.Error
	if !errors.As(err, &se) || se.Class != scheduler.ClassValidation || se.Outcome.Code != 10002 {
		t.Fatalf("got %v, want a validation refusal 10002", err)
	}
	if _, err := f.client.Balances(ctx); err != nil {
		t.Fatalf("after the resync: %v", err)
	}
	if syncs() != before+1 {
		t.Fatalf("%d clock syncs, want 1", syncs()-before)
	}

	s.SetClockOffset(-3 * time.Second)
	if _, err := f.client.Balances(ctx); scheduler.ClassOf(err) != scheduler.ClassValidation {
		t.Fatalf("a second step after a proven offset: %v, want a refusal", err)
	}
	if err := f.client.SyncTime(ctx); err != nil {
		t.Fatal(err)
	}
	s.SetClockOffset(-4500 * time.Millisecond)
	if _, err := f.client.Balances(ctx); scheduler.ClassOf(err) != scheduler.ClassAuth {
		t.Fatalf("a step right after re-measuring for one: %v, want auth", err)
	}
}

// TestConcurrentReadsShareTheWindows: many goroutines reading through one client never make
// the simulator refuse (the windows are Bybit's) and the usage reaches the scheduler.
func TestConcurrentReadsShareTheWindows(t *testing.T) {
	s := startSim(t, sim.Config{})
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				if _, err := f.client.OpenOrders(ctx, "BTCUSDT"); err != nil && !errors.Is(err, scheduler.ErrShed) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Total.Status429 != 0 || st.Total.Status418 != 0 {
		t.Fatalf("refusals: %+v", st.Total)
	}
}
