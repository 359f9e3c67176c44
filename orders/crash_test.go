package orders_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

// The crash test. A helper process (this test binary, re-executed with crashEnv set; see
// TestMain) runs a bot that places a deterministic sequence of intents through the real
// stack: orders.Manager → the exchange's adapter → scheduler → the simulator speaking that
// exchange's dialect, with the bbolt journal. It runs once per dialect of crashDialects
// (Binance; Coinbase, whose client_order_id is a lasting key and whose adapter settles an
// unknown create by resending it identically). The parent kills it with SIGKILL at seeded
// random instants and restarts it on the same journal, at least 30 times, while the simulator
// injects faults on the placement endpoint: 5xx before the order is applied, timeouts that
// apply it, and a 5xx that applies it (Binance's 503 -1007, Coinbase's 500). The timeouts
// alternate by run between the simulator's two modes: "drop" closes the connection without an
// answer, "hang" holds it until the client's own per-attempt timeout (crashHTTPTimeout) fires,
// so a real client-side timeout goes through the scheduler's retry probe and the manager.
//
// What "intent" means across restarts: intent i is "BUY q(i) BTCUSDT at price p(i)", where
// p is one-to-one (70000.00 + i·0.01 for orders that fill at once, 1000.00 + i·0.01 for every
// fourth, which rests; quantities 0.0001 and 0.01). The bot's only memory is the journal: after reconciling, it resumes at
// the lowest i whose journal entries show no order placed, and it places i again (under a new
// key) only when reconciliation or Refresh proved every earlier key of i absent. So the check is
// meaningful on the exchange's side alone: every price (intent) in /sim/orders appears at most
// once, every intent below the highest placed one exactly once, and every clientOrderId at
// most once.
const (
	crashEnv     = "KEEL_ORDERS_CRASH_HELPER"
	crashDialEnv = "KEEL_ORDERS_CRASH_DIALECT"
	crashURLEnv  = "KEEL_ORDERS_CRASH_URL"
	crashPathEnv = "KEEL_ORDERS_CRASH_JOURNAL"
	// crashExclusiveEnv turns on Params.ExclusiveJournal in a run's helper: runs alternate, so
	// both restart bounds (the process's start, the journalled send deadline) are exercised.
	crashExclusiveEnv = "KEEL_ORDERS_CRASH_EXCLUSIVE"
	crashKey          = "keel-crash-key"
	crashSecret       = "keel-crash-secret"
	// crashSkew is the clock error allowed; a dialect's settle time is its recvWindow plus it
	// (350 ms on Binance), the least orders.Config accepts.
	crashSkew      = 100 * time.Millisecond
	crashRecvMs    = 250
	crashKills     = 36
	crashHelperMax = 30 * time.Second
	// crashHTTPTimeout bounds one HTTP attempt: what ends a "hang".
	crashHTTPTimeout = 100 * time.Millisecond
	// crashSendTimeout is the placements' budget (orders.Config.SendTimeout), room for a hang
	// and the query after it. Scaled down with the recvWindow: a restart waits up to it plus
	// the dialect's settle time for an entry a kill left sent.
	crashSendTimeout = 300 * time.Millisecond
)

// crashLimits are raised above Binance's: 33 restarts a minute each reconcile with
// GET /api/v3/openOrders without a symbol (weight 80), and resting orders add up.
var crashLimits = sim.Limits{RequestWeight: 60000, Orders10s: 1000000, OrdersDay: 10000000}

var (
	crashTick     = decimal.RequireFromString("0.01")
	crashFillBase = decimal.RequireFromString("70000")
	crashRestBase = decimal.RequireFromString("1000")
	crashQty      = decimal.RequireFromString("0.0001") // ≈ 6.5 USDT at the market
	crashRestQty  = decimal.RequireFromString("0.01")   // 10+ USDT at 1000
)

func crashQuantity(i int) decimal.Decimal {
	if i%4 == 3 {
		return crashRestQty
	}
	return crashQty
}

func crashPrice(i int) decimal.Decimal {
	base := crashFillBase
	if i%4 == 3 {
		base = crashRestBase
	}
	return base.Add(crashTick.Mul(decimal.NewFromInt(int64(i))))
}

