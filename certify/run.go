package certify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/scheduler"
)

// scaledBanPause scales the scheduler's ban pause (how long an IP ban without a stated length
// is held, doubled on repeats up to its cap) by the time scale: its defaults stand for the
// exchange's shortest documented ban (2 minutes on Binance), and the simulator's bans run
// time-scale faster. The bot's own timers (backoff, breakers' open_for) are not scaled.
func scaledBanPause(o Options) []string {
	b := scheduler.Config{}.Effective().Backoff
	return []string{
		"KEEL_SCHEDULER_BACKOFF_BAN_PAUSE=" + scaled(o, b.BanPause).String(),
		"KEEL_SCHEDULER_BACKOFF_BAN_PAUSE_CAP=" + scaled(o, b.BanPauseCap).String(),
	}
}

// instance is one bot of a run: the runtime with the user's modules, logging JSON into logs.
type instance struct {
	app     *fx.App
	logs    *syncbuf.Buffer
	ex      adapters.Exchange
	stopped bool
}

// botEnv is the environment of one bot of a run: its files in dir, JSON logs, the scenario's
// settings and the scaled ban pause.
func botEnv(o Options, s scenario, dir string, extra ...string) []string {
	env := []string{
		"KEEL_EXCHANGE_NAME=sim",
		fmt.Sprintf("KEEL_EXCHANGE_TIME_SCALE=%g", o.TimeScale),
		"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"),
		"KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"),
		"KEEL_ADMIN_LISTEN=127.0.0.1:0",
		"KEEL_LOG_FORMAT=json",
		"KEEL_LOG_LEVEL=info",
	}
	if o.Dialect != "" {
		env = append(env, "KEEL_EXCHANGE_DIALECT="+o.Dialect)
	}
	env = append(env, scaledBanPause(o)...)
	env = append(env, s.env...)
	return append(env, extra...)
}

