package runtime_test

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// The invariants of "Failure modes" in the README, each injected into a running bot through
// the simulator's /sim/faults.

const bookTickerPath = "/api/v3/ticker/bookTicker"

// staleWith matches a DataStatus saying the symbol is stale for a reason containing want.
func staleWith(want string) func(strategy.Event) bool {
	return func(ev strategy.Event) bool {
		s, ok := ev.(strategy.DataStatus)
		return ok && s.Stale && strings.Contains(s.Reason, want)
	}
}

func fresh(ev strategy.Event) bool {
	s, ok := ev.(strategy.DataStatus)
	return ok && !s.Stale
}

// noQuoteFor reads the probe's events for n ticks and fails on a quote that is not
// sane, or on any quote at all when none may come.
func noQuoteFor(t *testing.T, p *probe, n int, anyQuote bool) {
	t.Helper()
	p.waitFor(t, "ticks without a bad quote", func(ev strategy.Event) bool {
		if q, ok := ev.(strategy.Quote); ok && (anyQuote || !q.Valid()) {
			t.Fatalf("a quote reached the strategy: %+v", q)
		}
		if _, ok := ev.(strategy.Tick); ok {
			n--
		}
		return n <= 0
	})
}

// countLines counts log lines holding every one of subs.
func countLines(logs string, subs ...string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if containsAll(line, subs...) {
			n++
		}
	}
	return n
}

// TestInsaneQuotesAreNotData (REST polling): a book ticker with a zero bid, all zeros, or a
// crossed book is never published; the symbol is stale with the reason, logged once however
// many polls repeat it, and fresh again once the answers are sane.
func TestInsaneQuotesAreNotData(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false"), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	p.waitFor(t, "a first quote", func(ev strategy.Event) bool { _, ok := ev.(strategy.Quote); return ok })
	for _, tc := range []struct{ fault, reason string }{
		{"zero_bid", "no bid"}, {"zero", "no bid"}, {"crossed", "crossed book"},
	} {
		before := len(b.logs.String())
		b.sim.SetFaults(sim.Faults{Quote: tc.fault, Paths: []string{bookTickerPath}})
		p.waitFor(t, tc.fault+": stale naming "+tc.reason, staleWith(tc.reason))
		noQuoteFor(t, p, 20, true) // ~8 polls
		if n := countLines(b.logs.String()[before:], "market data stale", tc.reason); n != 1 {
			t.Fatalf("%s: %d stale log lines, want 1 (on the transition, not per poll):\n%s", tc.fault, n, b.logs.String())
		}
		if _, ok := p.env.Market.Quote("BTCUSDT"); ok {
			t.Fatalf("%s: Market.Quote reports a usable quote while stale", tc.fault)
		}
		b.sim.SetFaults(sim.Faults{})
		p.waitFor(t, tc.fault+": fresh again", fresh)
		p.waitFor(t, "a sane quote", func(ev strategy.Event) bool { q, ok := ev.(strategy.Quote); return ok && q.Valid() })
	}
}

// TestCrossedStreamedBookIsNotData: the streamed book resyncs from a crossed depth snapshot;
// its top is never published, the symbol stays stale naming the crossed book, and a clean
// resync makes it fresh.
func TestCrossedStreamedBookIsNotData(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe") // market.streams on
	defer b.app.RequireStop()
	p := b.probes["probe"]
	p.waitFor(t, "the streamed book synced", fresh)
	b.sim.SetFaults(sim.Faults{Quote: "crossed", Paths: []string{"/api/v3/depth"}})
	b.sim.DropStreams()
	p.waitFor(t, "stale naming the crossed book", staleWith("crossed book"))
	noQuoteFor(t, p, 20, false) // REST fills in sane quotes meanwhile; never a crossed one
	b.sim.SetFaults(sim.Faults{})
	b.sim.DropStreams()
	p.waitFor(t, "fresh after a clean resync", fresh)
}