// crashIntent decodes an intent's index from its price, or -1.
func crashIntent(price string) int {
	p, err := decimal.NewFromString(price)
	if err != nil {
		return -1
	}
	base := crashFillBase
	if p.Cmp(decimal.RequireFromString("50000")) < 0 {
		base = crashRestBase
	}
	n := p.Sub(base).Div(crashTick)
	if !n.IsInteger() || n.Sign() < 0 {
		return -1
	}
	i := int(n.IntPart())
	if !crashPrice(i).Equal(p) {
		return -1
	}
	return i
}

// crashDialect is what the crash test needs of one exchange: its simulator, its adapter with a
// scheduler sized to the simulator's limits, and the endpoint placements go to.
type crashDialect struct {
	name string
	// simConfig is the simulator: the account, limits raised so the test is not about them.
	simConfig func() sim.Config
	// placeEndpoint is the placement's path: the faults aim at it (POST), and the scheduler's
	// attempt events name it.
	placeEndpoint string
	// newClient builds the adapter on sched's windows, each HTTP attempt bounded by
	// crashHTTPTimeout.
	newClient func(url, instance string, tr *http.Transport) (adapters.Exchange, *scheduler.Scheduler, error)
	// recvWindow is how late a signed placement can still be accepted.
	recvWindow time.Duration
	// exchangeID is the adapter's ExchangeOrderID of a simulator order.
	exchangeID func(sim.OrderRecord) string
	// lasting: the adapter declares lasting client order ids (adapters.LastingClientIDs), so
	// restarts settle young unknown entries by resending the identical create.
	lasting bool
}

// crashCoinbaseKey is a key name as Coinbase writes them; the simulator reads crashSecret as
// the seed of its Ed25519 key (sim.CoinbaseSimSeed), the adapter gets the key itself.
const crashCoinbaseKey = "organizations/keel-crash/apiKeys/keel-crash-key"

var crashDialects = []crashDialect{
	{
		name: sim.DialectBinance,
		simConfig: func() sim.Config {
			return sim.Config{Accounts: []sim.Account{{APIKey: crashKey, HMACSecret: crashSecret,
				Balances: map[string]string{"USDT": "100000000", "BTC": "10"}}}, Limits: crashLimits}
		},
		placeEndpoint: "/api/v3/order",
		newClient: func(url, instance string, tr *http.Transport) (adapters.Exchange, *scheduler.Scheduler, error) {
			// The scheduler starts with the simulator's limits, as a bot configured for its
			// account would (exchangeInfo then confirms them).
			windows := binance.SchedulerWindows()
			for i := range windows {
				switch windows[i].Name {
				case binance.WindowRequestWeight:
					windows[i].Limit = crashLimits.RequestWeight
				case binance.WindowOrders10s:
					windows[i].Limit = crashLimits.Orders10s
				case binance.WindowOrders1d:
					windows[i].Limit = crashLimits.OrdersDay
				}
			}
			sched, err := crashScheduler("binance", instance, windows, binance.SchedulerBuckets())
			if err != nil {
				return nil, nil, err
			}
			c, err := binance.New(binance.Config{BaseURL: url, APIKey: crashKey, APISecret: crashSecret,
				RecvWindow: crashRecvMs, Timeout: crashHTTPTimeout}, sched, binance.WithHTTPClient(&http.Client{Transport: tr}))
			return c, sched, err
		},
		recvWindow: crashRecvMs * time.Millisecond,
		exchangeID: func(o sim.OrderRecord) string { return fmt.Sprint(o.OrderID) },
	},
	{
		name: sim.DialectCoinbase,
		simConfig: func() sim.Config {
			return sim.Config{Dialect: sim.DialectCoinbase, Accounts: []sim.Account{{APIKey: crashCoinbaseKey, HMACSecret: crashSecret,
				Balances: map[string]string{"USDT": "100000000", "BTC": "10"}}},
				DialectConfig: sim.CoinbaseConfig{PrivateLimit: crashCoinbaseLimit, PublicLimit: crashCoinbaseLimit}}
		},
		placeEndpoint: "/api/v3/brokerage/orders",
		newClient: func(url, instance string, tr *http.Transport) (adapters.Exchange, *scheduler.Scheduler, error) {
			windows := coinbase.SchedulerWindows()
			for i := range windows {
				windows[i].Limit = crashCoinbaseLimit
			}
			sched, err := crashScheduler("coinbase", instance, windows, coinbase.SchedulerBuckets())
			if err != nil {
				return nil, nil, err
			}
			c, err := coinbase.New(coinbase.Config{BaseURL: url, APIKey: crashCoinbaseKey, APISecret: coinbase.Secret(coinbase.SimSecret(crashSecret)),
				JWTLifetime: time.Second, Timeout: crashHTTPTimeout}, sched, coinbase.WithHTTPClient(&http.Client{Transport: tr}))
			return c, sched, err
		},
		recvWindow: (&coinbase.Config{JWTLifetime: time.Second}).AcceptanceWindow(), // the shortest JWT, and its exp's rounding
		exchangeID: func(o sim.OrderRecord) string { return sim.CoinbaseOrderID(o.OrderID) },
		lasting:    true,
	},
}

