package scheduler_test

import (
	"context"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/keelbot/keel/scheduler"
)

// BenchmarkSubmit: one request through an idle scheduler (real clock), with its log event
// written to io.Discard, and with logging disabled.
func BenchmarkSubmit(b *testing.B) {
	b.Run("logged", func(b *testing.B) { benchmarkSubmit(b, zerolog.New(io.Discard)) })
	b.Run("unlogged", func(b *testing.B) { benchmarkSubmit(b, zerolog.Nop()) })
}

func benchmarkSubmit(b *testing.B, log zerolog.Logger) {
	cfg := scheduler.Config{
		Windows: []scheduler.WindowConfig{{Name: "W", Limit: 1 << 50, Interval: time.Minute, Burst: 1}},
		Buckets: []scheduler.BucketConfig{{Name: "b", MaxConcurrency: 1 << 20}},
	}
	s, err := scheduler.New(cfg, scheduler.WithLogger(log))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := &scheduler.Request{
		Endpoint: "/api/v3/account", Method: "GET", Bucket: "b", Priority: scheduler.PriorityAccount,
		Costs:   []scheduler.Cost{{Window: "W", Amount: 20}},
		Attempt: func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} },
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Do(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaseline does what BenchmarkSubmit does with golang.org/x/time/rate and a channel
// semaphore: the floor a scheduler is measured against.
func BenchmarkBaseline(b *testing.B) {
	lim := rate.NewLimiter(rate.Limit(1<<40), 1<<30)
	sem := make(chan struct{}, 1<<20)
	attempt := func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := lim.WaitN(ctx, 20); err != nil {
			b.Fatal(err)
		}
		sem <- struct{}{}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		attempt(actx, 1)
		cancel()
		<-sem
	}
}

// fakeExchange enforces one weight window on the wall clock, as Binance does (fixed windows
// aligned to its clock), answering 429 past the limit and reporting its count.
type fakeExchange struct {
	interval time.Duration
	limit    int64
	mu       sync.Mutex
	served   map[int64]int64 // weight served per window index
	rejected int
}

func newFakeExchange(limit int64, interval time.Duration) *fakeExchange {
	return &fakeExchange{interval: interval, limit: limit, served: map[int64]int64{}}
}

func (e *fakeExchange) serve(weight int64) scheduler.Outcome {
	now := time.Now().UnixNano()
	i := now / int64(e.interval)
	e.mu.Lock()
	defer e.mu.Unlock()
	used := e.served[i]
	if used+weight > e.limit {
		e.rejected++
		return scheduler.Outcome{Status: 429, RetryAfter: time.Duration((i+1)*int64(e.interval) - now)}
	}
	e.served[i] = used + weight
	return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: used + weight}}}
}

// goodput returns the mean weight served per window wholly inside [from, to].
func (e *fakeExchange) goodput(from, to time.Time) float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	first, last := from.UnixNano()/int64(e.interval)+1, to.UnixNano()/int64(e.interval)-1
	var sum int64
	for i := first; i <= last; i++ {
		sum += e.served[i]
	}
	return float64(sum) / float64(last-first+1)
}

// BenchmarkGoodput: 64 goroutines against a fake exchange enforcing a weight window scaled
// down to 200ms (1000 weight, so 900 safe); each iteration runs one second. Reports the
// weight served per window over the safe limit (goal >= 0.95) and the 429s (goal 0).
func BenchmarkGoodput(b *testing.B) {
	const (
		limit    = 1000
		interval = 200 * time.Millisecond
		weight   = 2
	)
	cfg := scheduler.Config{
		Windows:       []scheduler.WindowConfig{{Name: "W", Limit: limit, Interval: interval}},
		Buckets:       []scheduler.BucketConfig{{Name: "b", MaxConcurrency: 64}},
		DefaultBudget: 10 * time.Second,
	}
	ex := newFakeExchange(limit, interval)
	s, err := scheduler.New(cfg, scheduler.WithLogger(zerolog.New(io.Discard)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := &scheduler.Request{
		Endpoint: "/api/v3/order/test", Method: "POST", Bucket: "b", Priority: scheduler.PriorityOrders,
		Costs:   []scheduler.Cost{{Window: "W", Amount: weight}},
		Attempt: func(context.Context, int) scheduler.Outcome { return ex.serve(weight) },
	}
	var fractions []float64
	for b.Loop() {
		start := time.Now()
		end := start.Add(time.Second)
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for time.Now().Before(end) {
					s.Do(context.Background(), r)
				}
			})
		}
		wg.Wait()
		fractions = append(fractions, ex.goodput(start, end)/float64(limit*9/10))
	}
	var sum float64
	for _, f := range fractions {
		sum += f
	}
	b.ReportMetric(sum/float64(len(fractions)), "used/limit")
	b.ReportMetric(float64(ex.rejected), "429s")
}

