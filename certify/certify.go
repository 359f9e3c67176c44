// Package certify runs a bot's strategies, with its configuration, against the simulated
// exchange under the incidents that get bots banned, and says whether the bot survived each:
// the simulator's abuse model (adapters/sim: 418 bans growing for repeat offenders, keys
// disabled after repeated bad signatures or timestamps) decides, not Keel.
//
// A bot binary exposes it from its main:
//
//	func main() {
//		mod := strategy.Module("mybot", New)
//		if certify.Requested(os.Args) {
//			os.Exit(certify.Command(os.Args[2:], os.Stdout, os.Stderr, mod))
//		}
//		runtime.Main(mod)
//	}
//
// and `mybot certify --config my.yaml [--scenario NAME] [--dialect binance] [--naive] [--json]`
// prints one row per scenario (requests | 429s | bans | key disabled | retries/first
// attempts | kill-switch trips | verdict), the one jq query over the bot's JSON log an operator
// would run for that incident, with its answer, and exits 0 when every scenario passed, 1
// otherwise, 2 for a bad command line. `keel certify` runs the same scenarios with the
// runtime alone (keel links no strategy). --naive runs each scenario a second time, on its own
// simulator, with a built-in naive client (immediate retries, unbounded concurrency, no clock
// sync) so the difference shows on the same run.
//
// # Scenarios and pass criteria
//
// Time is scaled (--time-scale, default 60): windows, Retry-After and bans of the simulator
// run that much faster. Each scenario runs on its own embedded simulator, so they run in
// parallel.
//
//   - retry-burst: the bot's market data is polled (streams off, 50 ms), and the book read every
//     100 ms through its scheduler, while 30% of the
//     market-data reads answer 429 -1003 with a Retry-After. Pass: no ban (418), the key is
//     not disabled, the kill switch is not tripped.
//   - invalid-requests: the account refuses every order (-2010, as a strategy placing an
//     invalid order over and over would be refused). Pass: at most 3 refused orders reach the
//     exchange (the validation guard's budget), no ban, key not disabled.
//   - clock-drift: the exchange's clock jumps 3 s behind the host's and drifts 0.5 s further,
//     while the balances are read every 100 ms through the bot's scheduler;
//     then a signing bug: the exchange's secret changes under the bot (-1022), met by a balances
//     read through the bot's scheduler. Pass: the key is never disabled
//     by the simulator during the drift, no ban, and after the refusal the kill switch trips
//     naming the auth failure with at most 3 signed requests sent after it.
//   - deploy-burst: five instances of the bot start within 100 ms against one simulator whose
//     request-weight limit (300 per minute, scaled) their start-ups together exceed, with no
//     fleet store: each learns the IP's usage from the exchange's headers. Pass: no ban, key
//     not disabled (a few 429s are answered, and backed off).
//   - deploy-burst-fleet: the same with the instances sharing --store-url (fleet mode). Pass:
//     no rate-limit answer at all. Skipped without --store-url.
//   - reconnect-storm: every stream connection is dropped 8 times, 750 ms apart. Pass: no
//     ban, no connection refused by the exchange's connection limit, at most one new
//     connection per dropped one and one book snapshot per symbol per drop (plus one). The
//     naive client speaks REST only: it has no row here.
//   - outage: 60 s (scaled, at least 3 s) of 60% 503s and 30% dropped connections on every
//     endpoint, while the ticker is read every 100 ms through the bot's scheduler. Pass:
//     retries are at most a quarter of first attempts, or the retry budget's floor (5) when
//     that is more, plus 3; no ban, key not disabled.
//   - hot-endpoint: for 3 s, 4 readers of the bot's own adapter (its scheduler) read the
//     deepest book (depth 5000, weight 250) beside the strategy, against a request-weight limit
//     of 1500 per (scaled) minute that they saturate, and the harness places (and
//     cancels) an order every 200 ms through the same scheduler. Pass: no rate-limit answer,
//     no ban, every order placed. Their queue waits are reported beside the reads': on a
//     loaded machine they depend as much on the CPU and the strategy's own orders (the
//     orders bucket and windows) as on the reads, so they are not judged.
//   - waf-ban: (the book read every 100 ms through the bot's scheduler throughout) 403 from
//     the edge (WAF) for 30 s (scaled), then a 2-minute (scaled) IP ban, with
//     the simulator extending a ban that is knocked on 5 times. Pass: the ban is never
//     extended (exactly the one injected), and the bot sends requests again within 12 s of
//     its end (its rate_limit breaker stays open its open_for, then a read probes).
//
// The scheduler's backoff.ban_pause and ban_pause_cap stand for the exchange's shortest ban, so
// they are scaled with the simulator's time; the bot's own timers (backoff, breakers) are not.
package certify

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters/sim"
)