// crashCoinbaseLimit raises Coinbase's 30 private requests a second: 33 restarts a minute each
// reconcile by listing orders, and the test is about crashes, not limits.
const crashCoinbaseLimit = 2000

// settle is how long after its send-by deadline "not found" proves a placement absent.
func (d crashDialect) settle() time.Duration { return d.recvWindow + crashSkew }

func crashDialectNamed(name string) (crashDialect, bool) {
	for _, d := range crashDialects {
		if d.name == name {
			return d, true
		}
	}
	return crashDialect{}, false
}

func crashScheduler(exchange, instance string, windows []scheduler.WindowConfig, buckets []scheduler.BucketConfig) (*scheduler.Scheduler, error) {
	return scheduler.New(scheduler.Config{Exchange: exchange, InstanceID: instance, Windows: windows, Buckets: buckets},
		scheduler.WithLogger(zerolog.Nop()), scheduler.WithObserver(reportTimeouts))
}

// crashStack is the bot's stack on the simulator at url with the journal at path.
type crashStack struct {
	store  *idempotency.FileStore
	sched  *scheduler.Scheduler
	client adapters.Exchange
	m      *orders.Manager
	tr     *http.Transport
}

func openCrashStack(ctx context.Context, d crashDialect, url, path, instance string, exclusive bool) (*crashStack, error) {
	store, err := idempotency.OpenFile(path)
	if err != nil {
		return nil, err
	}
	st := &crashStack{store: store, tr: &http.Transport{}}
	crashPlaceEndpoint.Store(&d.placeEndpoint)
	st.client, st.sched, err = d.newClient(url, instance, st.tr)
	if err != nil {
		st.close()
		return nil, err
	}
	keys, err := idempotency.NewKeyGenerator("kc", instance)
	if err != nil {
		st.close()
		return nil, err
	}
	// ExclusiveJournal: a killed process's flock is gone with it, so a restart need not wait
	// out the placements' send deadlines (what the runtime does for its bbolt journal).
	st.m, err = orders.New(orders.Params{Exchange: st.client, Store: store, Keys: keys, ExclusiveJournal: exclusive,
		Config: orders.Config{SettleTime: d.settle(), SendTimeout: crashSendTimeout,
			RecvWindow: d.recvWindow, ClockSkew: crashSkew}})
	if err != nil {
		st.close()
		return nil, err
	}
	// Learn the simulator's limits and symbols before anything else.
	for try := 0; ; try++ {
		if _, err = st.client.ExchangeInfo(ctx); err == nil || try == 20 {
			break
		}
		pause(ctx, 50*time.Millisecond)
	}
	if err != nil {
		st.close()
		return nil, err
	}
	return st, nil
}

// crashPlaceEndpoint is the placement endpoint of the dialect under test, for reportTimeouts.
var crashPlaceEndpoint atomic.Pointer[string]

