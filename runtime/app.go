package runtime

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/knadh/koanf/v2"
	"github.com/rs/zerolog"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/redact"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// Module is Keel's runtime: one fx module per part, so the wiring reads like docs/architecture.md's
// diagram and a test or an advanced user can see (fx.Private, fx.Decorate) where each piece
// comes from. New adds it for you.
var Module = fx.Module("keel",
	ConfigModule,
	FleetModule,
	JournalModule,
	KillSwitchModule,
	AlertsModule,
	SchedulerModule,
	ExchangeModule,
	OrdersModule,
	LedgerModule,
	LoopModule,
	AdminModule,
)

var (
	// ConfigModule provides *Config (koanf: defaults, --config file, KEEL_* environment),
	// the loggers (zerolog) and the Prometheus metrics.
	ConfigModule = fx.Module("config", fx.Provide(provideConfig, provideLogging, NewMetrics))
	// KillSwitchModule provides the *killswitch.Switch: the file watcher, SIGUSR1, and the
	// halt/resume log lines.
	KillSwitchModule = fx.Module("killswitch", fx.Provide(provideKillSwitch))
	// SchedulerModule provides the *scheduler.Scheduler, gated by the kill switch, which an
	// auth failure trips.
	SchedulerModule = fx.Module("scheduler", fx.Provide(provideScheduler))
	// ExchangeModule provides the adapters.Exchange chosen by exchange.name, starting the
	// embedded simulator when exchange.name is sim and no base_url is set, and the shared
	// exchange-info cache.
	ExchangeModule = fx.Module("exchange", fx.Provide(provideExchange, provideInfoCache))
	// JournalModule provides the idempotency.Store (the bbolt file at journal.path), opened
	// before anything that starts goroutines or listens: a journal that cannot be read fails
	// start-up while there is nothing to stop yet.
	JournalModule = fx.Module("journal", fx.Provide(provideJournal), fx.Invoke(func(idempotency.Store) {}))
	// OrdersModule provides the *orders.Manager and the OrderService the main loop uses.
	OrdersModule = fx.Module("orders", fx.Provide(provideOrders))
	// LoopModule provides the main *Loop: reconciliation, then strategies, market data,
	// portfolio refresh, ticks.
	LoopModule = fx.Module("loop", fx.Provide(provideLoop))
	// AdminModule provides the *AdminServer: /metrics, /healthz, /status.
	AdminModule = fx.Module("admin", fx.Provide(provideAdmin))
)

// Setting is an fx option of New that changes where the runtime reads from or writes to.
// Tests use them; a normal bot needs none.

// WithLoadOptions sets where configuration comes from (default: --config flag semantics with
// the process environment).
func WithLoadOptions(o LoadOptions) fx.Option { return fx.Supply(o) }

// WithLogOutput sends logs to w instead of stdout.
func WithLogOutput(w io.Writer) fx.Option { return fx.Supply(logOutput{w}) }

type logOutput struct{ io.Writer }

// New builds the fx app: Keel's runtime plus your modules (strategies, overrides). It does not
// start it; most callers want Run or Main.
func New(opts ...fx.Option) *fx.App {
	all := []fx.Option{
		Module,
		fx.WithLogger(func(l Logging) fxevent.Logger { return NewFxLogger(l.Logger) }),
		fx.Invoke(func(*Loop, *AdminServer) {}),
		fx.StartTimeout(time.Minute),
		fx.StopTimeout(time.Minute),
	}
	return fx.New(append(all, opts...)...)
}

// Main runs the bot until SIGINT or SIGTERM and exits the process: 0 after a clean shutdown,
// 1 if start-up or shutdown failed. It reads --config from the command line.
func Main(opts ...fx.Option) {
	if err := Run(opts...); err != nil {
		fmt.Fprintln(os.Stderr, "keel:", redact.Values(err.Error()))
		os.Exit(1)
	}
}

// Run is Main without the exit: it parses --config, builds the app, starts it, waits for
// SIGINT/SIGTERM (or a fatal error inside), and stops it.
func Run(opts ...fx.Option) error {
	tuneGC() // the process's collector, for a stream's latency under load (gc.go)
	fs := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	path := fs.String("config", "", "YAML config file (default configs/sim.yaml if it exists, else the built-in copy of it)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // usage was printed; asking for help is not a failure
		}
		return err
	}
	lo := LoadOptions{Path: ConfigPath(*path)}
	// Load the configuration before fx: a bad config is then one clear line naming the key,
	// not a dependency-injection trace.
	c, _, err := LoadConfig(lo)
	if err != nil {
		return err
	}
	// fx's own events go to a logger built from the loaded config rather than from the
	// graph: if the graph fails (a strategy refuses its section), fx would otherwise fall
	// back to dumping the graph on stderr around the one line that matters.
	fxLog := NewFxLogger(NewLogger(c.Log, os.Stdout, c.Bot.InstanceID))
	all := append([]fx.Option{fx.Supply(preloaded{c})}, opts...)
	app := New(append(all, fx.WithLogger(func() fxevent.Logger { return fxLog }))...)
	return runApp(app)
}

