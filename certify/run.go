package certify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

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

// runKeel runs the bot (the runtime and modules, with o's config) under s on its embedded
// simulator and measures what the simulator saw.
func runKeel(ctx context.Context, o Options, s scenario, modules []fx.Option) Row {
	row := Row{Scenario: s.name, Client: clientKeel, Query: s.query}
	dir, cleanup, err := tempDir()
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer cleanup()
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
	logs := &syncbuf.Buffer{}
	var ex adapters.Exchange
	opts := append(append([]fx.Option{}, modules...),
		runtime.WithLoadOptions(runtime.LoadOptions{Path: o.Config, Environ: env}),
		runtime.WithLogOutput(logs),
		fx.Populate(&ex),
	)
	app := runtime.New(opts...)
	if err := app.Err(); err != nil {
		row.Error = firstLine(err)
		return row
	}
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		row.Error = firstLine(err)
		return row
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = app.Stop(stopCtx)
		}
	}
	defer stop()
	e, ok := ex.(interface{ Server() *sim.Server })
	if !ok {
		row.Error = "the exchange is not the embedded simulator"
		return row
	}
	h := &harness{o: o, srv: e.Server(), clk: clock.Real{}, marks: map[string]sim.Stats{},
		trips: func() []string { _, _, t := fromLogs(logs.String()); return t }}
	// Let the bot reconcile, subscribe and trade before the incident.
	h.sleep(ctx, time.Second)
	s.inject(ctx, h)
	st := h.srv.Stats()
	disabled := h.srv.KeyDisabled(sim.DefaultAPIKey)
	if h.keyDisabled != nil {
		disabled = *h.keyDisabled
	}
	stop()
	fill(&row, st, disabled)
	row.FirstAttempts, row.Retries, row.Trips = fromLogs(logs.String())
	s.judge(h, &row)
	row.Answer = s.answer(logs.String())
	return row
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
	srv, err := sim.New(sim.Config{Seed: 1, TimeScale: o.TimeScale})
	if err != nil {
		row.Error = err.Error()
		return row
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		row.Error = err.Error()
		return row
	}
	defer srv.Close()
	h := &harness{o: o, srv: srv, clk: clock.Real{}, marks: map[string]sim.Stats{}}
	n := newNaive(srv.URL())
	wctx, stopWork := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.naive(wctx, n)
	}()
	h.sleep(ctx, time.Second)
	s.inject(ctx, h)
	stopWork()
	<-done
	n.hc.CloseIdleConnections()
	st := srv.Stats()
	disabled := srv.KeyDisabled(sim.DefaultAPIKey)
	if h.keyDisabled != nil {
		disabled = *h.keyDisabled
	}
	fill(&row, st, disabled)
	row.FirstAttempts, row.Retries = n.first.Load(), n.retries.Load()
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