// reportTimeouts tells the parent about every attempt on the placement endpoint (a placement,
// or on Binance a query settling one) that ended by the client's own timeout (no answer within
// crashHTTPTimeout), so the test can show the path was taken.
func reportTimeouts(ev scheduler.AttemptEvent) {
	ep := crashPlaceEndpoint.Load()
	if ep != nil && ev.Endpoint == *ep && ev.Status == 0 && ev.Latency >= crashHTTPTimeout {
		fmt.Printf("timeout %s\n", ev.Method)
	}
}

func (st *crashStack) close() {
	if st.sched != nil {
		st.sched.Close()
	}
	st.tr.CloseIdleConnections()
	st.store.Close()
}

// pause paces the helper's loop (it is the bot's own backoff, not a test waiting for
// something).
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// reconcileUntilDone retries Reconcile (it is idempotent) until every entry is settled.
func (st *crashStack) reconcileUntilDone(ctx context.Context) (orders.Reconciliation, error) {
	var err error
	for try := 0; try < 100; try++ {
		var sum orders.Reconciliation
		if sum, err = st.m.Reconcile(ctx); err == nil {
			return sum, nil
		}
		pause(ctx, 50*time.Millisecond)
	}
	return orders.Reconciliation{}, err
}

// placedIntents reads the journal: which intents have an order at the exchange.
func placedIntents(ctx context.Context, store idempotency.Store) (map[int]bool, error) {
	all, err := store.List(ctx)
	if err != nil {
		return nil, err
	}
	placed := map[int]bool{}
	for _, e := range all {
		if entryPlaced(e) {
			placed[crashIntent(e.Intent.Price)] = true
		}
	}
	return placed, nil
}

// entryPlaced reports whether a settled entry says the exchange holds (or held) its order.
func entryPlaced(e idempotency.Entry) bool {
	return e.State == idempotency.StateAcked ||
		e.State == idempotency.StateResolved && e.OrderStatus != "" && e.OrderStatus != string(adapters.StatusRejected)
}

// runCrashHelper is the helper process's main: reconcile, then place intents until killed.
func runCrashHelper() int {
	ctx, cancel := context.WithTimeout(context.Background(), crashHelperMax)
	defer cancel()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "crash helper: "+format+"\n", args...)
		return 2
	}
	d, ok := crashDialectNamed(os.Getenv(crashDialEnv))
	if !ok {
		return fail("no crash dialect %q", os.Getenv(crashDialEnv))
	}
	st, err := openCrashStack(ctx, d, os.Getenv(crashURLEnv), os.Getenv(crashPathEnv), "h1", os.Getenv(crashExclusiveEnv) == "1")
	if err != nil {
		return fail("start: %v", err)
	}
	defer st.close()
	sum, err := st.reconcileUntilDone(ctx)
	if err != nil {
		return fail("reconcile: %v", err)
	}
	placed, err := placedIntents(ctx, st.store)
	if err != nil {
		return fail("journal: %v", err)
	}
	i := 0
	for placed[i] {
		i++
	}
	fmt.Printf("ready %d %d %d %d\n", i, sum.Found, sum.NotPlaced, sum.Resent)
	for ctx.Err() == nil {
		o, err := st.m.Place(ctx, orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
			Quantity: crashQuantity(i), Price: crashPrice(i), Strategy: "crash"})
		switch {
		case err == nil:
			fmt.Printf("placed %d %s\n", i, o.ClientOrderID)
			i++
		case errors.Is(err, scheduler.ErrUnknownOutcome):
			// Never place it again blindly: poll until the manager settles it.
			for ctx.Err() == nil {
				pause(ctx, d.settle()/4)
				_ = st.m.Refresh(ctx)
				e, gerr := st.store.Get(ctx, o.ClientOrderID)
				if gerr != nil || e.State.Unresolved() {
					continue
				}
				if entryPlaced(e) {
					fmt.Printf("placed %d %s\n", i, o.ClientOrderID)
					i++
				}
				break
			}
		case errors.Is(err, orders.ErrInvalidIntent):
			return fail("intent %d: %v", i, err)
		default:
			// Refused before it could land (breaker, rate limit, rejection): same intent again.
			fmt.Fprintf(os.Stderr, "intent %d refused: %v\n", i, err)
			pause(ctx, 20*time.Millisecond)
		}
	}
	return 0
}

