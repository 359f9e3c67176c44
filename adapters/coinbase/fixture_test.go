package coinbase_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testKey = "organizations/keel-test-org/apiKeys/keel-test-key"

// testPEM is a fresh P-256 key in the SEC1 PEM Coinbase issues.
var testPEM = func() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}()

// startSim starts a simulator speaking the coinbase dialect; the account's secret is
// testPEM unless cfg has accounts.
func startSim(t testing.TB, cfg sim.Config) *sim.Server {
	t.Helper()
	cfg.Dialect = sim.DialectCoinbase
	if cfg.Accounts == nil {
		cfg.Accounts = []sim.Account{{APIKey: testKey, HMACSecret: testPEM}}
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

// recorder wraps a scheduler and records every attempt's outcome.
type recorder struct {
	*scheduler.Scheduler
	mu   sync.Mutex
	outs []scheduler.Outcome
}

func (r *recorder) Do(ctx context.Context, req *scheduler.Request) (scheduler.Outcome, error) {
	inner := req.Attempt
	cp := *req
	cp.Attempt = func(ctx context.Context, attempt int) scheduler.Outcome {
		o := inner(ctx, attempt)
		r.mu.Lock()
		r.outs = append(r.outs, o)
		r.mu.Unlock()
		return o
	}
	return r.Scheduler.Do(ctx, &cp)
}

func (r *recorder) Usage() []scheduler.Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	var u []scheduler.Usage
	for _, o := range r.outs {
		u = append(u, o.Usage...)
	}
	return u
}

func (r *recorder) Outcomes() []scheduler.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]scheduler.Outcome(nil), r.outs...)
}

type fixture struct {
	sim    *sim.Server
	sched  *recorder
	client *coinbase.Client
}

type fixtureOpts struct {
	cfg      func(*coinbase.Config)
	schedCfg func(*scheduler.Config)
}

func newClientOn(t testing.TB, s *sim.Server, o fixtureOpts) *fixture {
	t.Helper()
	scfg := scheduler.Config{Exchange: "coinbase", InstanceID: "test", Windows: coinbase.SchedulerWindows(), Buckets: coinbase.SchedulerBuckets()}
	if o.schedCfg != nil {
		o.schedCfg(&scfg)
	}
	sch, err := scheduler.New(scfg, scheduler.WithLogger(zerolog.Nop()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sch.Close() })
	rec := &recorder{Scheduler: sch}
	cfg := coinbase.Config{BaseURL: s.URL(), APIKey: testKey, APISecret: coinbase.Secret(testPEM), Timeout: 5 * time.Second}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := coinbase.New(cfg, rec, coinbase.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: s, sched: rec, client: c}
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