// ConfigPath is the config file a bot reads given its --config flag: the flag, else
// configs/sim.yaml when it exists, else "" (the built-in copy of it).
func ConfigPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if _, err := os.Stat("configs/sim.yaml"); err == nil {
		return "configs/sim.yaml"
	}
	return ""
}

// runApp starts app, waits for a signal or a shutdown request, and stops it.
func runApp(app *fx.App) error {
	if err := app.Err(); err != nil {
		// A setting refused while building (a strategy refusing its section, a Redis that
		// refuses store.url's credentials) is one line naming the key, not fx's trace of who
		// needed it.
		return withoutFxTrace(err)
	}
	startCtx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return withoutFxTrace(err)
	}
	sig := <-app.Wait()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	if err := app.Stop(stopCtx); err != nil {
		return err
	}
	if sig.ExitCode != 0 {
		return fmt.Errorf("runtime: stopped with exit code %d", sig.ExitCode)
	}
	return nil
}

// withoutFxTrace returns the *ConfigError inside an fx error, so a bad config prints as one
// line naming the key whether the runtime or a strategy found it, not inside fx's dump of the
// dependency graph.
func withoutFxTrace(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	return err
}

type configParams struct {
	fx.In
	Load       LoadOptions           `optional:"true"`
	Preloaded  preloaded             `optional:"true"`
	Strategies []strategy.Definition `group:"strategies"`
}

// preloaded is a configuration Run already loaded and validated.
type preloaded struct{ c *Config }

// provideConfig loads the configuration and checks every strategy's section against it, so a
// bad section fails start-up before anything is built, connected or started.
func provideConfig(p configParams) (*Config, error) {
	c := p.Preloaded.c
	if c == nil {
		var k *koanf.Koanf
		var err error
		if c, k, err = LoadConfig(p.Load); err != nil {
			return nil, err
		}
		c.raw = k
	}
	seen := map[string]bool{}
	for _, d := range p.Strategies {
		if seen[d.Name] {
			return nil, fmt.Errorf("runtime: two strategies named %q", d.Name)
		}
		seen[d.Name] = true
		if d.CheckConfig != nil {
			if err := d.CheckConfig(strategySection{cfg: c, name: d.Name}); err != nil {
				return nil, strategyConfigError(d.Name, err)
			}
		}
	}
	return c, checkStrategySections(c, seen)
}

// checkStrategySections refuses a strategies.<name> section that no strategy in this binary
// reads: a misspelled `strategies.marketmakr` would otherwise leave the built-in defaults of
// `marketmaker` trading. The built-in defaults' own section (the example market maker's) is
// refused only once the file or the environment writes into it.
func checkStrategySections(c *Config, registered map[string]bool) error {
	names := make([]string, 0, len(registered))
	for n := range registered {
		names = append(names, n)
	}
	sort.Strings(names)
	var unread []string
	for name := range c.Strategies {
		if !registered[name] && c.userWrote("strategies."+name) {
			unread = append(unread, name)
		}
	}
	if len(unread) == 0 {
		return nil
	}
	sort.Strings(unread)
	runs := "no strategy"
	if len(names) > 0 {
		runs = "strategies " + strings.Join(names, ", ")
	}
	return &ConfigError{Key: "strategies." + unread[0], Reason: fmt.Sprintf("no strategy named %q in this binary (it runs %s): check the section's name", unread[0], runs)}
}

// strategyConfigError reports a strategy's refusal of its section as a ConfigError on the
// full key, strategies.<name>.<key>.
func strategyConfigError(name string, err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce
	}
	var se *strategy.ConfigError
	if errors.As(err, &se) {
		return sectionError("strategies."+name, se.Err)
	}
	return &ConfigError{Key: "strategies." + name, Reason: err.Error()}
}

// Logging is the process's loggers: Logger for everything, Attempts for the scheduler's
// per-attempt events (which carry their own ts and bot_instance_id fields).
type Logging struct {
	Logger   zerolog.Logger
	Attempts zerolog.Logger
	// Console: the lines are for a human (a terminal), who gets the summary line.
	Console bool
}

type loggingParams struct {
	fx.In
	Config *Config
	Output logOutput `optional:"true"`
}