// helperRun is one life of the helper process.
type helperRun struct {
	cmd    *exec.Cmd
	ready  chan struct{}
	exited chan struct{}
	mu     sync.Mutex
	placed int
	// timeouts counts attempts on /api/v3/order that ended by the client's own timeout, by
	// method (POST: placements, GET: queries).
	timeouts map[string]int
	found    int // unresolved entries the restart's reconciliation found on the exchange
	absent   int // and those it resolved as never placed
	resent   int // of those found, settled by resending the identical create (lasting client ids)
	stderr   strings.Builder
}

func startHelper(t *testing.T, d crashDialect, url, path string, exclusive bool) *helperRun {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"=1", crashDialEnv+"="+d.name, crashURLEnv+"="+url, crashPathEnv+"="+path,
		fmt.Sprintf("%s=%d", crashExclusiveEnv, boolInt(exclusive)))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &helperRun{cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{}), timeouts: map[string]int{}}
	cmd.Stderr = &lockedWriter{mu: &r.mu, w: &r.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			switch {
			case strings.HasPrefix(sc.Text(), "ready"):
				var next int
				r.mu.Lock()
				_, _ = fmt.Sscanf(sc.Text(), "ready %d %d %d %d", &next, &r.found, &r.absent, &r.resent)
				r.mu.Unlock()
				close(r.ready)
			case strings.HasPrefix(sc.Text(), "placed"):
				r.mu.Lock()
				r.placed++
				r.mu.Unlock()
			case strings.HasPrefix(sc.Text(), "timeout "):
				r.mu.Lock()
				r.timeouts[strings.TrimPrefix(sc.Text(), "timeout ")]++
				r.mu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<16 {
		return len(p), nil
	}
	return l.w.Write(p)
}

func TestPlaceSurvivesCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 30+ processes")
	}
	for _, d := range crashDialects {
		t.Run(d.name, func(t *testing.T) { placeSurvivesCrashes(t, d) })
	}
}