// TestTrickledPollIsStale: a book ticker that trickles for 1.5 s makes the symbol stale within
// market.stale_after poll intervals, long before the answer ends, and the late answer is not
// published.
func TestTrickledPollIsStale(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false", "KEEL_MARKET_STALE_AFTER=4"), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	p.waitFor(t, "a first quote", func(ev strategy.Event) bool { _, ok := ev.(strategy.Quote); return ok })
	b.sim.SetFaults(sim.Faults{TrickleMS: 1500, Paths: []string{bookTickerPath}})
	began := time.Now()
	p.waitFor(t, "stale while the poll trickles", staleWith("the poll is late"))
	if took := time.Since(began); took > time.Second {
		t.Fatalf("stale after %v, want well within the 1.5 s trickle (stale_after 4 × 50ms)", took)
	}
	p.waitFor(t, "the late answer refused", func(ev strategy.Event) bool {
		if q, ok := ev.(strategy.Quote); ok {
			t.Fatalf("a trickled quote reached the strategy: %+v", q)
		}
		return time.Since(began) > 2*time.Second
	})
	if !strings.Contains(b.logs.String(), "market data stale") {
		t.Fatalf("the stale transition was not logged:\n%s", b.logs.String())
	}
	b.sim.SetFaults(sim.Faults{})
	p.waitFor(t, "fresh again", fresh)
}

// startBotWithScheduler is startBot that also hands the test the bot's scheduler.
func startBotWithScheduler(t *testing.T, dir string, env []string) (*bot, *scheduler.Scheduler) {
	t.Helper()
	var s *scheduler.Scheduler
	b := startBotWith(t, dir, env, []fx.Option{fx.Populate(&s)}, "probe")
	return b, s
}

func marketHeldFor(s *scheduler.Scheduler) time.Duration {
	snap := s.Snapshot()
	for _, bk := range snap.Buckets {
		if bk.Name == "market" && !bk.HeldUntil.IsZero() {
			return bk.HeldUntil.Sub(snap.Time)
		}
	}
	return 0
}

