package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

type syncBuffer = syncbuf.Buffer

// probe is a strategy the test drives: it hands its Env to the test and forwards its events.
type probe struct {
	env    strategy.Env
	events chan strategy.Event
	panics bool
	armed  atomic.Bool // panics on its next tick
}

func (p *probe) OnEvent(ctx context.Context, ev strategy.Event) error {
	if p.panics || p.armed.Load() {
		if _, ok := ev.(strategy.Tick); ok {
			panic("probe: deliberate panic")
		}
	}
	select {
	case p.events <- ev:
	default: // the test reads what it needs; never block the runner
	}
	return nil
}

// bot is one in-process Keel with its embedded simulator.
type bot struct {
	app     *fxtest.App
	sim     *sim.Server
	sw      *killswitch.Switch
	journal idempotency.Store
	probes  map[string]*probe
	logs    *syncBuffer
	dir     string
}

// botEnv is the environment of a test bot: files in dir, fast ticks, an ephemeral admin port.
func botEnv(dir string, extra ...string) []string {
	return append([]string{
		"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"),
		"KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"),
		"KEEL_ADMIN_LISTEN=127.0.0.1:0",
		"KEEL_MARKET_TICK=20ms",
		"KEEL_MARKET_POLL_INTERVAL=50ms",
		"KEEL_LOG_FORMAT=json",
		"KEEL_BOT_INSTANCE_ID=t1",
		"KEEL_SHUTDOWN_CANCEL_OPEN_ORDERS=false",
	}, extra...)
}

// startBot starts Keel with probe strategies named names (a name ending in "!" panics on its
// first tick) and waits until every probe has its environment.
func startBot(t *testing.T, dir string, env []string, names ...string) *bot {
	t.Helper()
	return startBotWith(t, dir, env, nil, names...)
}

func startBotWith(t *testing.T, dir string, env []string, extra []fx.Option, names ...string) *bot {
	t.Helper()
	b := &bot{probes: map[string]*probe{}, logs: &syncBuffer{}, dir: dir}
	var ex adapters.Exchange
	opts := extra
	started := make(chan string, len(names))
	for _, n := range names {
		panics := n[len(n)-1] == '!'
		if panics {
			n = n[:len(n)-1]
		}
		p := &probe{events: make(chan strategy.Event, 1024), panics: panics}
		b.probes[n] = p
		opts = append(opts, strategy.Module(n, func(env strategy.Env, _ struct{}) (strategy.Strategy, error) {
			p.env = env
			env.Market.Subscribe("BTCUSDT")
			started <- n
			return p, nil
		}))
	}
	opts = append(opts,
		runtime.WithLoadOptions(runtime.LoadOptions{Environ: env}),
		runtime.WithLogOutput(b.logs),
		fx.Populate(&ex, &b.sw, &b.journal),
	)
	b.app = fxtest.New(t, append([]fx.Option{runtime.Module, fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {})}, opts...)...)
	b.app.RequireStart()
	if e, ok := ex.(interface{ Server() *sim.Server }); ok {
		b.sim = e.Server() // the embedded simulator (exchange.name sim)
	}
	for range names {
		select {
		case <-started:
		case <-time.After(20 * time.Second):
			t.Fatalf("strategies did not start; logs:\n%s", b.logs.String())
		}
	}
	return b
}

// waitFor reads a probe's events until match returns true.
func (p *probe) waitFor(t *testing.T, what string, match func(strategy.Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-p.events:
			if match(ev) {
				return
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func ticks(n int) func(strategy.Event) bool {
	return func(ev strategy.Event) bool {
		if _, ok := ev.(strategy.Tick); ok {
			n--
		}
		return n <= 0
	}
}

// eventually checks cond on every tick of the bot (its own clock paces the checks) until it
// holds, and fails with what and the bot's logs if it does not within timeout.
func (b *bot) eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	p := b.anyProbe()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; logs:\n%s", timeout, what, b.logs.String())
		}
		p.waitFor(t, "a tick", ticks(1))
	}
}

func (b *bot) anyProbe() *probe {
	for _, p := range b.probes {
		return p
	}
	panic("bot without a probe")
}