func placeSurvivesCrashes(t *testing.T, d crashDialect) {
	start := time.Now()
	cfg := d.simConfig()
	cfg.Seed = 7
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	faults := sim.Faults{ErrorRate: 0.05, TimeoutRate: 0.08, UnknownRate: 0.08, HangMS: 5000,
		Paths: []string{d.placeEndpoint}}
	path := filepath.Join(t.TempDir(), "journal.db")

	rng := rand.New(rand.NewPCG(20260301, 4))
	kills, reported := 0, 0
	timeouts := map[string]int{}
	var readyIn time.Duration
	foundAtRestart, absentAtRestart, resentAtRestart := 0, 0, 0
	for run := 0; kills < crashKills; run++ {
		if run > 3*crashKills {
			t.Fatalf("only %d kills in %d runs", kills, run)
		}
		faults.TimeoutMode = []string{"drop", "hang"}[run%2]
		s.SetFaults(faults)
		h := startHelper(t, d, s.URL(), path, run/2%2 == 0) // with each timeout mode
		// Most kills land while the bot places orders; every fifth lands anywhere, start-up
		// and reconciliation included.
		spawned := time.Now()
		if run%5 != 4 {
			select {
			case <-h.ready:
			case <-h.exited:
			}
		}
		readyIn += time.Since(spawned)
		delay := time.Duration(rng.Int64N(int64(400 * time.Millisecond)))
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
			_ = h.cmd.Process.Signal(syscall.SIGKILL)
			<-h.exited
			kills++
		case <-h.exited:
			timer.Stop()
			h.mu.Lock()
			msg := h.stderr.String()
			h.mu.Unlock()
			t.Fatalf("helper exited by itself: %v\n%s", h.cmd.ProcessState, msg)
		}
		h.mu.Lock()
		reported += h.placed
		for m, n := range h.timeouts {
			timeouts[m] += n
		}
		foundAtRestart += h.found
		absentAtRestart += h.absent
		resentAtRestart += h.resent
		h.mu.Unlock()
	}

	// The final restart: no faults, reconcile, and compare with the exchange.
	s.SetFaults(sim.Faults{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := openCrashStack(ctx, d, s.URL(), path, "p1", false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if _, err := st.reconcileUntilDone(ctx); err != nil {
		t.Fatal(err)
	}

	res, err := http.Get(s.URL() + "/sim/orders")
	if err != nil {
		t.Fatal(err)
	}
	var simOrders []sim.OrderRecord
	err = json.NewDecoder(res.Body).Decode(&simOrders)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]sim.OrderRecord{}
	byIntent := map[int][]string{}
	maxIntent := -1
	duplicates := 0
	for _, o := range simOrders {
		if _, dup := byKey[o.ClientOrderID]; dup {
			duplicates++
			t.Errorf("client order id %s placed twice", o.ClientOrderID)
		}
		byKey[o.ClientOrderID] = o
		i := crashIntent(o.Price)
		if i < 0 {
			t.Fatalf("an order no intent asked for: %+v", o)
		}
		byIntent[i] = append(byIntent[i], o.ClientOrderID)
		maxIntent = max(maxIntent, i)
	}
	for i := 0; i <= maxIntent; i++ {
		switch n := len(byIntent[i]); {
		case n > 1:
			duplicates++
			t.Errorf("intent %d has %d orders: %v", i, n, byIntent[i])
		case n == 0:
			t.Errorf("intent %d was skipped", i)
		}
	}

	entries, err := st.store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	journaled := map[string]bool{}
	notPlaced := 0
	for _, e := range entries {
		journaled[e.Key] = true
		o, onExchange := byKey[e.Key]
		switch {
		case e.State.Unresolved() || e.State == idempotency.StateRejected:
			t.Errorf("entry %s still %s after reconciliation", e.Key, e.State)
		case entryPlaced(e):
			if !onExchange || o.Status != e.OrderStatus || d.exchangeID(o) != e.ExchangeOrderID {
				t.Errorf("journal %s (%s %s, order %s) disagrees with the exchange: %+v (there %v)",
					e.Key, e.State, e.OrderStatus, e.ExchangeOrderID, o, onExchange)
			}
		default:
			notPlaced++
			if onExchange {
				t.Errorf("journal says %s was never placed, the exchange holds %+v", e.Key, o)
			}
		}
	}
	for key := range byKey {
		if !journaled[key] {
			t.Errorf("order %s at the exchange has no journal entry", key)
		}
	}
	stats := fmt.Sprintf("kills %d, intents %d, orders at the exchange %d, journal entries %d (%d resolved as never placed), placements reported before kills %d, duplicates %d, %s",
		kills, maxIntent+1, len(simOrders), len(entries), notPlaced, reported, duplicates, time.Since(start).Round(time.Millisecond))
	t.Log(stats)
	t.Logf("restarts' reconciliations: %d in-flight entries found placed (%d of them by resending the identical create), %d proven absent; mean time from spawn to ready %s",
		foundAtRestart, resentAtRestart, absentAtRestart, readyIn/time.Duration(kills))
	// Where client ids are lasting, restarts resend young entries' creates (and the checks above
	// found no duplicate); elsewhere they never resend.
	if d.lasting != (resentAtRestart > 0) {
		t.Errorf("%d entries settled by resending at restarts on %s (lasting client ids: %v)", resentAtRestart, d.name, d.lasting)
	}
	t.Logf("attempts on %s ended by the client's own timeout: %d placements, %d queries",
		d.placeEndpoint, timeouts[http.MethodPost], timeouts[http.MethodGet])
	if timeouts[http.MethodPost]+timeouts[http.MethodGet] == 0 {
		t.Errorf("no attempt on %s ended by the client's own timeout: the hang mode was not exercised", d.placeEndpoint)
	}
	ss := s.Stats()
	t.Logf("simulator: %d requests, %d answered 429, %d 418, %d orders created from %d placement requests",
		ss.Total.Requests, ss.Total.Status429, ss.Total.Status418, ss.Total.OrdersCreated, ss.Endpoints["POST "+d.placeEndpoint].Requests)
	if len(simOrders) < 2*crashKills {
		t.Errorf("too few orders for a meaningful test: %s", stats)
	}
}
