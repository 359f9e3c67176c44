package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/scheduler"
)

// Check outcomes. FAIL is in capitals so it stands out in a terminal and a CI log.
const (
	CheckOK   = "ok"
	CheckWarn = "warn"
	CheckFail = "FAIL"
)

// Check is one item of `keel doctor`: what was checked, the outcome, what was seen and what to
// do about it.
type Check struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Evidence string `json:"evidence"`
	Action   string `json:"action,omitempty"`
}

// DoctorReport is everything `keel doctor` found.
type DoctorReport struct {
	Checks []Check `json:"checks"`
	// Config is every value the run would use, with its source; secrets are [REDACTED].
	Config []ConfigValue `json:"config,omitempty"`
}

// Failed reports whether any check failed.
func (r DoctorReport) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == CheckFail {
			return true
		}
	}
	return false
}

// DoctorOptions configures Doctor.
type DoctorOptions struct {
	// Load says where the configuration comes from, as for the bot.
	Load LoadOptions
	// Timeout bounds each call to the exchange, Redis or the admin server. Default 5s.
	Timeout time.Duration
}

// Doctor checks a configuration before it goes live: the key's scopes, the clock against the
// exchange's, the budgets against the exchange's limits, the kill path, the journal, and lists
// the configuration with the source of each value. It is read-only and safe beside a live bot
// on the same config: a handful of low-weight reads through its own scheduler (concurrency
// 1, no retries), no order, no kill-switch trip on an auth failure, the journal read under a
// shared lock it holds for one read, or not at all when the bot holds it.
func Doctor(ctx context.Context, o DoctorOptions) DoctorReport {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	var r DoctorReport
	add := func(c Check) { r.Checks = append(r.Checks, c) }
	c, _, err := LoadConfig(o.Load)
	if err != nil {
		add(Check{Name: "config", Status: CheckFail, Evidence: err.Error(), Action: "fix the key the error names; the bot would refuse to start"})
		return r
	}
	where := "the built-in defaults"
	if o.Load.Path != "" {
		where = o.Load.Path
	}
	add(Check{Name: "config", Status: CheckOK, Evidence: fmt.Sprintf("loaded %s and the KEEL_ environment: exchange %s, %d value(s) listed below", where, c.Exchange.Name, len(configValues(c)))})
	r.Config = configValues(c)

	bot := ProbeAdmin(ctx, c.Admin.Listen, time.Second)
	if bot.Answers {
		add(Check{Name: "running bot", Status: CheckOK, Evidence: "a bot answers on admin.listen " + c.Admin.Listen + ": " + bot.Detail + " (doctor only reads)"})
	} else {
		add(Check{Name: "running bot", Status: CheckOK, Evidence: "none on admin.listen " + c.Admin.Listen + ": " + bot.Detail})
	}

	r.Checks = append(r.Checks, checkExchange(ctx, c, o.Timeout)...)
	r.Checks = append(r.Checks, checkRetries(c)...)
	r.Checks = append(r.Checks, checkKillPath(ctx, c, o.Timeout)...)
	r.Checks = append(r.Checks, checkJournal(c, bot.Answers)...)
	return r
}

