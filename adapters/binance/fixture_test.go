package binance_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	hmacKey    = "keel-test-hmac-key"
	hmacSecret = "keel-test-hmac-secret-0123456789abcdef"
	edKey      = "keel-test-ed25519-key"
)

// edSeed is a fixed Ed25519 seed for the simulator's Ed25519 account.
var edSeed = bytes.Repeat([]byte{7}, ed25519.SeedSize)

func edPublic() ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(edSeed).Public().(ed25519.PublicKey)
}

// startSim starts a simulator on a loopback port with an HMAC account and an Ed25519 account.
func startSim(t *testing.T, cfg sim.Config) *sim.Server {
	t.Helper()
	if cfg.Accounts == nil {
		cfg.Accounts = []sim.Account{
			{APIKey: hmacKey, HMACSecret: hmacSecret},
			{APIKey: edKey, Ed25519PublicKey: edPublic()},
		}
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

// recorder wraps a scheduler and records the requests the adapter describes to it and the
// usage every attempt reports back.
type recorder struct {
	*scheduler.Scheduler
	mu      sync.Mutex
	reqs    []declared
	usage   []scheduler.Usage
	outs    []scheduler.Outcome
	offsets []time.Duration
	within  []time.Duration // SetClockUncertainty's
}

// declared is one request as the adapter described it to the scheduler.
type declared struct {
	endpoint string // "METHOD /path"
	costs    []scheduler.Cost
}

// cost is what the request reserves in window.
func (d declared) cost(window string) int64 {
	var n int64
	for _, c := range d.costs {
		if c.Window == window {
			n += c.Amount
		}
	}
	return n
}

// Requests returns the requests described so far.
func (r *recorder) Requests() []declared {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]declared(nil), r.reqs...)
}

func (r *recorder) SetClockOffset(d time.Duration) {
	r.mu.Lock()
	r.offsets = append(r.offsets, d)
	r.mu.Unlock()
	if r.Scheduler != nil {
		r.Scheduler.SetClockOffset(d)
	}
}

func (r *recorder) SetClockUncertainty(d time.Duration) {
	r.mu.Lock()
	r.within = append(r.within, d)
	r.mu.Unlock()
	if r.Scheduler != nil {
		r.Scheduler.SetClockUncertainty(d)
	}
}

func (r *recorder) Uncertainties() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.within...)
}

func (r *recorder) Offsets() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.offsets...)
}

func (r *recorder) Do(ctx context.Context, req *scheduler.Request) (scheduler.Outcome, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, declared{endpoint: req.Method + " " + req.Endpoint, costs: append([]scheduler.Cost(nil), req.Costs...)})
	r.mu.Unlock()
	inner := req.Attempt
	cp := *req
	cp.Attempt = func(ctx context.Context, attempt int) scheduler.Outcome {
		o := inner(ctx, attempt)
		r.mu.Lock()
		r.usage = append(r.usage, o.Usage...)
		r.outs = append(r.outs, o)
		r.mu.Unlock()
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
	client *binance.Client
	logs   *syncBuffer
	http   *http.Client
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
	ed25519   bool
	cfg       func(*binance.Config)
	schedCfg  func(*scheduler.Config)
	schedOpts []scheduler.Option
}

// newClientOn builds an adapter with its own scheduler on a running simulator.
func newClientOn(t *testing.T, s *sim.Server, o fixtureOpts) *fixture {
	t.Helper()
	logs := &syncBuffer{}
	scfg := scheduler.Config{Exchange: "binance", InstanceID: "test",
		Windows: binance.SchedulerWindows(), Buckets: binance.SchedulerBuckets()}
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

	cfg := binance.Config{BaseURL: s.URL(), APIKey: hmacKey, APISecret: hmacSecret, Timeout: 5 * time.Second}
	if o.ed25519 {
		cfg = binance.Config{BaseURL: s.URL(), APIKey: edKey, Ed25519PrivateKey: binance.Secret(hex.EncodeToString(edSeed)), Timeout: 5 * time.Second}
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	c, err := binance.New(cfg, rec, binance.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{sim: s, sched: rec, client: c, logs: logs, http: hc}
}

func newFixture(t *testing.T, sc sim.Config, o fixtureOpts) *fixture {
	t.Helper()
	return newClientOn(t, startSim(t, sc), o)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