// BenchmarkPriority: p99 queue wait of orders-priority requests while 64 goroutines of
// account-priority traffic saturate a window (scaled down to 200ms), beside the same load
// with everything at one priority, so through a single FIFO queue. Every priority may use the
// whole window (headroom 1.0), so orders and account requests contend for the same budget and
// only the queue's order tells them apart. The burst is small so that what everyone waits for
// is the pacer's next tokens, which the queue hands out, and not a fixed window's rollover,
// which no queue order shortens (with the default burst the pacer refills while a full window
// waits to roll over, and spends it at the start of the next). An order goes in every
// millisecond; each iteration runs half a second of each load.
func BenchmarkPriority(b *testing.B) {
	const (
		interval = 200 * time.Millisecond
		run      = 500 * time.Millisecond
	)
	measure := func(orderPriority scheduler.Priority) []time.Duration {
		cfg := scheduler.Config{
			Windows:        []scheduler.WindowConfig{{Name: "W", Limit: 1000, Interval: interval, Burst: 0.01}},
			Buckets:        []scheduler.BucketConfig{{Name: "account", MaxConcurrency: 64}, {Name: "orders", MaxConcurrency: 64}},
			Headroom:       scheduler.HeadroomConfig{Background: 1, Market: 1, Account: 1, Orders: 1, Critical: 1},
			DefaultBudget:  10 * time.Second,
			DefaultMaxWait: 10 * time.Second,
		}
		ex := newFakeExchange(1000, interval)
		var mu sync.Mutex
		var waits []time.Duration
		s, err := scheduler.New(cfg, scheduler.WithObserver(func(e scheduler.AttemptEvent) {
			if e.Bucket == "orders" && e.Attempt == 1 {
				mu.Lock()
				waits = append(waits, e.QueueWait)
				mu.Unlock()
			}
		}))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		account := &scheduler.Request{Bucket: "account", Priority: scheduler.PriorityAccount, Costs: []scheduler.Cost{{Window: "W", Amount: 5}},
			Attempt: func(context.Context, int) scheduler.Outcome { return ex.serve(5) }}
		order := &scheduler.Request{Bucket: "orders", Priority: orderPriority, Costs: []scheduler.Cost{{Window: "W", Amount: 1}},
			Attempt: func(context.Context, int) scheduler.Outcome { return ex.serve(1) }}
		var wg sync.WaitGroup
		var stop atomic.Bool
		for range 64 {
			wg.Go(func() {
				for !stop.Load() {
					s.Do(context.Background(), account)
				}
			})
		}
		tick := time.NewTicker(time.Millisecond)
		for end := time.Now().Add(run); time.Now().Before(end); {
			<-tick.C
			wg.Go(func() { s.Do(context.Background(), order) })
		}
		tick.Stop()
		stop.Store(true)
		wg.Wait()
		return waits
	}
	var prio, fifo []time.Duration
	for b.Loop() {
		prio = append(prio, measure(scheduler.PriorityOrders)...)
		fifo = append(fifo, measure(scheduler.PriorityAccount)...)
	}
	b.ReportMetric(p99ms(prio), "orders-p99-ms")
	b.ReportMetric(p99ms(fifo), "fifo-p99-ms")
}

func p99ms(d []time.Duration) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[len(d)*99/100]) / float64(time.Millisecond)
}