// errorLine returns the first log line at error level holding every one of subs.
func errorLine(logs string, subs ...string) string {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"error"`) && containsAll(line, subs...) {
			return line
		}
	}
	return ""
}

// TestAbsurdWaitsAreCapped: a 429 with Retry-After 999999999 s and a 418 "banned until" the
// year 2100 hold the market bucket no longer than scheduler.backoff.max_retry_after and
// max_ban; each hold is logged at error naming the cap, and strategies see the data stale.
func TestAbsurdWaitsAreCapped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults sim.Faults
		cap    time.Duration
		key    string
	}{
		{"retry-after", sim.Faults{ErrorRate: 1, ErrorStatus: 429, RetryAfterRaw: "999999999"}, 2 * time.Minute, "max_retry_after"},
		{"retry-after-date", sim.Faults{ErrorRate: 1, ErrorStatus: 429, RetryAfterRaw: "Fri, 31 Dec 2100 23:59:59 GMT"}, 2 * time.Minute, "max_retry_after"},
		{"ban-until", sim.Faults{ErrorRate: 1, ErrorStatus: 418, BanUntilMS: 4102444800000}, time.Hour, "max_ban"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, s := startBotWithScheduler(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false",
				"KEEL_SCHEDULER_BACKOFF_MAX_RETRY_AFTER=2m", "KEEL_SCHEDULER_BACKOFF_MAX_BAN=1h"))
			defer b.app.RequireStop()
			p := b.probes["probe"]
			p.waitFor(t, "a first quote", func(ev strategy.Event) bool { _, ok := ev.(strategy.Quote); return ok })
			tc.faults.Paths = []string{bookTickerPath}
			b.sim.SetFaults(tc.faults)
			p.waitFor(t, "stale after the refusal", func(ev strategy.Event) bool {
				s, ok := ev.(strategy.DataStatus)
				return ok && s.Stale
			})
			b.eventually(t, "the hold logged at error", 5*time.Second, func() bool {
				return errorLine(b.logs.String(), "requests held", tc.key) != ""
			})
			line := errorLine(b.logs.String(), "requests held", tc.key)
			if !containsAll(line, `"bucket":"market"`, `"asked_ms"`, `"until"`) {
				t.Fatalf("hold line lacks bucket, asked or until: %s", line)
			}
			if held := marketHeldFor(s); held <= tc.cap/2 || held > tc.cap {
				t.Fatalf("market bucket held for %v, want capped at %v", held, tc.cap)
			}
		})
	}
}

// TestAbsurdUsageIsClamped: usage headers of 999,999,999 on every book ticker leave the
// bot's REQUEST_WEIGHT window at most full, never past its announced limit.
func TestAbsurdUsageIsClamped(t *testing.T) {
	dir := t.TempDir()
	b, s := startBotWithScheduler(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false"))
	defer b.app.RequireStop()
	b.sim.SetFaults(sim.Faults{UsedWeight: 999_999_999, Paths: []string{bookTickerPath}})
	// A poll that answers after the fault makes the window full.
	var used, limit int64
	b.eventually(t, "the window full from the header", 5*time.Second, func() bool {
		for _, w := range s.Snapshot().Windows {
			if w.Name == "REQUEST_WEIGHT_1M" {
				used, limit = w.Used, w.Limit
			}
		}
		return used >= limit
	})
	if used != limit {
		t.Fatalf("REQUEST_WEIGHT used %d, want clamped to its limit %d", used, limit)
	}
}

// TestOversizedTickerIsRefused: a 1 MiB book ticker is refused by its size (the endpoint's
// bound is 64 KiB): the symbol goes stale (its polls, retried, outlast market.stale_after, so
// the watchdog says so first) and each refused attempt's event names the size.
func TestOversizedTickerIsRefused(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false"), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	p.waitFor(t, "a first quote", func(ev strategy.Event) bool { _, ok := ev.(strategy.Quote); return ok })
	b.sim.SetFaults(sim.Faults{PadBytes: 1 << 20, Paths: []string{bookTickerPath}})
	p.waitFor(t, "stale", func(ev strategy.Event) bool { s, ok := ev.(strategy.DataStatus); return ok && s.Stale })
	noQuoteFor(t, p, 10, true)
	if !containsAll(b.logs.String(), `"endpoint":"/api/v3/ticker/bookTicker"`, "answer larger than 65536 bytes") {
		t.Fatalf("no attempt event names the oversized answer:\n%s", b.logs.String())
	}
}

// TestStaleAfterRefusedNamingTheKey: market.stale_after is a number of poll intervals above 1;
// a 0 (which would silently mean the default) and a value of 1 or less are refused at start.
func TestStaleAfterRefusedNamingTheKey(t *testing.T) {
	for _, v := range []string{"0", "1", "0.5", "-2", "5000"} {
		_, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{"KEEL_MARKET_STALE_AFTER=" + v}})
		if err == nil || !strings.Contains(err.Error(), "market.stale_after") {
			t.Errorf("stale_after %s: %v, want an error naming market.stale_after", v, err)
		}
	}
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{"KEEL_MARKET_STALE_AFTER=2.5"}})
	if err != nil || c.Market.StaleAfter != 2.5 {
		t.Fatalf("stale_after 2.5: %v %v", c, err)
	}
	for _, kv := range []string{"KEEL_SCHEDULER_BACKOFF_MAX_BAN=1m", "KEEL_SCHEDULER_BACKOFF_MAX_RETRY_AFTER=0"} {
		if _, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{kv}}); err == nil || !strings.Contains(err.Error(), "scheduler.backoff.max_") {
			t.Errorf("%s: %v, want an error naming the key", kv, err)
		}
	}
}
