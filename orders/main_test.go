package orders_test

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		os.Exit(runCrashHelper())
	}
	goleak.VerifyTestMain(m)
}

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// harness is a Manager on a fake exchange, a memory journal and a fake clock, with its events,
// metrics and log recorded.
type harness struct {
	t       *testing.T
	ex      *fakeExchange
	store   idempotency.Store
	keys    *idempotency.KeyGenerator
	clock   *clock.Fake
	m       *orders.Manager
	log     *bytes.Buffer
	metrics *counters

	mu     sync.Mutex
	events []orders.Event
}

type counters struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counters) inc(name string) func(string) {
	return func(string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n[name]++
	}
}

func (c *counters) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func newHarness(t *testing.T, cfg orders.Config) *harness {
	t.Helper()
	h := &harness{t: t, ex: newFakeExchange(), clock: clock.NewFake(epoch), log: &bytes.Buffer{},
		metrics: &counters{n: map[string]int{}}}
	h.ex.now = h.clock.Now
	h.store = idempotency.NewMemoryStore(idempotency.WithClock(h.clock.Now))
	t.Cleanup(func() { h.store.Close() })
	var err error
	h.keys, err = idempotency.NewKeyGenerator("kl", "t1", idempotency.WithKeyClock(h.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	h.m = h.manager(cfg)
	return h
}

// manager builds a manager on the harness's exchange, journal and clock (a restart).
func (h *harness) manager(cfg orders.Config) *orders.Manager {
	h.t.Helper()
	return h.managerWith(orders.Params{Config: cfg})
}

// managerWith is manager with more of Params set; the harness fills the rest.
func (h *harness) managerWith(p orders.Params) *orders.Manager {
	h.t.Helper()
	p.Exchange, p.Store, p.Keys, p.Clock = h.ex, h.store, h.keys, h.clock
	p.Log = zerolog.New(&syncWriter{w: h.log, mu: &h.mu})
	p.Metrics = orders.Metrics{
		Placed: h.metrics.inc("placed"), Rejected: h.metrics.inc("rejected"),
		UnknownOutcome: h.metrics.inc("unknown"), Resent: h.metrics.inc("resent"),
		Adopted: h.metrics.inc("adopted"),
	}
	m, err := orders.New(p)
	if err != nil {
		h.t.Fatal(err)
	}
	m.Subscribe(func(e orders.Event) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.events = append(h.events, e)
	})
	return m
}

type syncWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (h *harness) logText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log.String()
}

// takeEvents returns the events recorded so far and forgets them.
func (h *harness) takeEvents() []orders.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := h.events
	h.events = nil
	return ev
}

func (h *harness) entry(key string) idempotency.Entry {
	h.t.Helper()
	e, err := h.store.Get(context.Background(), key)
	if err != nil {
		h.t.Fatalf("journal entry %s: %v", key, err)
	}
	return e
}

// parked waits until the code under test parks on the fake clock (true) or done is closed
// first (false), so a run that never parks fails instead of hanging. It waits on
// notifications only.
func (h *harness) parked(done <-chan struct{}) bool {
	p := make(chan struct{})
	go func() {
		h.clock.BlockUntil(1)
		close(p)
	}()
	select {
	case <-p:
		return true
	case <-done:
		_, stop := h.clock.NewTimer(time.Hour) // lets the BlockUntil above return
		<-p
		stop()
		return false
	}
}

// driveClock runs fn and, each time the code under test parks on the fake clock, moves the
// clock to the earliest deadline. It returns how many times it did.
func (h *harness) driveClock(fn func()) int {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	moves := 0
	for h.parked(done) {
		if at, ok := h.clock.NextDeadline(); ok {
			h.clock.Set(at)
			moves++
		}
	}
	return moves
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func limitBuy(qty, price string) orders.Intent {
	return orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: dec(qty), Price: dec(price), Strategy: "mm"}
}

// statuses lists the events' moves as "PREV>NEW".
func statuses(evs []orders.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Previous)+">"+string(e.Order.Status))
	}
	return out
}
