package kraken_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testKey    = "keel-test-kraken-key"
	testSecret = "keel-test-kraken-secret-0123456789"
	// testScale runs the simulator's counters, drains and lockouts 100 times faster.
	testScale = 100
)

// startSim starts a Kraken-dialect simulator on loopback.
func startSim(t testing.TB, mutate func(*sim.Config)) *sim.Server {
	t.Helper()
	cfg := sim.Config{Dialect: sim.DialectKraken, Seed: 1, TimeScale: testScale,
		Accounts: []sim.Account{{APIKey: testKey, HMACSecret: testSecret}}}
	if mutate != nil {
		mutate(&cfg)
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

// fixture is a simulator, a real scheduler with the adapter's windows and buckets, and a
// Client on them.
type fixture struct {
	sim    *sim.Server
	sched  *scheduler.Scheduler
	client *kraken.Client
	cfg    kraken.Config
}

type fixtureOpts struct {
	cfg   func(*kraken.Config)
	sched func(*scheduler.Config)
	opts  []kraken.Option
}

func newFixture(t testing.TB, s *sim.Server, o fixtureOpts) *fixture {
	t.Helper()
	cfg := kraken.Config{}
	cfg.ForSimulator(adapters.SimEndpoint{RESTURL: s.URL(), APIKey: testKey, APISecret: testSecret})
	cfg.TimeScale = testScale
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	scfg := scheduler.Config{Exchange: "kraken", Windows: cfg.SchedulerWindows(), Buckets: cfg.SchedulerBuckets()}
	if o.sched != nil {
		o.sched(&scfg)
	}
	sched, err := scheduler.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sched.Close() })
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	opts := append([]kraken.Option{kraken.WithHTTPClient(&http.Client{Transport: tr})}, o.opts...)
	c, err := kraken.New(cfg, sched, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: s, sched: sched, client: c, cfg: cfg}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type simConfig = sim.Config

var simValidClOrdID = sim.ValidKrakenClOrdID
