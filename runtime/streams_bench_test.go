package runtime

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// collector is a strategy that measures how old each quote is when it reaches OnEvent.
type collector struct {
	mu     sync.Mutex
	lat    []time.Duration
	want   int
	done   chan struct{}
	closed bool
	since  func(q strategy.Quote) time.Duration
	// read, when set, says how old the quote's book update was when the market stream's
	// reader applied it (readTimer): the part of the latency spent before Keel's reader.
	read    func(q strategy.Quote) (time.Duration, bool)
	readLat []time.Duration
}

func (c *collector) OnEvent(_ context.Context, ev strategy.Event) error {
	q, ok := ev.(strategy.Quote)
	if !ok {
		return nil
	}
	d := c.since(q)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lat = append(c.lat, d)
	if c.read != nil {
		if r, ok := c.read(q); ok {
			c.readLat = append(c.readLat, r)
		}
	}
	if len(c.lat) >= c.want && !c.closed {
		c.closed = true
		close(c.done)
	}
	return nil
}

func (c *collector) report(b *testing.B, elapsed time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lat := append([]time.Duration(nil), c.lat...)
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50_µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99_µs")
	if read := slices.Sorted(slices.Values(c.readLat)); len(read) > 0 {
		b.ReportMetric(float64(read[len(read)/2].Microseconds()), "read-p50_µs")
		b.ReportMetric(float64(read[len(read)*99/100].Microseconds()), "read-p99_µs")
	}
}

// readTimer stamps when the market stream's reader applies each book update (its OnBook), so
// a stream benchmark tells the part of a quote's age spent before Keel's reader handled the
// update (the simulator's send, the socket, the wait for the reader's goroutine to run) from
// the part after (the book's top, the feed's checks, the mailbox, the strategy's goroutine).
type readTimer struct {
	adapters.Exchange
	mu   sync.Mutex
	read map[string]*readRing // fixed once the stream starts
}

// readRing is a symbol's last updates: their event times and when the reader applied them.
type readRing struct {
	next         int
	event, taken [64]time.Time
}

func (r *readTimer) MarketStream(symbols []string, h adapters.MarketHandler, o adapters.StreamOptions) (adapters.MarketStream, error) {
	r.mu.Lock()
	r.read = map[string]*readRing{}
	for _, s := range symbols {
		r.read[s] = &readRing{}
	}
	r.mu.Unlock()
	onBook := h.OnBook
	h.OnBook = func(symbol string, book *adapters.OrderBook, u adapters.DepthUpdate) {
		now := time.Now()
		r.mu.Lock()
		if ring := r.read[symbol]; ring != nil {
			ring.event[ring.next], ring.taken[ring.next] = u.Time, now
			ring.next = (ring.next + 1) % len(ring.event)
		}
		r.mu.Unlock()
		onBook(symbol, book, u)
	}
	return r.Exchange.MarketStream(symbols, h, o)
}

// age is how old q's update was when the reader applied it; false when it is no longer kept.
func (r *readTimer) age(q strategy.Quote) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ring := r.read[q.Symbol]
	if ring == nil {
		return 0, false
	}
	for i, at := range ring.event {
		if at.Equal(q.Time) {
			return ring.taken[i].Sub(at), true
		}
	}
	return 0, false
}

// benchFeed is what the simulator of a quote benchmark publishes: symbols whose books (20
// levels a side) it pushes every interval, their prices walking (one trade each step) every
// walk.
type benchFeed struct {
	interval, walk time.Duration
	symbols        []sim.Symbol
}

// fastFeed is the default benchmarks' feed: the simulator's three symbols pushed every
// millisecond, 100 times Binance's depth@100ms, each trading every millisecond (3 000 trades
// a second).
var fastFeed = benchFeed{interval: time.Millisecond, walk: time.Millisecond, symbols: sim.DefaultSymbols()}

// realisticFeed is Binance's own rate: ten symbols pushed every 100 ms (depth@100ms), each
// trading every 10 ms (1 000 trades a second in all, a busy market).
func realisticFeed() benchFeed {
	syms := sim.DefaultSymbols()
	for _, base := range []string{"BNB", "SOL", "XRP", "ADA", "LTC", "LINK", "DOT"} {
		s := syms[1] // ETHUSDT's filters, each at its own price
		s.Name, s.Base, s.Price = base+"USDT", base, fmt.Sprintf("%d.00", 100+10*len(syms))
		syms = append(syms, s)
	}
	return benchFeed{interval: 100 * time.Millisecond, walk: 10 * time.Millisecond, symbols: syms}
}

