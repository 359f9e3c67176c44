package scheduler_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is where every fake clock starts: the start of a minute, so fixed windows start there.
var t0 = time.Date(2025, 1, 6, 12, 0, 0, 0, time.UTC)

// baseConfig is a small exchange: one weight window, a private and a public bucket.
func baseConfig() scheduler.Config {
	return scheduler.Config{
		Exchange:   "testex",
		InstanceID: "bot-1",
		Windows:    []scheduler.WindowConfig{{Name: "W", Limit: 1000, Interval: time.Minute}},
		Buckets: []scheduler.BucketConfig{
			{Name: "private", MaxConcurrency: 8},
			{Name: "public", MaxConcurrency: 8, Public: true},
		},
	}
}

// newScheduler builds a scheduler on a fake clock at t0 with a seeded source, closed at the
// end of the test.
func newScheduler(t *testing.T, cfg scheduler.Config, opts ...scheduler.Option) (*scheduler.Scheduler, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(t0)
	opts = append([]scheduler.Option{scheduler.WithClock(clk), scheduler.WithRand(jitter.New(1))}, opts...)
	s, err := scheduler.New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// call is one attempt seen by a script.
type call struct {
	name    string
	attempt int
	at      time.Time
}

// recorder records attempts in dispatch order. It is safe for concurrent use.
type recorder struct {
	mu    sync.Mutex
	clk   *clock.Fake
	calls []call
}

func (r *recorder) record(name string, attempt int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{name, attempt, r.clk.Now()})
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// scripted returns an attempt function that records each try and answers outcomes[attempt-1]
// (the last one again once they run out).
func (r *recorder) scripted(name string, outcomes ...scheduler.Outcome) scheduler.AttemptFunc {
	return func(_ context.Context, attempt int) scheduler.Outcome {
		r.record(name, attempt)
		if len(outcomes) == 0 {
			return scheduler.Outcome{Status: 200}
		}
		return outcomes[min(attempt, len(outcomes))-1]
	}
}

// result is what Do returned.
type result struct {
	out scheduler.Outcome
	err error
}

// drive runs until done is closed, advancing the fake clock to its next timer whenever every
// goroutine of the bubble is blocked. Call it inside a synctest bubble.
func drive(t *testing.T, clk *clock.Fake, done <-chan struct{}) {
	t.Helper()
	for {
		synctest.Wait()
		select {
		case <-done:
			return
		default:
		}
		d, ok := clk.NextDeadline()
		if !ok {
			t.Fatal("stuck: nothing to wait for and not done")
		}
		clk.Set(d)
	}
}

// drivePending drives the clock until every one of ps has returned.
func drivePending(t *testing.T, clk *clock.Fake, ps []*pending) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		for _, p := range ps {
			<-p.done
		}
		close(done)
	}()
	drive(t, clk, done)
}

// doAll runs reqs concurrently and drives the clock until all return.
func doAll(t *testing.T, s *scheduler.Scheduler, clk *clock.Fake, reqs ...*scheduler.Request) []result {
	t.Helper()
	res := make([]result, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			o, err := s.Do(context.Background(), r)
			res[i] = result{o, err}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	drive(t, clk, done)
	return res
}

func req(name, bucket string, p scheduler.Priority, cost int64, attempt scheduler.AttemptFunc) *scheduler.Request {
	return &scheduler.Request{
		Endpoint: "/api/" + name, Method: "GET", Bucket: bucket, Priority: p,
		Costs: []scheduler.Cost{{Window: "W", Amount: cost}}, Attempt: attempt,
	}
}

func TestSmoke(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, clk := newScheduler(t, baseConfig())
		rec := &recorder{clk: clk}
		res := doAll(t, s, clk, req("a", "private", scheduler.PriorityAccount, 1, rec.scripted("a",
			scheduler.Outcome{Status: 503}, scheduler.Outcome{Status: 200})))
		if res[0].err != nil || res[0].out.Status != 200 {
			t.Fatalf("got %+v", res[0])
		}
		if n := len(rec.snapshot()); n != 2 {
			t.Fatalf("attempts = %d, want 2", n)
		}
		s.Close()
	})
}

// succeed is an attempt that succeeds at once.
func succeed(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }

// tightConfig is baseConfig with one window W of limit per minute released at once (burst 1,
// no pacing), so that a test can spend it in one request and make the rest wait for the next
// minute.
func tightConfig(limit int64) scheduler.Config {
	cfg := baseConfig()
	cfg.Windows = []scheduler.WindowConfig{{Name: "W", Limit: limit, Interval: time.Minute, Burst: 1}}
	return cfg
}

// fill spends n of window W at priority p with a request that succeeds, failing the test if it
// does not.
func fill(t *testing.T, s *scheduler.Scheduler, p scheduler.Priority, n int64, attempt scheduler.AttemptFunc) {
	t.Helper()
	if _, err := s.Do(context.Background(), req("fill", "private", p, n, attempt)); err != nil {
		t.Fatalf("fill: %v", err)
	}
}

// pending is a Do running on its own goroutine.
type pending struct {
	done chan struct{}
	res  result
}

// goDo starts s.Do(ctx, r) on its own goroutine.
func goDo(ctx context.Context, s *scheduler.Scheduler, r *scheduler.Request) *pending {
	p := &pending{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.res.out, p.res.err = s.Do(ctx, r)
	}()
	return p
}

// returned reports whether Do has returned, without waiting.
func (p *pending) returned() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait returns what Do returned, once it has, without driving the clock.
func (p *pending) wait() result {
	<-p.done
	return p.res
}

// drive advances the fake clock (see drive) until Do returns, and returns what it returned.
// Call it inside a synctest bubble.
func (p *pending) drive(t *testing.T, clk *clock.Fake) result {
	t.Helper()
	drive(t, clk, p.done)
	return p.res
}