// externalSim is a simulator of the test's own on loopback (a bot reaches it through
// exchange.base_url), closed when the test ends.
func externalSim(t *testing.T, cfg sim.Config) *sim.Server {
	t.Helper()
	srv, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// liveAtSim counts the orders resting at the simulator.
func liveAtSim(s *sim.Server) int {
	live := 0
	for _, o := range s.Orders() {
		if o.Status == "NEW" {
			live++
		}
	}
	return live
}

func buyIntent() strategy.Intent {
	return strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: decimal.RequireFromString("0.001"), Price: decimal.RequireFromString("30000")}
}

func ordersAtSim(s *sim.Server) int { return len(s.Orders()) }

// waitHalted blocks until the switch reports want, and returns how long that took.
func waitHalted(t *testing.T, sw *killswitch.Switch, want bool) time.Duration {
	t.Helper()
	start := time.Now()
	changed := make(chan struct{}, 1)
	unsubscribe := sw.OnChange(func(killswitch.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer unsubscribe()
	for {
		if halted, _ := sw.Halted(); halted == want {
			return time.Since(start)
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatalf("kill switch never became halted=%v", want)
		}
	}
}

func TestKillSwitchHaltsByFileAndSignalAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	p := b.probes["probe"]
	ctx := context.Background()

	resting, err := p.env.Orders.Place(ctx, buyIntent())
	if err != nil {
		t.Fatalf("place before halt: %v", err)
	}

	// Halt by file, as `keel halt` or an operator's touch would.
	other, err := killswitch.File(filepath.Join(dir, "KILLSWITCH"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Trip(ctx, killswitch.Reason{Who: "test", Why: "file halt"}); err != nil {
		t.Fatal(err)
	}
	if took := waitHalted(t, b.sw, true); took > time.Second {
		t.Fatalf("halt by file took %v, want < 1s", took)
	}
	if !containsAll(b.logs.String(), `"level":"error"`, "trading halted", "file halt (by test") {
		t.Fatalf("the halt and its reason were not logged:\n%s", b.logs.String())
	}
	before := ordersAtSim(b.sim)
	journalled := func() int {
		entries, err := b.journal.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	entriesBefore := journalled()
	for i := range 5 {
		_, err := p.env.Orders.Place(ctx, buyIntent())
		if !errors.Is(err, killswitch.ErrHalted) {
			t.Fatalf("place %d while halted: err = %v, want ErrHalted", i, err)
		}
	}
	if got := ordersAtSim(b.sim); got != before {
		t.Fatalf("%d orders reached the simulator while halted", got-before)
	}
	if n := journalled() - entriesBefore; n != 0 {
		t.Fatalf("refused placements journalled %d intents while halted", n)
	}
	// Cancels still go out while halted.
	if err := p.env.Orders.Cancel(ctx, "BTCUSDT", resting.ClientOrderID); err != nil {
		t.Fatalf("cancel while halted: %v", err)
	}
	for _, o := range b.sim.Orders() {
		if o.ClientOrderID == resting.ClientOrderID && o.Status != "CANCELED" {
			t.Fatalf("order %s is %s at the simulator, want CANCELED", o.ClientOrderID, o.Status)
		}
	}

	// Resume by deleting the file.
	if err := os.Remove(filepath.Join(dir, "KILLSWITCH")); err != nil {
		t.Fatal(err)
	}
	// The switch polls its file every 250 ms; the slack covers a loaded CI machine under -race.
	if took := waitHalted(t, b.sw, false); took > 750*time.Millisecond {
		t.Fatalf("resume by deleting the file took %v, want about the 250 ms poll interval", took)
	}
	if _, err := p.env.Orders.Place(ctx, buyIntent()); err != nil {
		t.Fatalf("place after resume: %v", err)
	}

	// SIGUSR1 trips it (the runtime registered the handler at start).
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if took := waitHalted(t, b.sw, true); took > time.Second {
		t.Fatalf("halt by signal took %v, want < 1s", took)
	}
	if _, err := os.Stat(filepath.Join(dir, "KILLSWITCH")); err != nil {
		t.Fatalf("SIGUSR1 must create the kill switch file: %v", err)
	}
	before = ordersAtSim(b.sim)
	if _, err := p.env.Orders.Place(ctx, buyIntent()); !errors.Is(err, killswitch.ErrHalted) {
		t.Fatalf("place after SIGUSR1: err = %v, want ErrHalted", err)
	}
	if got := ordersAtSim(b.sim); got != before {
		t.Fatalf("an order reached the simulator after SIGUSR1")
	}
	b.app.RequireStop()

	// A process that starts while the file exists starts halted.
	b2 := startBot(t, dir, botEnv(dir), "probe")
	if halted, reason := b2.sw.Halted(); !halted || reason.Why == "" {
		t.Fatalf("restart: halted=%v reason=%+v", halted, reason)
	}
	if _, err := b2.probes["probe"].env.Orders.Place(ctx, buyIntent()); !errors.Is(err, killswitch.ErrHalted) {
		t.Fatalf("place after restart while halted: %v", err)
	}
	if n := ordersAtSim(b2.sim); n != 0 {
		t.Fatalf("a restarted halted bot sent %d orders", n)
	}
	b2.app.RequireStop()
}

func TestPanickingStrategyDoesNotStopTheOthersEndToEnd(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "calm", "wild!")
	// The calm strategy keeps getting ticks long after the wild one panicked on its first.
	b.probes["calm"].waitFor(t, "20 ticks", ticks(20))
	b.app.RequireStop()
	if !containsAll(b.logs.String(), "deliberate panic", "strategy panicked") {
		t.Fatalf("the panic was not logged:\n%s", b.logs.String())
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestCancelOnTripFlattensOpenOrders(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_KILLSWITCH_CANCEL_ON_TRIP=true"), "probe")
	ctx := context.Background()
	var ids []string
	for range 3 {
		o, err := b.probes["probe"].env.Orders.Place(ctx, buyIntent())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, o.ClientOrderID)
	}
	if err := b.sw.Trip(ctx, killswitch.Reason{Who: "test", Why: "flatten"}); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "no order live at the simulator after the trip", 5*time.Second, func() bool { return liveAtSim(b.sim) == 0 })
	b.app.RequireStop()
}

func TestAdminEndpoints(t *testing.T) {
	dir := t.TempDir()
	var admin *runtime.AdminServer
	b := startBotWith(t, dir, botEnv(dir), []fx.Option{fx.Populate(&admin)}, "probe")
	if _, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent()); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + admin.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if err := b.sw.Trip(context.Background(), killswitch.Reason{Who: "ops", Why: "maintenance"}); err != nil {
		t.Fatal(err)
	}
	// Halted is not ok: a 503 that says so and why.
	if code, body := get("/healthz"); code != 503 || !strings.HasPrefix(body, "halted: maintenance (by ops") {
		t.Fatalf("/healthz while halted: %d %s", code, body)
	}
	code, body := get("/metrics")
	if code != 200 || !containsAll(body, "keel_request_attempts_total", `endpoint="/api/v3/order"`, "keel_killswitch_halted 1",
		"keel_requests_inflight", "keel_queue_depth", "keel_breaker_state", "keel_orders_unknown_outcome_total",
		// Series an alert is written against exist at zero before the first retry or 429.
		`keel_request_retries_total{bucket="orders",reason="rate_limit"} 0`,
		`keel_request_retries_total{bucket="account",reason="transient"} 0`,
		`keel_rate_limited_total{bucket="orders",status="429"} 0`,
		`keel_rate_limited_total{bucket="market",status="418"} 0`,
		`keel_strategy_panics_total{strategy="probe"} 0`,
		// The placement above, and the other outcomes at zero.
		`keel_orders_total{outcome="placed"} 1`, `keel_orders_total{outcome="unknown"} 0`,
		`keel_orders_total{outcome="resent"} 0`, `keel_orders_total{outcome="adopted"} 0`) {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	code, body = get("/status")
	var st struct {
		KillSwitch struct {
			Halted bool
			Reason struct{ Who, Why string }
		} `json:"kill_switch"`
		Scheduler struct {
			Windows  []map[string]any `json:"windows"`
			Breakers []map[string]any `json:"breakers"`
			Buckets  []map[string]any `json:"buckets"`
			Retry    struct {
				FirstAttempts int64 `json:"first_attempts"`
				Allowed       int64 `json:"allowed"`
			} `json:"retry_budget"`
		} `json:"scheduler"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("/status: %d %v\n%s", code, err, body)
	}
	if !st.KillSwitch.Halted || st.KillSwitch.Reason.Why != "maintenance" || len(st.Scheduler.Windows) == 0 ||
		len(st.Scheduler.Breakers) == 0 || len(st.Scheduler.Buckets) == 0 ||
		st.Scheduler.Retry.FirstAttempts == 0 || st.Scheduler.Retry.Allowed == 0 {
		t.Fatalf("/status lacks state: %s", body)
	}
	b.app.RequireStop()
}

// TestShutdownCancelsOpenOrdersWhenConfigured: with shutdown.cancel_open_orders the bot's
// resting orders are cancelled at the exchange before it exits; without it they stay.
func TestShutdownCancelsOpenOrdersWhenConfigured(t *testing.T) {
	for _, cancelOnExit := range []bool{true, false} {
		t.Run(fmt.Sprintf("cancel_open_orders=%v", cancelOnExit), func(t *testing.T) {
			dir := t.TempDir()
			b := startBot(t, dir, botEnv(dir, fmt.Sprintf("KEEL_SHUTDOWN_CANCEL_OPEN_ORDERS=%v", cancelOnExit)), "probe")
			for range 3 {
				if _, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent()); err != nil {
					t.Fatal(err)
				}
			}
			b.app.RequireStop()
			live := 0
			for _, o := range b.sim.Orders() {
				if o.Status == "NEW" {
					live++
				}
			}
			if want := map[bool]int{true: 0, false: 3}[cancelOnExit]; live != want {
				t.Fatalf("%d orders live at the simulator after shutdown, want %d", live, want)
			}
		})
	}
}

// TestSecretsNeverReachTheLog runs a bot with distinctive credentials against a simulator on
// loopback, through orders, cancels, 5xx faults, the WebSocket API and an auth failure, and
// looks for the secret, the key and any request signature in everything it logged.
func TestSecretsNeverReachTheLog(t *testing.T) {
	const key, secret = "KeelTestApiKeyQ7mZ2xV9wL4", "KeelTestSecretP3nR8tY6uK1hJ5"
	srv := externalSim(t, sim.Config{Seed: 7, APIKey: key, APISecret: secret})
	dir := t.TempDir()
	ws := "ws://" + srv.Addr().String()
	b := startBot(t, dir, botEnv(dir,
		"KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL="+srv.URL(), "KEEL_EXCHANGE_STREAM_URL="+ws, "KEEL_EXCHANGE_WS_API_URL="+ws+"/ws-api/v3",
		"KEEL_EXCHANGE_API_KEY="+key, "KEEL_EXCHANGE_API_SECRET="+secret, "KEEL_LOG_LEVEL=debug"), "probe")
	p := b.probes["probe"]
	ctx := context.Background()
	o, err := p.env.Orders.Place(ctx, buyIntent())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.env.Orders.Cancel(ctx, "BTCUSDT", o.ClientOrderID); err != nil {
		t.Fatal(err)
	}
	srv.SetFaults(sim.Faults{ErrorRate: 1, Paths: []string{"/api/v3/account"}})
	p.waitFor(t, "ticks under faults", ticks(10))
	srv.SetFaults(sim.Faults{})
	if err := srv.RevokeKey(key); err != nil {
		t.Fatal(err)
	}
	if _, err := p.env.Orders.Place(ctx, buyIntent()); err == nil {
		t.Fatal("an order with a revoked key succeeded")
	}
	waitHalted(t, b.sw, true)
	if _, r := b.sw.Halted(); r.Who != "auto" || !strings.Contains(r.Why, "-2015") {
		t.Fatalf("kill-switch reason %+v does not name the auth failure", r)
	}
	b.app.RequireStop()
	out := b.logs.String()
	if !strings.Contains(out, "-2015") {
		t.Fatalf("the auth failure was not logged:\n%s", out)
	}
	for _, leak := range []string{secret, key} {
		if strings.Contains(out, leak) {
			t.Fatalf("the log carries %q", leak)
		}
	}
	// A signature in a REST query (signature=...) or in the WebSocket API's JSON params
	// ("signature":"..."), escaped or not inside a message.
	if m := regexp.MustCompile(`signature(=|\\?"\s*:)`).FindString(out); m != "" {
		t.Fatalf("the log carries a request signature (%q)", m)
	}
}

// TestFeesAndStandingAreCachedAndShared: strategies read the account's fees and standing
// without costing a request each: ten concurrent Fees calls are one commission request, a
// second round within the TTL none, and the standing comes with the balance refresh.
func TestFeesAndStandingAreCachedAndShared(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	commissions := func() int64 { return b.sim.Stats().Endpoints["GET /api/v3/account/commission"].Requests }
	for round := range 2 {
		var wg sync.WaitGroup
		rates := make([]adapters.TradingFees, 10)
		for i := range rates {
			wg.Go(func() {
				var err error
				if rates[i], err = p.env.Market.Fees(context.Background(), "BTCUSDT"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := commissions(); n != 1 {
			t.Fatalf("round %d: %d commission requests for 10 callers, want 1", round, n)
		}
		for _, r := range rates {
			if r.Symbol != "BTCUSDT" || !r.Standard.Maker.IsPositive() || !r.Rate(false, adapters.Buy).Equal(rates[0].Rate(false, adapters.Buy)) {
				t.Fatalf("fees %+v", r)
			}
		}
	}
	acct, ok := p.env.Portfolio.Account()
	if !ok || !acct.CanTrade || !acct.Permitted("SPOT") || len(acct.Balances) == 0 {
		t.Fatalf("standing %+v (known %v)", acct, ok)
	}
}

// TestAccountThatCannotTradeIsReported: when the exchange says the account may not trade, the
// operator reads it in one error line at start-up, and strategies see it in the standing.
func TestAccountThatCannotTradeIsReported(t *testing.T) {
	const key, secret = "frozenKey", "frozenSecret"
	srv := externalSim(t, sim.Config{Seed: 3, Accounts: []sim.Account{{APIKey: key, HMACSecret: secret, TradingDisabled: true}}})
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false", "KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL="+srv.URL(),
		"KEEL_EXCHANGE_API_KEY="+key, "KEEL_EXCHANGE_API_SECRET="+secret), "probe")
	acct, ok := b.probes["probe"].env.Portfolio.Account()
	b.app.RequireStop()
	if !ok || acct.CanTrade {
		t.Fatalf("standing %+v (known %v), want canTrade false", acct, ok)
	}
	var reported bool
	for _, line := range strings.Split(b.logs.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) && strings.Contains(line, "cannot trade") {
			reported = true
		}
	}
	if !reported {
		t.Fatalf("no error line says the account cannot trade:\n%s", b.logs.String())
	}
}

// TestAuthFailureHaltsAndFlattens: the exchange refuses the key for new orders (401 -2015)
// while cancels still work. The first refusal trips the kill switch with the exchange's code
// in the reason, cancel_on_trip flattens every resting order through the open auth breaker,
// and nothing new reaches the exchange.
func TestAuthFailureHaltsAndFlattens(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_KILLSWITCH_CANCEL_ON_TRIP=true"), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	ctx := context.Background()
	for range 3 {
		if _, err := p.env.Orders.Place(ctx, buyIntent()); err != nil {
			t.Fatal(err)
		}
	}
	b.sim.SetFaults(sim.Faults{AuthErrorRate: 1, Paths: []string{"/api/v3/order"}, Methods: []string{http.MethodPost}})
	if _, err := p.env.Orders.Place(ctx, buyIntent()); err == nil {
		t.Fatal("a placement refused with -2015 succeeded")
	}
	waitHalted(t, b.sw, true)
	if _, r := b.sw.Halted(); r.Who != "auto" || !strings.Contains(r.Why, "-2015") {
		t.Fatalf("kill-switch reason %+v does not name the exchange's code", r)
	}
	b.eventually(t, "no order live after an auth trip with cancel_on_trip", 10*time.Second, func() bool { return liveAtSim(b.sim) == 0 })
	before := ordersAtSim(b.sim)
	if _, err := p.env.Orders.Place(ctx, buyIntent()); !errors.Is(err, killswitch.ErrHalted) {
		t.Fatalf("place after the auth trip: %v, want ErrHalted", err)
	}
	if ordersAtSim(b.sim) != before {
		t.Fatal("an order reached the exchange after the auth trip")
	}
}

// TestFillsWhileDownReachTheStrategy: an order that filled while the bot was down is applied
// at start-up and its strategy hears of it as an order update, before anything live.
func TestFillsWhileDownReachTheStrategy(t *testing.T) {
	srv := externalSim(t, sim.Config{Seed: 3, APIKey: "k", APISecret: "s"})
	dir := t.TempDir()
	ws := "ws://" + srv.Addr().String()
	env := botEnv(dir, "KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL="+srv.URL(), "KEEL_EXCHANGE_STREAM_URL="+ws,
		"KEEL_EXCHANGE_WS_API_URL="+ws+"/ws-api/v3", "KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=s")
	b := startBot(t, dir, env, "probe")
	resting, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent())
	if err != nil {
		t.Fatal(err)
	}
	b.app.RequireStop()

	if err := srv.SetPrice("BTCUSDT", "29000"); err != nil { // the resting buy at 30000 fills
		t.Fatal(err)
	}
	filled := false
	for _, o := range srv.Orders() {
		filled = filled || (o.ClientOrderID == resting.ClientOrderID && o.Status == "FILLED")
	}
	if !filled {
		t.Fatalf("the simulator did not fill %s: %+v", resting.ClientOrderID, srv.Orders())
	}

	b2 := startBot(t, dir, env, "probe")
	defer b2.app.RequireStop()
	b2.probes["probe"].waitFor(t, "the fill that happened while the bot was down", func(ev strategy.Event) bool {
		u, ok := ev.(strategy.OrderUpdate)
		return ok && u.Order.ClientOrderID == resting.ClientOrderID && u.Order.Status == adapters.StatusFilled &&
			u.Filled.Equal(resting.Quantity)
	})
	if open := b2.probes["probe"].env.Orders.Open(); len(open) != 0 {
		t.Fatalf("open after restart: %+v", open)
	}
}

// TestJournalIsCompactedWhileRunning: resolved entries past orders.retention leave the
// journal while the bot runs, not only at its next start.
func TestJournalIsCompactedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_ORDERS_RETENTION=300ms"), "probe")
	defer b.app.RequireStop()
	ctx := context.Background()
	p := b.probes["probe"]
	o, err := p.env.Orders.Place(ctx, buyIntent())
	if err != nil {
		t.Fatal(err)
	}
	live, err := p.env.Orders.Place(ctx, buyIntent())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.env.Orders.Cancel(ctx, "BTCUSDT", o.ClientOrderID); err != nil {
		t.Fatal(err)
	}
	has := func(key string) bool {
		_, err := b.journal.Get(ctx, key)
		return err == nil
	}
	b.eventually(t, "the cancelled order's entry compacted away", 10*time.Second, func() bool {
		return !has(o.ClientOrderID)
	})
	if !has(live.ClientOrderID) {
		t.Fatal("compaction dropped the entry of an order still open")
	}
}

// TestAttemptEventsHaveExactlyTheStableFields: the running bot's per-attempt events carry
// exactly docs/architecture.md's fields (the seed's 16 and issue 19's four), nothing the
// runtime's loggers add.
func TestAttemptEventsHaveExactlyTheStableFields(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	if _, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent()); err != nil {
		t.Fatal(err)
	}
	b.app.RequireStop()
	want := strings.Fields("ts bot_instance_id exchange endpoint method status error_code error_message request_id " +
		"attempt latency_ms rate_limit_bucket concurrency_inflight retry_reason delay_ms idempotency_key " +
		"failure_class weight queue_wait_ms retry_after_ms")
	events := 0
	for _, line := range strings.Split(b.logs.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil || ev["rate_limit_bucket"] == nil || ev["event"] != nil {
			continue // not an attempt event (named events carry "event")
		}
		events++
		if len(ev) != len(want) {
			t.Fatalf("attempt event with %d fields, want %d: %s", len(ev), len(want), line)
		}
		for _, k := range want {
			if _, ok := ev[k]; !ok {
				t.Fatalf("attempt event without %s: %s", k, line)
			}
		}
	}
	if events == 0 {
		t.Fatalf("no attempt events logged:\n%s", b.logs.String())
	}
}