// ErrUnknownScenario is returned for a --scenario that names none.
var ErrUnknownScenario = errors.New("certify: unknown scenario")

// Options are the command line of certify.
type Options struct {
	// Config is the bot's YAML config (empty: the built-in default).
	Config string
	// Scenarios to run, by name; empty runs them all in order.
	Scenarios []string
	// Dialect overrides exchange.dialect when set.
	Dialect string
	// Naive also runs the built-in naive client under each scenario.
	Naive bool
	// TimeScale of the simulator; default 60.
	TimeScale float64
	// StoreURL is the Redis the deploy-burst-fleet scenario's instances share (fleet mode);
	// empty skips that scenario.
	StoreURL string
}

// Row is one scenario's result for one client (the bot, or the naive client).
type Row struct {
	Scenario  string `json:"scenario"`
	Client    string `json:"client"` // "keel" or "naive"
	Requests  int64  `json:"requests"`
	RateLimit int64  `json:"rate_limit_answers"`
	Status418 int64  `json:"status_418"`
	Bans      int64  `json:"bans"`
	// KeyDisabled: the simulator disabled the key for repeated auth failures (not the
	// scenario's own refusal of it).
	KeyDisabled   bool     `json:"key_disabled"`
	FirstAttempts int64    `json:"first_attempts"`
	Retries       int64    `json:"retries"`
	Trips         []string `json:"kill_switch_trips"`
	Pass          bool     `json:"pass"`
	// Skipped: the scenario needs what this run lacks (Why says what); it counts as passed.
	Skipped bool   `json:"skipped,omitempty"`
	Why     string `json:"why"`
	Query   string `json:"query,omitempty"`
	Answer  string `json:"answer,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Report is the JSON output.
type Report struct {
	Pass bool  `json:"pass"`
	Rows []Row `json:"rows"`
}

// Requested says whether args (os.Args) ask for certify: its first argument is "certify".
func Requested(args []string) bool { return len(args) > 1 && args[1] == "certify" }

// Command runs certify from its arguments (after "certify") with the bot's modules and
// returns the exit code: 0 all passed, 1 a scenario failed or could not run, 2 bad usage.
func Command(args []string, stdout, stderr io.Writer, modules ...fx.Option) int {
	fs := flag.NewFlagSet("certify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := fs.String("config", "", "the bot's YAML config (default: the built-in one)")
	scen := fs.String("scenario", "", "run only these scenarios, comma-separated: "+strings.Join(Names(), ", "))
	dialect := fs.String("dialect", "", "exchange dialect of the simulator: "+strings.Join(sim.Dialects(), ", ")+" (default: the config's)")
	naive := fs.Bool("naive", false, "also run the built-in naive client under each scenario")
	store := fs.String("store-url", "", "the Redis (redis://host:port/db) the deploy-burst-fleet instances share; without it that scenario is skipped")
	asJSON := fs.Bool("json", false, "print the report as JSON (for CI)")
	scale := sim.TimeScaleFlag(60)
	fs.Var(&scale, "time-scale", "run the simulator's windows, Retry-After and bans this many times faster")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "certify: unexpected arguments %q\n", fs.Args())
		return 2
	}
	o := Options{Config: *cfg, Dialect: *dialect, Naive: *naive, TimeScale: float64(scale), StoreURL: *store}
	if *scen != "" {
		o.Scenarios = strings.Split(*scen, ",")
	}
	rep, err := Run(context.Background(), o, modules...)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, ErrUnknownScenario) || errors.Is(err, errBadOption) {
			return 2
		}
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		PrintTable(stdout, rep)
	}
	if !rep.Pass {
		return 1
	}
	return 0
}

var errBadOption = errors.New("certify: bad option")

// Run runs the scenarios o names (all by default), in parallel, and reports them in the
// scenarios' order.
func Run(ctx context.Context, o Options, modules ...fx.Option) (Report, error) {
	if o.TimeScale == 0 {
		o.TimeScale = 60
	}
	if err := sim.ValidateTimeScale("time-scale", o.TimeScale); err != nil {
		return Report{}, fmt.Errorf("%w: %w", errBadOption, err)
	}
	if o.Dialect != "" {
		if err := sim.ValidateDialect(o.Dialect); err != nil {
			return Report{}, fmt.Errorf("%w: --dialect: %w", errBadOption, err)
		}
	}
	if o.Naive && o.Dialect != "" && o.Dialect != sim.DialectBinance {
		return Report{}, fmt.Errorf("%w: --naive speaks the binance dialect only", errBadOption)
	}
	var run []scenario
	for _, n := range o.Scenarios {
		s, ok := lookup(strings.TrimSpace(n))
		if !ok {
			return Report{}, fmt.Errorf("%w %q: want one of %s", ErrUnknownScenario, n, strings.Join(Names(), ", "))
		}
		run = append(run, s)
	}
	if len(run) == 0 {
		run = scenarios
	}
	rows := make([][]Row, len(run))
	var wg sync.WaitGroup
	for i, s := range run {
		wg.Go(func() {
			r := runKeel(ctx, o, s, modules)
			rows[i] = append(rows[i], r)
			if o.Naive && s.naive != nil {
				rows[i] = append(rows[i], runNaive(ctx, o, s))
			}
		})
	}
	wg.Wait()
	rep := Report{Pass: true}
	for _, rs := range rows {
		for _, r := range rs {
			if r.Client == clientKeel && !r.Pass {
				rep.Pass = false
			}
			rep.Rows = append(rep.Rows, r)
		}
	}
	return rep, nil
}

// Names lists the implemented scenarios in order.
func Names() []string {
	out := make([]string, len(scenarios))
	for i, s := range scenarios {
		out[i] = s.name
	}
	return out
}

func lookup(name string) (scenario, bool) {
	i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == name })
	if i < 0 {
		return scenario{}, false
	}
	return scenarios[i], true
}

// PrintTable writes the report as a table, then each scenario's log query and its answer.
func PrintTable(w io.Writer, rep Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tclient\trequests\trate-limit answers\tbans (418s)\tkey disabled\tretries/first attempts\tkill-switch trips\tverdict")
	for _, r := range rep.Rows {
		trips := "-"
		if len(r.Trips) > 0 {
			trips = strings.Join(r.Trips, "; ")
		}
		verdict := "PASS"
		switch {
		case r.Error != "":
			verdict = "ERROR: " + r.Error
		case r.Skipped:
			verdict = "SKIP: " + r.Why
		case r.Client == clientNaive && r.Pass:
			verdict = "survived: " + r.Why
		case r.Client == clientNaive:
			verdict = "locked out: " + r.Why
		case !r.Pass:
			verdict = "FAIL: " + r.Why
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d (%d)\t%v\t%d/%d\t%s\t%s\n", r.Scenario, r.Client, r.Requests, r.RateLimit,
			r.Bans, r.Status418, r.KeyDisabled, r.Retries, r.FirstAttempts, trips, verdict)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, r := range rep.Rows {
		if r.Query == "" {
			continue
		}
		fmt.Fprintf(w, "%s: %s\n  → %s\n", r.Scenario, r.Query, r.Answer)
	}
	if rep.Pass {
		fmt.Fprintln(w, "\ncertified: every scenario passed")
	} else {
		fmt.Fprintln(w, "\nNOT certified: see the failed scenarios above")
	}
}

const (
	clientKeel  = "keel"
	clientNaive = "naive"
)

// scaled is a nominal exchange duration at the time scale.
func scaled(o Options, d time.Duration) time.Duration {
	return time.Duration(float64(d) / o.TimeScale)
}

// tempDir is a directory for one run's journal and kill-switch file.
func tempDir() (string, func(), error) {
	d, err := os.MkdirTemp("", "keel-certify-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { _ = os.RemoveAll(d) }, nil
}