func (f benchFeed) names() []string {
	out := make([]string, len(f.symbols))
	for i, s := range f.symbols {
		out[i] = s.Name
	}
	return out
}

// benchBot is the pieces of a Loop the quote path uses, on a simulator that publishes feed.
func benchBot(b testing.TB, c *collector, feed benchFeed, pollInterval time.Duration, wrap func(adapters.Exchange) adapters.Exchange) (*Loop, *binance.Client, func()) {
	b.Helper()
	srv, err := sim.New(sim.Config{Seed: 1, WalkInterval: feed.walk, Symbols: feed.symbols,
		Streams: sim.StreamConfig{Interval: feed.interval, BookLevels: 20}})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	sch, err := scheduler.New(scheduler.Config{Exchange: "binance", InstanceID: "bench",
		Windows: binance.SchedulerWindows(), Buckets: binance.SchedulerBuckets()})
	if err != nil {
		b.Fatal(err)
	}
	client, err := binance.New(binance.Config{BaseURL: srv.URL(), StreamURL: "ws://" + srv.Addr().String(),
		APIKey: sim.DefaultAPIKey, APISecret: sim.DefaultAPISecret}, sch)
	if err != nil {
		b.Fatal(err)
	}
	var ex adapters.Exchange = client
	if wrap != nil {
		ex = wrap(client)
	}
	log := zerolog.Nop()
	// stale_after is large: a 1 ms poll interval is far below the round trip, and the bench
	// measures the checks' cost (the watchdog runs, every quote is validated), not refusals.
	l := &Loop{cfg: &Config{Market: MarketConfig{Streams: true, StaleAfter: 1000}}, log: log, clk: realClock, rng: jitter.New(1),
		ex: ex, runners: map[string]*runner{}, streamsOffered: true, ready: true}
	l.wireMarket(pollInterval)
	l.feed.subscribe("bench", feed.names()...)
	r := &runner{name: "bench", strat: c, box: newMailbox(), log: log}
	l.runners["bench"] = r
	return l, client, func() {
		sch.Close()
		srv.Close()
	}
}

// BenchmarkQuotesStream: book updates of three symbols through the market stream, the main
// loop's mailbox and a strategy; latency from the simulator's event time to OnEvent.
func BenchmarkQuotesStream(b *testing.B) {
	defer tuneGC()() // as Run sets it
	streamQuotes(b, fastFeed)
}

func streamQuotes(b *testing.B, feed benchFeed) {
	rt := &readTimer{}
	c := &collector{want: b.N, done: make(chan struct{}), since: func(q strategy.Quote) time.Duration { return time.Since(q.Time) },
		read: rt.age}
	l, _, stop := benchBot(b, c, feed, time.Hour, func(ex adapters.Exchange) adapters.Exchange { rt.Exchange = ex; return rt })
	defer stop()
	measure(b, l, c, l.runStreams)
}

// BenchmarkQuotesUnderLoad runs the stream and the REST polling paths while three goroutines
// spin on the two cores (a CPU hog: the load of a busy host). "stream-gogc100" is the stream
// at Go's default collector target, as before Run set gcPercent (gc.go): there the reader,
// throttled by the collector's mark assists, leaves book updates queued in the socket.
// "busy-host-*" spin three other processes instead (the OS, not Go, shares the cores out).
// "realistic-*" are the two paths at Binance's own rate, ten symbols each pushed every 100 ms,
// where the others push three every millisecond.
func BenchmarkQuotesUnderLoad(b *testing.B) {
	b.Run("stream", func(b *testing.B) {
		defer hog(3)()
		BenchmarkQuotesStream(b)
	})
	b.Run("stream-gogc100", func(b *testing.B) {
		defer debug.SetGCPercent(debug.SetGCPercent(100))
		defer hog(3)()
		streamQuotes(b, fastFeed)
	})
	b.Run("rest-polling", func(b *testing.B) {
		defer hog(3)()
		BenchmarkQuotesRESTPolling(b)
	})
	b.Run("busy-host-stream", func(b *testing.B) {
		defer hogProcesses(b, 3)()
		BenchmarkQuotesStream(b)
	})
	b.Run("busy-host-rest-polling", func(b *testing.B) {
		defer hogProcesses(b, 3)()
		BenchmarkQuotesRESTPolling(b)
	})
	b.Run("realistic-stream", func(b *testing.B) {
		defer tuneGC()()
		defer hog(3)()
		streamQuotes(b, realisticFeed())
	})
	b.Run("realistic-rest-polling", func(b *testing.B) {
		defer tuneGC()()
		defer hog(3)()
		restQuotes(b, realisticFeed())
	})
}

// hog starts n goroutines that spin until the returned stop is called.
func hog(n int) (stop func()) {
	var quit atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for x := 0; !quit.Load(); x++ {
				if x%1024 == 0 {
					x = 0
				}
			}
		})
	}
	return func() { quit.Store(true); wg.Wait() }
}

// hogEnv marks a process hogProcesses started.
const hogEnv = "KEEL_BENCH_CPU_HOG"

// TestCPUHogProcess is the body of the processes hogProcesses starts (this test binary again,
// with hogEnv set): it spins on a core until its stdin closes. Run as a test it skips.
func TestCPUHogProcess(t *testing.T) {
	if os.Getenv(hogEnv) == "" {
		t.Skip("the body of BenchmarkQuotesUnderLoad's busy-host hog processes")
	}
	var quit atomic.Bool
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); quit.Store(true) }()
	fmt.Println("spinning")
	for x := 0; !quit.Load(); x++ {
		if x%1024 == 0 {
			x = 0
		}
	}
	os.Exit(0)
}

// hogProcesses starts n processes that each spin on a core (a busy host: other programs, which
// the OS schedules, where hog's goroutines are Go's to schedule) and returns once they spin;
// the returned stop ends them. A process left behind ends when this one does (its stdin closes).
func hogProcesses(b *testing.B, n int) (stop func()) {
	var cmds []*exec.Cmd
	var stdins []io.Closer
	stop = func() {
		for _, in := range stdins {
			_ = in.Close()
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	}
	for range n {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCPUHogProcess$")
		cmd.Env = append(os.Environ(), hogEnv+"=1")
		in, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cmds, stdins = append(cmds, cmd), append(stdins, in)
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "spinning\n" {
			stop()
			b.Fatalf("hog process: %q, %v", line, err)
		}
	}
	return stop
}

// pollTimer stamps when each symbol's bookTicker poll was sent, so the REST path's latency
// runs from the request to OnEvent.
type pollTimer struct {
	adapters.Exchange
	mu   sync.Mutex
	sent map[string]time.Time
}

func (p *pollTimer) BookTicker(ctx context.Context, symbol string, opts ...adapters.CallOption) (adapters.BookTicker, error) {
	p.mu.Lock()
	p.sent[symbol] = time.Now()
	p.mu.Unlock()
	return p.Exchange.BookTicker(ctx, symbol, opts...)
}

// BenchmarkQuotesRESTPolling: the same quotes by polling bookTicker every millisecond through
// the scheduler (which holds the poller to the REQUEST_WEIGHT budget); latency from the
// poll's send to OnEvent.
func BenchmarkQuotesRESTPolling(b *testing.B) {
	defer tuneGC()()
	restQuotes(b, fastFeed)
}

func restQuotes(b *testing.B, feed benchFeed) {
	pt := &pollTimer{sent: map[string]time.Time{}}
	c := &collector{want: b.N, done: make(chan struct{}), since: func(q strategy.Quote) time.Duration {
		pt.mu.Lock()
		defer pt.mu.Unlock()
		return time.Since(pt.sent[q.Symbol])
	}}
	l, _, stop := benchBot(b, c, feed, time.Millisecond, func(ex adapters.Exchange) adapters.Exchange { pt.Exchange = ex; return pt })
	defer stop()
	measure(b, l, c, l.feed.run)
}

// benchPatience bounds how long measure waits for its quotes.
const benchPatience = 2 * time.Minute

// measure runs the bench strategy and source (the market stream or the REST poller) until the
// collector has b.N quotes, and reports the rate and latencies.
func measure(b *testing.B, l *Loop, c *collector, source func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	l.runners["bench"].start(ctx)
	wg.Add(1)
	go func() { defer wg.Done(); source(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	select {
	case <-c.done:
	case <-time.After(benchPatience):
		// A loop that delivers nothing (one never marked ready holds every event) must fail,
		// not hang.
		cancel()
		wg.Wait()
		c.mu.Lock()
		got := len(c.lat)
		c.mu.Unlock()
		b.Fatalf("%d of %d quotes reached the strategy in %v", got, c.want, benchPatience)
	}
	elapsed := time.Since(began)
	b.StopTimer()
	cancel()
	wg.Wait()
	<-l.runners["bench"].done
	c.report(b, elapsed)
}
