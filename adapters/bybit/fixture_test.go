package bybit_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testKey    = "keel-test-bybit-key"
	testSecret = "keel-test-bybit-secret-0123456789abcdef"
)

// startSim starts a simulator speaking the bybit dialect on a loopback port.
func startSim(t testing.TB, cfg sim.Config) *sim.Server {
	t.Helper()
	cfg.Dialect = sim.DialectBybit
	if cfg.Accounts == nil {
		cfg.Accounts = []sim.Account{{APIKey: testKey, HMACSecret: testSecret}}
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// recorder wraps a scheduler and records the usage every attempt reports back.
type recorder struct {
	*scheduler.Scheduler
	mu    sync.Mutex
	usage []scheduler.Usage
	outs  []scheduler.Outcome
	// seen, if set, is told every attempt's outcome.
	seen func(scheduler.Outcome)
}

func (r *recorder) Do(ctx context.Context, req *scheduler.Request) (scheduler.Outcome, error) {
	inner := req.Attempt
	cp := *req
	cp.Attempt = func(ctx context.Context, attempt int) scheduler.Outcome {
		o := inner(ctx, attempt)
		r.mu.Lock()
		r.usage = append(r.usage, o.Usage...)
		r.outs = append(r.outs, o)
		seen := r.seen
		r.mu.Unlock()
		if seen != nil {
			seen(o)
		}
		return o
	}
	return r.Scheduler.Do(ctx, &cp)
}

func (r *recorder) Usage() []scheduler.Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scheduler.Usage(nil), r.usage...)
}

func (r *recorder) Outcomes() []scheduler.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scheduler.Outcome(nil), r.outs...)
}

// fixture is one adapter, its scheduler and its simulator.
type fixture struct {
	sim    *sim.Server
	sched  *recorder
	client *bybit.Client
	logs   *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixtureOpts struct {
	cfg       func(*bybit.Config)
	schedCfg  func(*scheduler.Config)
	schedOpts []scheduler.Option
}

// newClientOn builds an adapter with its own scheduler on a running simulator.
func newClientOn(t testing.TB, s *sim.Server, o fixtureOpts) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	scfg := scheduler.Config{Exchange: "bybit", InstanceID: "test", Windows: bybit.SchedulerWindows(), Buckets: bybit.SchedulerBuckets()}
	if o.schedCfg != nil {
		o.schedCfg(&scfg)
	}
	opts := append([]scheduler.Option{scheduler.WithLogger(zerolog.New(logs))}, o.schedOpts...)
	sch, err := scheduler.New(scfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sch.Close() })
	rec := &recorder{Scheduler: sch}
	cfg := bybit.Config{BaseURL: s.URL(), APIKey: testKey, APISecret: testSecret, Timeout: 5 * time.Second}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := bybit.New(cfg, rec, bybit.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: s, sched: rec, client: c, logs: logs}
}

func newFixture(t testing.TB, sc sim.Config, o fixtureOpts) *fixture {
	t.Helper()
	return newClientOn(t, startSim(t, sc), o)
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }
