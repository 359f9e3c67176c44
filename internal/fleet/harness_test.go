package fleet_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/scheduler"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// exchange is one simulator behind a proxy that measures what arrives at it: the most
// requests in flight at once per "METHOD path", and when each order arrived.
type exchange struct {
	sim *sim.Server
	url string

	mu       sync.Mutex
	inflight map[string]int
	maxIn    map[string]int
	orders   []orderSeen
}

type orderSeen struct {
	at  time.Time
	key string
}

func newExchange(t testing.TB, scale float64) *exchange {
	t.Helper()
	s, err := sim.New(sim.Config{Seed: 1, TimeScale: scale})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	target, _ := url.Parse(s.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	proxy.Transport = tr
	x := &exchange{sim: s, inflight: map[string]int{}, maxIn: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Method + " " + r.URL.Path
		x.mu.Lock()
		x.inflight[k]++
		x.maxIn[k] = max(x.maxIn[k], x.inflight[k])
		if r.Method == http.MethodPost && r.URL.Path == "/api/v3/order" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			q, _ := url.ParseQuery(string(body))
			key := q.Get("newClientOrderId")
			if key == "" {
				key = r.URL.Query().Get("newClientOrderId")
			}
			x.orders = append(x.orders, orderSeen{time.Now(), key})
		}
		x.mu.Unlock()
		// The request is done at the exchange when its answer starts back: counting it until
		// the handler returns would overlap the client's next request, sent the moment it has
		// the answer.
		done := sync.OnceFunc(func() {
			x.mu.Lock()
			x.inflight[k]--
			x.mu.Unlock()
		})
		proxy.ServeHTTP(&answered{ResponseWriter: w, done: done}, r)
		done()
	}))
	t.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
	x.url = srv.URL
	return x
}

// answered calls done when the answer's header is written.
type answered struct {
	http.ResponseWriter
	done func()
}

func (a *answered) WriteHeader(code int) {
	a.done()
	a.ResponseWriter.WriteHeader(code)
}

func (a *answered) Write(b []byte) (int, error) {
	a.done()
	return a.ResponseWriter.Write(b)
}

func (x *exchange) maxInflight(key string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.maxIn[key]
}

// maxInflights returns a copy of the most requests in flight per "METHOD path".
func (x *exchange) maxInflights() map[string]int {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[string]int, len(x.maxIn))
	for k, v := range x.maxIn {
		out[k] = v
	}
	return out
}

func (x *exchange) ordersSeen() []orderSeen {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]orderSeen(nil), x.orders...)
}

// instance is one bot of the fleet: its fleet membership, scheduler and adapter.
type instance struct {
	f *fleet.Fleet
	s *scheduler.Scheduler
	c *binance.Client

	rdb redis.UniversalClient
}

type instanceOpts struct {
	fleet   func(*fleet.Options)
	sched   func(*scheduler.Config)
	schOpts []scheduler.Option
	gate    scheduler.Gate // wrapped by the fleet's gate
}

func newInstance(t testing.TB, rdb redis.UniversalClient, prefix, id string, size int, x *exchange, o instanceOpts) *instance {
	t.Helper()
	fo := fleet.Options{Prefix: prefix, InstanceID: id, Size: size, SlotLease: 2 * time.Second, OpTimeout: 200 * time.Millisecond}
	if o.fleet != nil {
		o.fleet(&fo)
	}
	f, err := fleet.New(rdb, fo)
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	t.Cleanup(func() { f.Close() })
	cfg := scheduler.Config{Exchange: "binance", InstanceID: id, Windows: binance.SchedulerWindows(), Buckets: binance.SchedulerBuckets(),
		DefaultMaxWait: 300 * time.Millisecond, AIMD: scheduler.AIMDConfig{SuccessRun: 5}}
	if o.sched != nil {
		o.sched(&cfg)
	}
	opts := append(f.SchedulerOptions(), o.schOpts...)
	if o.gate != nil {
		opts = append(opts, scheduler.WithGate(f.Gate(o.gate)))
	}
	s, err := scheduler.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := binance.New(binance.Config{BaseURL: x.url, APIKey: sim.DefaultAPIKey, APISecret: sim.DefaultAPISecret, Timeout: 5 * time.Second},
		s, binance.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.ExchangeInfo(ctx); err != nil { // learns the simulator's scaled windows
		t.Fatal(err)
	}
	return &instance{f: f, s: s, c: c, rdb: rdb}
}

// depthLimit is the smallest depth limit Binance charges 250 weight for (1001-5000): the
// budget math of a 5000-level read at a fifth of the CPU, so a loaded CI machine under -race
// still offers the load these tests are about.
const depthLimit = 1001

// readDepth has six goroutines per instance read BTCUSDT's depth (depthLimit, weight 250)
// back to back for d, and returns how many reads succeeded.
func readDepth(insts []*instance, d time.Duration) int64 {
	var sum int64
	for _, n := range readDepthEach(insts, d) {
		sum += n
	}
	return sum
}

// readDepthEach is readDepth by instance: what each sent.
func readDepthEach(insts []*instance, d time.Duration) []int64 {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	sent := make([]atomic.Int64, len(insts))
	var wg sync.WaitGroup
	for i, in := range insts {
		for range 6 {
			wg.Go(func() {
				for ctx.Err() == nil {
					if _, err := in.c.Depth(ctx, "BTCUSDT", depthLimit); err == nil {
						sent[i].Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	out := make([]int64, len(insts))
	for i := range sent {
		out[i] = sent[i].Load()
	}
	return out
}

// jain is Jain's fairness index of the shares xs: 1 when all are equal, 1/n when one
// instance has everything.
func jain(xs []int64) float64 {
	var sum, sq float64
	for _, x := range xs {
		sum += float64(x)
		sq += float64(x) * float64(x)
	}
	if sq == 0 {
		return 1
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what)
		}
		<-tick.C
	}
}

func sortedKeys(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