// checkExchange builds the adapter on a scheduler of its own (concurrency 1, no retries, the
// windows the bot would use) and checks the clock, the limits and the key.
func checkExchange(ctx context.Context, c *Config, timeout time.Duration) []Check {
	var out []Check
	def, err := adapters.Lookup(c.Exchange.Name)
	if err != nil {
		return []Check{{Name: "exchange", Status: CheckFail, Evidence: err.Error()}}
	}
	sc := c.Scheduler
	sc.DefaultBudget, sc.DefaultMaxWait = timeout, timeout
	sc.Retries = scheduler.RetryConfig{RateLimit: -1, Transient: -1}
	sc.Buckets = append([]scheduler.BucketConfig(nil), sc.Buckets...)
	for i := range sc.Buckets {
		sc.Buckets[i].MaxConcurrency = 1
	}
	s, err := scheduler.New(sc) // no gate and no auth hook: doctor never trips the kill switch
	if err != nil {
		return []Check{{Name: "exchange", Status: CheckFail, Evidence: sectionError("scheduler", err).Error()}}
	}
	defer s.Close()
	var stops []func() error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			_ = stops[i]()
		}
	}()
	ex, err := def.New(c.Exchange.Adapter, adapters.Env{Scheduler: s, OnStop: func(f func() error) { stops = append(stops, f) }})
	if err != nil {
		return []Check{{Name: "exchange", Status: CheckFail, Evidence: sectionError("exchange", err).Error()}}
	}

	start := time.Now()
	info, err := ex.ExchangeInfo(ctx)
	rtt := time.Since(start)
	if err != nil {
		return append(out, Check{Name: "exchange", Status: CheckFail, Evidence: "exchange info: " + scheduler.Redact(err.Error()),
			Action: "check exchange.base_url and the network; nothing else can be checked"})
	}
	out = append(out, checkClock(c, info, start, rtt))
	out = append(out, checkBudgets(c, info)...)
	out = append(out, checkKey(ctx, ex)...)
	return out
}