func provideLogging(p loggingParams) Logging {
	w := p.Output.Writer
	if w == nil {
		w = os.Stdout
	}
	return Logging{
		Logger:   NewLogger(p.Config.Log, w, p.Config.Bot.InstanceID),
		Attempts: newBareLogger(p.Config.Log, w),
		Console:  consoleFormat(p.Config.Log, w),
	}
}

func provideKillSwitch(lc fx.Lifecycle, c *Config, lg Logging, m *Metrics, fl *fleet.Fleet) (*killswitch.Switch, error) {
	log := lg.Logger.With().Str("component", "killswitch").Logger()
	sw, err := newKillSwitch(c, fl, killswitch.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("runtime: killswitch.file: %w", err)
	}
	setHalted := func(st killswitch.Status) {
		if st.Halted {
			m.Halted.Set(1)
		} else {
			m.Halted.Set(0)
		}
	}
	setHalted(sw.State())
	if halted, reason := sw.Halted(); halted {
		log.Warn().Str("reason", reason.String()).Msg("starting halted: the kill switch file exists; no order will be sent until it is removed (keel resume)")
	}
	unsubscribe := sw.OnChange(func(ev killswitch.Event) {
		setHalted(ev.Status)
		if ev.Status.Halted {
			log.Error().Str("reason", ev.Status.Reason.String()).Str("source", ev.Source).Msg("trading halted")
		} else {
			log.Warn().Str("source", ev.Source).Msg("trading resumed")
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var stopSignal func()
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			stopSignal = sw.TripOnSignal(ctx, syscall.SIGUSR1)
			go func() {
				defer close(done)
				_ = sw.Run(ctx)
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			cancel()
			stopSignal()
			<-done
			unsubscribe()
			return nil
		},
	})
	return sw, nil
}

// killSwitchGate adapts the kill switch to the scheduler's Gate: the scheduler asks it before
// every order; critical requests (cancels) never reach it.
type killSwitchGate struct{ sw *killswitch.Switch }

func (g killSwitchGate) Allow(ctx context.Context, _ scheduler.Priority) error {
	err := g.sw.Check()
	// One read of the switch: the halt that refused is the one whose mode decides.
	var halted *killswitch.HaltedError
	if errors.As(err, &halted) && halted.Reason.ReduceOnly && ctx.Value(reducing{}) == true {
		return nil // checked to reduce a position (reducer.place): reduce-only mode lets it out
	}
	return err
}

func provideScheduler(lc fx.Lifecycle, c *Config, lg Logging, m *Metrics, sw *killswitch.Switch, fl *fleet.Fleet, al *alerter) (*scheduler.Scheduler, error) {
	opts := append(fleetSchedulerOptions(fl, killSwitchGate{sw}),
		scheduler.WithLogger(lg.Attempts),
		scheduler.WithObserver(func(ev scheduler.AttemptEvent) { m.observeAttempt(c.Exchange.Name, ev) }),
		scheduler.WithHoldObserver(func(ev scheduler.HoldEvent) { logHold(lg.Logger, ev); al.hold(ev) }),
		scheduler.WithAuthFailureEvent(func(o scheduler.Outcome, ev scheduler.AttemptEvent) {
			why := authTripReason(o)
			first := sw.Check() == nil
			if err := sw.TripAuto(context.Background(), why); err != nil {
				lg.Logger.Error().Err(err).Msg("could not write the kill switch file after an auth failure; this process is halted anyway")
			}
			if first {
				// The attempt that tripped it, by the ids the attempt's own event carries.
				lg.Logger.Error().Str("event", "kill_switch_trip").
					Str("exchange", c.Exchange.Name).Str("endpoint", ev.Endpoint).Str("method", ev.Method).
					Str("request_id", ev.RequestID).Str("idempotency_key", ev.IdempotencyKey).
					Str("reason", why).Msg("kill switch tripped by an auth failure")
			}
		}),
	)
	s, err := scheduler.New(c.Scheduler, opts...)
	if err != nil {
		return nil, sectionError("scheduler", err)
	}
	for _, b := range c.Scheduler.Buckets {
		m.initBucket(b.Name)
	}
	lc.Append(fx.StopHook(s.Close))
	return s, nil
}

// authTripReason is the kill-switch reason for an auth failure: the exchange's answer, or the
// local refusal (a clock drifted past recvWindow fails before anything is sent), redacted.
func authTripReason(o scheduler.Outcome) string {
	if o.Status == 0 && o.Err != nil {
		return "auth failure before sending: " + scheduler.Redact(o.Err.Error())
	}
	why := fmt.Sprintf("auth failure from the exchange: http %d code %d %s", o.Status, o.Code, scheduler.Redact(o.Message))
	if o.Err != nil && o.Message == "" {
		why += ": " + scheduler.Redact(o.Err.Error())
	}
	return why
}

// observeAttempt feeds one attempt into the metrics.
func (m *Metrics) observeAttempt(exchange string, ev scheduler.AttemptEvent) {
	m.Attempts.WithLabelValues(exchange, ev.Endpoint, ev.Bucket, ev.Class.String(), statusLabel(ev.Status)).Inc()
	if ev.Status != 0 { // answered: a latency on the wire
		m.RequestDuration.WithLabelValues(exchange, ev.Endpoint, ev.Bucket).Observe(ev.Latency.Seconds())
	}
	if ev.RetryReason != "" { // this attempt failed and a retry follows
		m.Retries.WithLabelValues(ev.Bucket, ev.RetryReason).Inc()
	}
	if ev.Status == 429 || ev.Status == 418 {
		m.RateLimited.WithLabelValues(ev.Bucket, statusLabel(ev.Status)).Inc()
	}
}

// provideExchange builds the adapter exchange.name names, from the registry: the runtime
// imports no exchange package, the binary links the ones it imports.
func provideExchange(lc fx.Lifecycle, c *Config, lg Logging, s *scheduler.Scheduler) (adapters.Exchange, error) {
	def, err := adapters.Lookup(c.Exchange.Name)
	if err != nil {
		return nil, &ConfigError{Key: "exchange.name", Reason: err.Error()}
	}
	log := lg.Logger.With().Str("component", "exchange").Logger()
	ex, err := def.New(c.Exchange.Adapter, adapters.Env{
		Scheduler: s,
		OnStop:    func(f func() error) { lc.Append(fx.StopHook(f)) },
		Logf:      func(format string, args ...any) { log.Info().Msgf(format, args...) },
	})
	if err != nil {
		return nil, sectionError("exchange", err)
	}
	if c.Exchange.Mode == "paper" {
		ex = paperExchange(ex, c.Exchange.Paper)
		log.Warn().Str("exchange", c.Exchange.Name).Msg("paper trading (exchange.mode: paper): market data is the exchange's, orders fill locally against its book; nothing is placed and no key is used")
	}
	s.SetProber(readProber(ex))
	return ex, nil
}

// readProber tests a half-open breaker with a cheap idempotent read: the server time (which
// also refreshes the clock offset) for the platform and rate limits, a signed balances read
// for auth (a public read would not test the key); adapters without a server-time call use
// the balances read for all.
func readProber(ex adapters.Exchange) scheduler.Prober {
	syncer := timeSyncer(ex)
	return func(ctx context.Context, c scheduler.Class) error {
		if c != scheduler.ClassAuth && syncer != nil {
			return syncer.SyncTime(ctx)
		}
		_, err := ex.Balances(ctx)
		return err
	}
}

// clockSyncer is an adapter that measures the exchange's clock (a server-time read) and passes
// the offset to its scheduler (which logs it: clock_offset).
type clockSyncer interface{ SyncTime(context.Context) error }

// timeSyncer returns ex's clock syncer (unwrapAs); nil when there is none.
func timeSyncer(ex adapters.Exchange) clockSyncer {
	s, _ := unwrapAs[clockSyncer](ex)
	return s
}

// unwrapAs returns ex as a T, looking through wrapping adapters (the embedded simulator's,
// Unwrap) to the dialect's: an optional capability of the adapter behind the wrapper.
func unwrapAs[T any](ex adapters.Exchange) (T, bool) {
	for ex != nil {
		if t, ok := ex.(T); ok {
			return t, true
		}
		w, ok := ex.(interface{ Unwrap() adapters.Exchange })
		if !ok {
			break
		}
		ex = w.Unwrap()
	}
	var zero T
	return zero, false
}

func provideJournal(lc fx.Lifecycle, c *Config, lg Logging, fl *fleet.Fleet) (idempotency.Store, error) {
	j, err := openJournal(c, fl)
	if err != nil {
		return nil, fmt.Errorf("runtime: journal.path: %w", err)
	}
	if f, ok := j.(*idempotency.FileStore); ok && f.Created() {
		// Right on a first run; on a restart it means journal.path moved or the file was
		// deleted, and only adoption of open orders stands between the bot and lost intents.
		lg.Logger.Warn().Str("path", c.Journal.Path).
			Msg("no journal at journal.path: created an empty one (expected on a first run; on a restart, check journal.path)")
	}
	lc.Append(fx.StopHook(j.Close))
	return j, nil
}

// realClock is the runtime's default clock.
var realClock clock.Clock = clock.Real{}