// startInstance builds and starts one bot.
func startInstance(ctx context.Context, o Options, env []string, modules []fx.Option) (*instance, error) {
	b := &instance{logs: &syncbuf.Buffer{}}
	opts := append(append([]fx.Option{}, modules...),
		runtime.WithLoadOptions(runtime.LoadOptions{Path: o.Config, Environ: env}),
		runtime.WithLogOutput(b.logs),
		fx.Populate(&b.ex),
	)
	b.app = runtime.New(opts...)
	if err := b.app.Err(); err != nil {
		return nil, errors.New(firstLine(err))
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.app.Start(startCtx); err != nil {
		return nil, errors.New(firstLine(err))
	}
	return b, nil
}

// stop stops the bot once.
func (b *instance) stop() {
	if b == nil || b.stopped {
		return
	}
	b.stopped = true
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = b.app.Stop(stopCtx)
}

// runKeel runs the bot (the runtime and modules, with o's config) under s against a simulator
// of the run's own (exchange.url) and measures what the simulator saw.
func runKeel(ctx context.Context, o Options, s scenario, modules []fx.Option) Row {
	if s.instances > 1 {
		return runInstances(ctx, o, s, modules)
	}
	row := Row{Scenario: s.name, Client: clientKeel, Query: s.query}
	srv, err := scenarioSim(o, s)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer srv.Close()
	dir, cleanup, err := tempDir()
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer cleanup()
	b, err := startInstance(ctx, o, botEnv(o, s, dir, "KEEL_EXCHANGE_URL="+srv.URL()), modules)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer b.stop()
	h := &harness{o: o, srv: srv, clk: clock.Real{}, marks: map[string]sim.Stats{}, ex: b.ex, logs: b.logs.String,
		trips: func() []string { _, _, t := fromLogs(b.logs.String()); return t }}
	// Let the bot reconcile, subscribe and trade before the incident.
	h.sleep(ctx, time.Second)
	s.inject(ctx, h)
	st := h.srv.Stats()
	disabled := h.srv.KeyDisabled(sim.DefaultAPIKey)
	if h.keyDisabled != nil {
		disabled = *h.keyDisabled
	}
	b.stop()
	fill(&row, st, disabled)
	row.FirstAttempts, row.Retries, row.Trips = fromLogs(b.logs.String())
	s.judge(h, &row)
	row.Answer = s.answer(b.logs.String())
	return row
}

// runInstances runs s.instances bots against one simulator of their own, started within
// 100 ms of each other as a deploy or a scale-out starts them, sharing a fleet store when
// s.fleet says so.
func runInstances(ctx context.Context, o Options, s scenario, modules []fx.Option) Row {
	row := Row{Scenario: s.name, Client: clientKeel, Query: s.query}
	if s.fleet && o.StoreURL == "" {
		row.Pass, row.Skipped, row.Why = true, true, "skipped: needs --store-url, the Redis the instances share"
		return row
	}
	srv, err := scenarioSim(o, s)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer srv.Close()
	var extra []string
	if s.fleet {
		// A prefix of its own: the run shares nothing with another run or a live fleet, and
		// leaves nothing behind.
		prefix := fmt.Sprintf("keel-certify:%s:%d:", s.name, time.Now().UnixNano())
		extra = []string{"KEEL_STORE_URL=" + o.StoreURL, fmt.Sprintf("KEEL_FLEET_SIZE=%d", s.instances),
			"KEEL_STORE_PREFIX=" + prefix}
		defer deleteKeys(o.StoreURL, prefix)
	}
	bots := make([]*instance, s.instances)
	errs := make([]error, s.instances)
	var wg sync.WaitGroup
	for i := range bots {
		dir, cleanup, err := tempDir()
		if err != nil {
			row.Error = err.Error()
			return row
		}
		defer cleanup()
		env := botEnv(o, s, dir, append([]string{"KEEL_EXCHANGE_URL=" + srv.URL(),
			fmt.Sprintf("KEEL_BOT_INSTANCE_ID=cert%d", i+1)}, extra...)...)
		wg.Go(func() {
			// Within 100 ms of each other: 0, 25, 50, 75, 100 ms.
			clock.Sleep(ctx, clock.Real{}, time.Duration(i)*100*time.Millisecond/time.Duration(max(1, s.instances-1)))
			bots[i], errs[i] = startInstance(ctx, o, env, modules)
		})
	}
	wg.Wait()
	defer func() {
		for _, b := range bots {
			b.stop()
		}
	}()
	if err := errors.Join(errs...); err != nil {
		row.Error = firstLine(err)
		return row
	}
	logs := func() string {
		var all strings.Builder
		for _, b := range bots {
			all.WriteString(b.logs.String())
		}
		return all.String()
	}
	h := &harness{o: o, srv: srv, clk: clock.Real{}, marks: map[string]sim.Stats{}, ex: bots[0].ex, logs: logs,
		trips: func() []string { _, _, t := fromLogs(logs()); return t }}
	s.inject(ctx, h)
	st := srv.Stats()
	for _, b := range bots {
		b.stop()
	}
	fill(&row, st, srv.KeyDisabled(sim.DefaultAPIKey))
	row.FirstAttempts, row.Retries, row.Trips = fromLogs(logs())
	s.judge(h, &row)
	row.Answer = s.answer(logs())
	return row
}

// deleteKeys deletes every key under prefix in the Redis at storeURL (best effort: the run
// is over).
func deleteKeys(storeURL, prefix string) {
	opt, err := redis.ParseURL(storeURL)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	it := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	for it.Next(ctx) {
		rdb.Del(ctx, it.Val())
	}
}

// botDialect is the dialect the bot's config (or --dialect) names.
func botDialect(o Options, s scenario) (string, error) {
	if o.Dialect != "" {
		return o.Dialect, nil
	}
	_, k, err := runtime.LoadConfig(runtime.LoadOptions{Path: o.Config, Environ: botEnv(o, s, os.TempDir())})
	if err != nil {
		return "", errors.New(firstLine(err))
	}
	if d := k.String("exchange.dialect"); d != "" {
		return d, nil
	}
	return sim.DialectBinance, nil
}

// scenarioSim starts the simulator a run of s talks to: the bot's dialect, s's limits.
func scenarioSim(o Options, s scenario) (*sim.Server, error) {
	dialect, err := botDialect(o, s)
	if err != nil {
		return nil, err
	}
	return startSim(o, dialect, s.limits)
}

// startSim starts a simulator of dialect on loopback at o's time scale, with limits.
func startSim(o Options, dialect string, limits sim.Limits) (*sim.Server, error) {
	srv, err := sim.New(sim.Config{Dialect: dialect, Seed: 1, TimeScale: o.TimeScale, Limits: limits})
	if err != nil {
		return nil, err
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return srv, nil
}

// fill copies the simulator's counters into r.
func fill(r *Row, st sim.Stats, keyDisabled bool) {
	r.Requests = st.Total.Requests
	r.RateLimit = st.Total.Status429
	r.Status418 = st.Total.Status418
	r.Bans = st.Total.Bans
	r.KeyDisabled = keyDisabled
}

// fromLogs counts first attempts and retries from the scheduler's per-attempt lines and
// collects the kill-switch trips' reasons.
func fromLogs(logs string) (first, retries int64, trips []string) {
	for _, line := range strings.Split(logs, "\n") {
		var ev struct {
			Attempt *int   `json:"attempt"`
			Event   string `json:"event"`
			Reason  string `json:"reason"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		switch {
		case ev.Event == "kill_switch_trip":
			trips = append(trips, ev.Reason)
		case ev.Event != "" || ev.Attempt == nil:
		case *ev.Attempt <= 1:
			first++
		default:
			retries++
		}
	}
	return first, retries, trips
}

// runNaive runs the naive client under s on a simulator of its own (bans are per IP, and
// both clients are on loopback).
func runNaive(ctx context.Context, o Options, s scenario) Row {
	row := Row{Scenario: s.name, Client: clientNaive}
	srv, err := startSim(o, sim.DialectBinance, s.limits)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer srv.Close()
	h := &harness{o: o, srv: srv, clk: clock.Real{}, marks: map[string]sim.Stats{}}
	clients := make([]*naive, max(1, s.instances))
	wctx, stopWork := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range clients {
		clients[i] = newNaive(srv.URL())
		wg.Go(func() { s.naive(wctx, clients[i]) })
	}
	if s.instances <= 1 {
		h.sleep(ctx, time.Second)
	}
	s.inject(ctx, h)
	stopWork()
	wg.Wait()
	var first, retries int64
	for _, n := range clients {
		n.hc.CloseIdleConnections()
		first, retries = first+n.first.Load(), retries+n.retries.Load()
	}
	st := srv.Stats()
	disabled := srv.KeyDisabled(sim.DefaultAPIKey)
	if h.keyDisabled != nil {
		disabled = *h.keyDisabled
	}
	fill(&row, st, disabled)
	row.FirstAttempts, row.Retries = first, retries
	switch {
	case row.Bans > 0 || row.Status418 > 0:
		row.Why = fmt.Sprintf("banned %d times (%d answers 418)", row.Bans, row.Status418)
	case disabled:
		row.Why = "API key disabled"
	default:
		row.Pass, row.Why = true, fmt.Sprintf("retry amplification %.2f", amplification(&row))
	}
	return row
}

// firstLine is an error's first line: fx wraps a start-up failure in its graph dump.
func firstLine(err error) string {
	var ce *runtime.ConfigError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return msg
}