// checkClock compares the exchange's server time with this host's, allowing for the round
// trip. A signed request carries this host's time; the exchange refuses it when it is more
// than the acceptance window (Binance's recvWindow) old or from the future.
func checkClock(c *Config, info adapters.ExchangeInfo, sent time.Time, rtt time.Duration) Check {
	window := c.Exchange.Adapter.AcceptanceWindow()
	if info.ServerTime.IsZero() {
		return Check{Name: "clock", Status: CheckWarn, Evidence: "the exchange's info carries no server time", Action: "keep the host on NTP (chrony, systemd-timesyncd)"}
	}
	offset := info.ServerTime.Sub(sent.Add(rtt / 2)) // > 0: this host is behind the exchange
	ev := fmt.Sprintf("this host is %s %s the exchange (round trip %s; acceptance window %s)",
		abs(offset).Round(time.Millisecond), map[bool]string{true: "behind", false: "ahead of"}[offset >= 0], rtt.Round(time.Millisecond), window)
	const fix = "sync the clock (chronyc makestep; keep NTP running) and move the bot close to the exchange"
	switch {
	case window > 0 && abs(offset)+rtt >= window:
		return Check{Name: "clock", Status: CheckFail, Evidence: ev + ": signed requests would be refused", Action: fix}
	case window > 0 && offset < -time.Second:
		return Check{Name: "clock", Status: CheckFail, Evidence: ev + ": exchanges refuse timestamps from the future (Binance: over 1 s ahead)", Action: fix}
	case window > 0 && abs(offset)+rtt >= window/2:
		return Check{Name: "clock", Status: CheckWarn, Evidence: ev + ": over half the window", Action: fix}
	case window == 0 && abs(offset) > time.Second:
		return Check{Name: "clock", Status: CheckWarn, Evidence: ev + " (this exchange signs without timestamps, but logs and order times will disagree with its)", Action: fix}
	case window == 0:
		return Check{Name: "clock", Status: CheckOK, Evidence: ev + " (this exchange has no acceptance window)"}
	}
	return Check{Name: "clock", Status: CheckOK, Evidence: ev}
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// checkBudgets compares the windows the bot would use, times the instances that would each
// use them, with the limits the exchange announces.
func checkBudgets(c *Config, info adapters.ExchangeInfo) []Check {
	eff := c.Scheduler.Effective()
	var out []Check
	instances := 1
	if !c.fleetEnabled() && c.Fleet.Size > 1 {
		instances = c.Fleet.Size
		out = append(out, Check{Name: "budgets: fleet", Status: CheckFail,
			Evidence: fmt.Sprintf("fleet.size %d without store.url: each of %d processes on this key would use every whole limit", c.Fleet.Size, c.Fleet.Size),
			Action:   "set store.url to share one budget through Redis, or run one instance (fleet.size 1)"})
	}
	announced := map[string]adapters.RateLimit{}
	for _, l := range info.RateLimits {
		announced[l.Window] = l
	}
	// A window is used up to safety_fraction_confirmed of its limit while the exchange's usage
	// headers confirm the count (scheduler/usage.go): that is the most each instance may use.
	most := eff.SafetyFractionConfirmed
	for _, w := range eff.Windows {
		safe := float64(w.Limit) * most
		a, ok := announced[w.Name]
		name := "budgets: " + w.Name
		switch {
		case !ok:
			out = append(out, Check{Name: name, Status: CheckOK, Evidence: fmt.Sprintf("%d per %s, used to %.0f%% (the exchange announces no such window; the adapter's documented limit)", w.Limit, w.Interval, most*100)})
		case safe*float64(instances) > float64(a.Limit):
			out = append(out, Check{Name: name, Status: CheckFail,
				Evidence: fmt.Sprintf("%d instance(s) × %.0f (limit %d × safety_fraction_confirmed %.2f) per %s > the exchange's %d per %s", instances, safe, w.Limit, most, w.Interval, a.Limit, a.Interval),
				Action:   "lower scheduler.windows' limit (or remove it to take the adapter's), or share the budget with store.url"})
		default:
			out = append(out, Check{Name: name, Status: CheckOK,
				Evidence: fmt.Sprintf("%d instance(s) × %.0f (limit %d × safety_fraction_confirmed %.2f) per %s ≤ the exchange's %d per %s", instances, safe, w.Limit, most, w.Interval, a.Limit, a.Interval)})
		}
	}
	caps := 0
	for _, b := range eff.Buckets {
		caps += b.MaxConcurrency
	}
	status, ev := CheckOK, fmt.Sprintf("safety_fraction %.2f, safety_fraction_confirmed %.2f; %d bucket(s), %d request(s) in flight at most per instance × %d instance(s)",
		eff.SafetyFraction, most, len(eff.Buckets), caps, instances)
	var action []string
	if eff.SafetyFraction > 0.95 {
		status, ev = CheckWarn, ev+"; a safety_fraction above 0.95 leaves no room for other clients of the key or clock skew between windows"
		action = append(action, "safety_fraction 0.9 (the default)")
	}
	if most > 0.99 {
		status, ev = CheckWarn, ev+"; a safety_fraction_confirmed above 0.99 leaves under 1% of a window for what the usage headers cannot show (another client spending between two answers, a header rounded down)"
		action = append(action, "safety_fraction_confirmed 0.99 (the default)")
	}
	return append(out, Check{Name: "budgets: safety", Status: status, Evidence: ev, Action: strings.Join(action, "; ")})
}

// checkRetries holds the retry policy to the budgets Keel ships with: auth 0, rate_limit 2–3,
// transient 1–2, validation 0. More multiplies load on an exchange already refusing.
func checkRetries(c *Config) []Check {
	eff := c.Scheduler.Effective()
	one := func(class string, n, lo, hi int) Check {
		name := "retries: " + class
		ev := fmt.Sprintf("scheduler.retries.%s %d (expected %d–%d)", class, max(n, 0), lo, hi)
		switch {
		case n > hi:
			return Check{Name: name, Status: CheckFail, Evidence: ev, Action: fmt.Sprintf("at most %d: each retry adds load where the exchange is already refusing", hi)}
		case n < lo:
			return Check{Name: name, Status: CheckWarn, Evidence: ev, Action: "fewer retries surface more errors to strategies; leave the key out for the default"}
		}
		return Check{Name: name, Status: CheckOK, Evidence: ev}
	}
	return []Check{
		{Name: "retries: auth, validation", Status: CheckOK, Evidence: "0 (fixed: an auth failure trips the kill switch, a validation failure goes to the caller)"},
		one("rate_limit", eff.Retries.RateLimit, 2, 3),
		one("transient", eff.Retries.Transient, 1, 2),
	}
}

// checkKey reads the key's standing and scopes where the adapter can.
func checkKey(ctx context.Context, ex adapters.Exchange) []Check {
	var out []Check
	ki, ok := ex.(adapters.KeyInspector)
	if !ok {
		cannot := fmt.Sprintf("cannot check: the %s adapter cannot read its key's scopes", ex.Name())
		return append(out,
			Check{Name: "key: trading", Status: CheckWarn, Evidence: cannot, Action: "check in the exchange's API key settings that the key can trade"},
			Check{Name: "key: withdrawals", Status: CheckWarn, Evidence: cannot, Action: "check in the exchange's API key settings that withdrawals are disabled"},
			Check{Name: "key: IP restriction", Status: CheckWarn, Evidence: cannot, Action: "restrict the key to this host's IP addresses in the exchange's settings"})
	}
	p, err := ki.KeyPermissions(ctx)
	if err != nil {
		return append(out, Check{Name: "key", Status: CheckFail, Evidence: "reading the key's scopes: " + scheduler.Redact(err.Error()),
			Action: "check the key and secret (KEEL_EXCHANGE_API_KEY, KEEL_EXCHANGE_API_SECRET) and the clock"})
	}
	if p.CanTrade {
		out = append(out, Check{Name: "key: trading", Status: CheckOK, Evidence: "the key may trade spot"})
	} else {
		out = append(out, Check{Name: "key: trading", Status: CheckFail, Evidence: "the key may not trade spot", Action: "enable spot trading on the key"})
	}
	if p.CanWithdraw {
		out = append(out, Check{Name: "key: withdrawals", Status: CheckFail, Evidence: "withdrawals are ENABLED on this key: a leaked key can move the funds off the exchange",
			Action: "disable withdrawals on the key; a trading bot never needs them"})
	} else {
		out = append(out, Check{Name: "key: withdrawals", Status: CheckOK, Evidence: "withdrawals are disabled"})
	}
	switch {
	case p.IPRestrictionUnreported:
		out = append(out, Check{Name: "key: IP restriction", Status: CheckWarn, Evidence: fmt.Sprintf("cannot check: %s does not report whether the key is restricted to addresses", ex.Name()),
			Action: "restrict the key to this host's IP addresses in the exchange's settings"})
	case p.IPRestricted:
		out = append(out, Check{Name: "key: IP restriction", Status: CheckOK, Evidence: "the key is restricted to listed IP addresses"})
	default:
		out = append(out, Check{Name: "key: IP restriction", Status: CheckWarn, Evidence: "the key works from any IP address", Action: "restrict it to this host's addresses"})
	}
	switch p.KeyType {
	case "ed25519":
		out = append(out, Check{Name: "key: type", Status: CheckOK, Evidence: "Ed25519"})
	case "ecdsa":
		out = append(out, Check{Name: "key: type", Status: CheckOK, Evidence: "ECDSA (P-256): the exchange holds only the public half"})
	default:
		out = append(out, Check{Name: "key: type", Status: CheckWarn, Evidence: fmt.Sprintf("%q: the secret travels with every deployment", p.KeyType),
			Action: "use an Ed25519 key (exchange.ed25519_private_key_file): the exchange holds only the public half"})
	}
	return out
}

// checkKillPath checks that the kill switch can be used: its file can be created, is not
// there already, a signal can reach the process, and the fleet's key is reachable.
func checkKillPath(ctx context.Context, c *Config, timeout time.Duration) []Check {
	var out []Check
	file := c.KillSwitch.File
	dir := filepath.Dir(file)
	if err := writableDir(dir); err != nil {
		out = append(out, Check{Name: "kill switch: file", Status: CheckFail, Evidence: fmt.Sprintf("killswitch.file %s: its directory %s: %v", file, dir, err),
			Action: "make the directory exist and writable by the bot's user: `keel halt` and an auth failure create the file there"})
	} else if _, err := os.Stat(file); err == nil {
		why := ""
		if raw, err := os.ReadFile(file); err == nil {
			why = ": " + strings.TrimSpace(string(raw))
		}
		out = append(out, Check{Name: "kill switch: file", Status: CheckFail, Evidence: fmt.Sprintf("killswitch.file %s exists: the bot would start halted%s", file, why),
			Action: "find out why it was halted, then `keel resume --config ...`"})
	} else {
		out = append(out, Check{Name: "kill switch: file", Status: CheckOK, Evidence: fmt.Sprintf("killswitch.file %s: absent, directory writable", file)})
	}
	if goruntime.GOOS == "windows" {
		out = append(out, Check{Name: "kill switch: signal", Status: CheckWarn, Evidence: "no SIGUSR1 on " + goruntime.GOOS, Action: "halt with `keel halt` or the file"})
	} else {
		out = append(out, Check{Name: "kill switch: signal", Status: CheckOK, Evidence: "kill -USR1 <pid> halts; SIGTERM stops cleanly"})
	}
	if c.fleetEnabled() {
		out = append(out, checkFleetKey(ctx, c, timeout))
	}
	return out
}

// checkJournal checks the journal file: writable, persistent, free of another process's lock,
// and lists what a start would have to reconcile.
func checkJournal(c *Config, botAnswers bool) []Check {
	if c.fleetEnabled() {
		return []Check{{Name: "journal", Status: CheckOK, Evidence: "fleet mode: the journal is in Redis at store.url (persistence is Redis's: appendonly yes)"}}
	}
	var out []Check
	path := c.Journal.Path
	dir := filepath.Dir(path)
	if err := writableDir(dir); err != nil {
		return append(out, Check{Name: "journal: path", Status: CheckFail, Evidence: fmt.Sprintf("journal.path %s: its directory %s: %v", path, dir, err),
			Action: "create the directory, writable by the bot's user (a volume in a container, StateDirectory under systemd)"})
	}
	if tmp, err := onTmpfs(dir); err == nil && tmp {
		out = append(out, Check{Name: "journal: persistence", Status: CheckWarn, Evidence: fmt.Sprintf("journal.path %s is on tmpfs: a reboot loses every intent in flight", path),
			Action: "put the journal on a persistent disk"})
	} else {
		out = append(out, Check{Name: "journal: persistence", Status: CheckOK, Evidence: fmt.Sprintf("journal.path %s: directory writable, not on tmpfs", path)})
	}
	entries, err := idempotency.InspectFile(path, 100*time.Millisecond)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		out = append(out, Check{Name: "journal: lock", Status: CheckOK, Evidence: "no journal yet: the first run creates it"})
	case errors.Is(err, idempotency.ErrLocked) && botAnswers:
		out = append(out, Check{Name: "journal: lock", Status: CheckWarn, Evidence: "held by the bot answering on admin.listen; its entries were not read",
			Action: "a second bot on this journal would fail to start: give each its own journal.path"})
	case errors.Is(err, idempotency.ErrLocked):
		out = append(out, Check{Name: "journal: lock", Status: CheckFail, Evidence: fmt.Sprintf("%s is locked by another process, and no bot answers on admin.listen", path),
			Action: "find the process holding it (fuser " + path + "); the bot would wait for the lock and fail to start"})
	case err != nil:
		out = append(out, Check{Name: "journal: lock", Status: CheckFail, Evidence: err.Error(), Action: "the bot refuses a journal it cannot read: restore it or move it aside knowingly"})
	case len(entries) == 0:
		out = append(out, Check{Name: "journal: lock", Status: CheckOK, Evidence: "free; no unresolved entries"})
	default:
		keys := make([]string, 0, min(len(entries), 10))
		for _, e := range entries[:min(len(entries), 10)] {
			keys = append(keys, fmt.Sprintf("%s (%s %s %s)", e.Key, e.Intent.Symbol, e.Intent.Side, e.State))
		}
		out = append(out, Check{Name: "journal: lock", Status: CheckWarn,
			Evidence: fmt.Sprintf("free; %d unresolved entr%s: %s", len(entries), map[bool]string{true: "y", false: "ies"}[len(entries) == 1], strings.Join(keys, ", ")),
			Action:   "start-up reconciles them with the exchange before any strategy runs"})
	}
	return out
}

// writableDir reports why the process could not create a file in dir.
func writableDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return errors.New("not a directory")
	}
	return accessWrite(dir)
}
