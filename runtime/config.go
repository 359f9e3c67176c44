package runtime

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/v2"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/configs"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

// Config is the whole configuration: configs/sim.yaml shows every key with its default.
// Each section belongs to the package that uses it; the runtime only composes them.
type Config struct {
	Bot        BotConfig         `koanf:"bot"`
	Exchange   ExchangeConfig    `koanf:"exchange"`
	Scheduler  scheduler.Config  `koanf:"scheduler"`
	Journal    JournalConfig     `koanf:"journal"`
	Store      StoreConfig       `koanf:"store"`
	Fleet      FleetConfig       `koanf:"fleet"`
	Orders     orders.Config     `koanf:"orders"`
	KillSwitch killswitch.Config `koanf:"killswitch"`
	Admin      AdminConfig       `koanf:"admin"`
	Shutdown   ShutdownConfig    `koanf:"shutdown"`
	Log        LogConfig         `koanf:"log"`
	Market     MarketConfig      `koanf:"market"`
	// Backtest is read by `keel backtest` only (backtest_config.go).
	Backtest  BacktestConfig  `koanf:"backtest"`
	Portfolio PortfolioConfig `koanf:"portfolio"`
	UI        UIConfig        `koanf:"ui"`
	Notify    NotifyConfig    `koanf:"notify"`
	// OnStrategyFailure is what happens when a strategy dies (panics, or its Start fails):
	// "cancel" (the default) cancels its open orders and lets the others go on; "halt" also
	// trips the kill switch, naming the strategy (killswitch.cancel_on_trip then cancels
	// every order). Either way the dead strategy's orders are pulled.
	OnStrategyFailure string `koanf:"on_strategy_failure"`
	// Strategies holds one section per strategy, decoded by the strategy's own Config type.
	Strategies map[string]any `koanf:"strategies"`

	raw *koanf.Koanf // for decoding strategy sections strictly
	// sources says which layer set each key present in raw (SourceDefault, SourceFile,
	// SourceEnv); a key absent from it takes its built-in default.
	sources map[string]string
	// defaults is the built-in defaults as loaded, before the file and the environment.
	defaults *koanf.Koanf
}

// Source says where key's value came from: SourceFile, SourceEnv, or SourceDefault (the
// built-in defaults, or a default applied in code when no layer sets the key).
func (c *Config) Source(key string) string {
	if s, ok := c.sources[key]; ok {
		return s
	}
	return SourceDefault
}

// userWrote reports whether the file or the environment set key, or a key under it, to
// something other than its built-in default (a copy of configs/sim.yaml changes nothing).
func (c *Config) userWrote(key string) bool {
	for k, s := range c.sources {
		if s == SourceDefault || (k != key && !strings.HasPrefix(k, key+".")) {
			continue
		}
		if c.defaults == nil || !c.defaults.Exists(k) || fmt.Sprint(c.defaults.Get(k)) != fmt.Sprint(c.raw.Get(k)) {
			return true
		}
	}
	return false
}

// BotConfig identifies this bot.
type BotConfig struct {
	// InstanceID names this process in every log event and in its order keys; 1-6 letters or
	// digits. Default: derived from the host name.
	InstanceID string `koanf:"instance_id"`
	// KeyPrefix starts every client order id this bot creates, so reconciliation can tell its
	// orders from others on the same account. 1-6 letters or digits. Default "kl".
	KeyPrefix string `koanf:"key_prefix"`
}

// ExchangeConfig selects and configures the exchange adapter.
type ExchangeConfig struct {
	// Name is a registered exchange (adapters.Registered): one whose package the binary
	// imports ("binance", "bybit", "kraken", and "sim" for the embedded simulator).
	Name string `koanf:"name"`
	// Mode is "live" (the default) or "paper": market data from the exchange (public
	// endpoints and streams, no key needed), orders filled locally against its live book
	// (adapters/paper; paper.go).
	Mode string `koanf:"mode"`
	// Paper is the paper account, for mode paper.
	Paper PaperConfig `koanf:"paper"`
	// Adapter is the rest of the section, decoded strictly into the named adapter's own
	// config type (adapters.Definition.NewConfig).
	Adapter adapters.Config `koanf:"-"`
}

// JournalConfig configures the idempotency journal.
type JournalConfig struct {
	// Path of the embedded journal file. Default ./keel-journal.db.
	Path string `koanf:"path"`
	// Retention: resolved entries older than this are compacted away. Default 168h.
	Retention time.Duration `koanf:"retention"`
}

// ShutdownConfig says what happens on SIGINT/SIGTERM.
type ShutdownConfig struct {
	// CancelOpenOrders cancels every open order of this bot before exiting.
	CancelOpenOrders bool `koanf:"cancel_open_orders"`
	// Timeout bounds the whole shutdown. Default 5s.
	Timeout time.Duration `koanf:"timeout"`
}

// defaultStaleAfter and maxStaleAfter bound market.stale_after, in poll intervals.
const (
	defaultStaleAfter = 3
	maxStaleAfter     = 1000
)

// MarketConfig configures market data.
type MarketConfig struct {
	// PollInterval between best bid/ask polls of each subscribed symbol. Default 1s.
	PollInterval time.Duration `koanf:"poll_interval"`
	// StaleAfter is how many poll intervals old a polled quote may be: past that the symbol is
	// stale (DataStatus{Stale: true}) until a quote arrives in time, so a poll that hangs or
	// trickles cannot keep strategies quoting on old prices. Default 3; must be > 1 (the next
	// poll answers at least one interval after the last). Streamed symbols are judged by their
	// stream, not by age: a quiet book sends nothing and is not stale.
	StaleAfter float64 `koanf:"stale_after"`
	// Tick is the interval of strategies' Tick events. Default 1s.
	Tick time.Duration `koanf:"tick"`
	// InfoTTL is how long exchange info (symbols, filters) is cached. Default 10m.
	InfoTTL time.Duration `koanf:"info_ttl"`
	// ClockCheck is how often the exchange's clock is measured against ours (its server-time
	// read, background priority, jittered ±20%), so that a drifting or stepped host clock is
	// logged (event clock_offset, on a move over 100 ms) before signatures fail. Default 1m.
	// Adapters without a server-time call (Kraken) are not checked.
	ClockCheck time.Duration `koanf:"clock_check"`
	// Streams follows market data and the user data stream over WebSockets (runtime/streams.go);
	// REST polling then runs only for symbols whose stream is down or resyncing, and the order
	// refresh only while the user data stream is down. true in the built-in defaults.
	Streams bool `koanf:"streams"`
}

// PortfolioConfig configures the background balance refresh.
type PortfolioConfig struct {
	// RefreshInterval between balance refreshes (jittered ±20%). Default 10s.
	RefreshInterval time.Duration `koanf:"refresh_interval"`
}

// LoadConfig reads the configuration (defaults, then the file, then KEEL_* environment) and
// validates it. Every error names the offending key.
func LoadConfig(o LoadOptions) (*Config, *koanf.Koanf, error) {
	c, k, err := loadUnvalidated(o)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return c, k, nil
}

// loadUnvalidated is LoadConfig without Validate: keys and types are checked, values not.
func loadUnvalidated(o LoadOptions) (*Config, *koanf.Koanf, error) {
	if o.Defaults == nil {
		o.Defaults = configs.Sim
	}
	keys := knownKeys(reflect.TypeFor[Config](), "")
	for _, name := range adapters.Registered() { // KEEL_EXCHANGE_* may name any adapter's key
		def, _ := adapters.Lookup(name)
		keys = append(keys, knownKeys(reflect.TypeOf(def.NewConfig()), "exchange.")...)
	}
	k, defaults, sources, err := loadKoanf(o, keys)
	if err != nil {
		return nil, nil, err
	}
	// The exchange section belongs to the adapter exchange.name names: everything else is
	// decoded into Config, the section into the adapter's own type, both strictly.
	rest := k.Copy()
	rest.Delete("exchange")
	var c Config
	if err := decodeStrict(rest, "", &c); err != nil {
		return nil, nil, err
	}
	if err := c.Exchange.decode(k); err != nil {
		return nil, nil, err
	}
	c.registerSecrets()
	if err := refuseSchedulerZeros(k); err != nil {
		return nil, nil, err
	}
	if err := c.refuseDefaultingZeros(k); err != nil {
		return nil, nil, err
	}
	c.setDefaults()
	c.raw, c.sources, c.defaults = k, sources, defaults
	return &c, k, nil
}

// decode reads exchange.name and decodes the rest of the section into that adapter's config.
func (e *ExchangeConfig) decode(k *koanf.Koanf) error {
	e.Name = k.String("exchange.name")
	def, err := adapters.Lookup(e.Name)
	if err != nil {
		return &ConfigError{Key: "exchange.name", Reason: fmt.Sprintf("want one of %v, got %q (an exchange must be linked into the binary: import its adapter package)", adapters.Registered(), e.Name)}
	}
	section := k.Copy()
	section.Delete("exchange.name")
	if err := e.decodePaper(section); err != nil {
		return err
	}
	e.Adapter = def.NewConfig()
	return decodeStrict(section, "exchange", e.Adapter)
}

// refuseSchedulerZeros refuses a 0 written in the scheduler section. In scheduler.Config a
// zero field means "the default", so `max_concurrency: 0` would quietly become 2 and
// `retries.rate_limit: 0` would become 2 retries: the opposite of what the user wrote.
func refuseSchedulerZeros(k *koanf.Koanf) error {
	zero := func(key string, v any) error {
		if !isZero(v) {
			return nil
		}
		hint := "leave the key out for the default"
		if strings.Contains(key, "retries.") {
			hint += ", or use -1 for no retries"
		}
		return &ConfigError{Key: key, Reason: "0 is not a value here (a zero means the default): " + hint}
	}
	for _, key := range k.Keys() {
		if !strings.HasPrefix(key, "scheduler.") {
			continue
		}
		if list, ok := k.Get(key).([]any); ok { // windows and buckets are lists of sections
			for i, item := range list {
				fields, _ := item.(map[string]any)
				for name, v := range fields {
					if err := zero(fmt.Sprintf("%s[%d].%s", key, i, name), v); err != nil {
						return err
					}
				}
			}
			continue
		}
		if err := zero(key, k.Get(key)); err != nil {
			return err
		}
	}
	return nil
}

// isZero reports whether a raw config value (YAML number or string, or an environment
// string) is a zero number or duration.
func isZero(v any) bool {
	switch v := v.(type) {
	case int:
		return v == 0
	case int64:
		return v == 0
	case float64:
		return v == 0
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return f == 0
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		return err == nil && d == 0
	}
	return false
}

// setDefaults fills what the YAML may leave out.
func (c *Config) setDefaults() {
	if c.Bot.InstanceID == "" {
		c.Bot.InstanceID = defaultInstanceID()
	}
	if c.Bot.KeyPrefix == "" {
		c.Bot.KeyPrefix = "kl"
	}
	if c.Journal.Path == "" {
		c.Journal.Path = "./keel-journal.db"
	}
	if c.Journal.Retention == 0 {
		c.Journal.Retention = orders.DefaultRetention
	}
	// The orders manager's acceptance window is the exchange's (Binance's recvWindow): one
	// fact, one key.
	if c.Orders.RecvWindow == 0 && c.Exchange.Adapter != nil {
		c.Orders.RecvWindow = c.Exchange.Adapter.AcceptanceWindow()
	}
	// A placement's journalled send-by deadline is the scheduler's budget for it: one fact.
	if c.Orders.SendTimeout == 0 {
		c.Orders.SendTimeout = c.Scheduler.Effective().DefaultBudget
	}
	if c.Orders.Retention == 0 {
		c.Orders.Retention = c.Journal.Retention
	}
	c.KillSwitch = c.KillSwitch.WithDefaults()
	c.Admin = c.Admin.WithDefaults()
	c.setFleetDefaults()
	if c.Shutdown.Timeout == 0 {
		c.Shutdown.Timeout = 5 * time.Second
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
	if c.Market.PollInterval == 0 {
		c.Market.PollInterval = time.Second
	}
	if c.Market.StaleAfter == 0 {
		c.Market.StaleAfter = defaultStaleAfter
	}
	if c.Market.Tick == 0 {
		c.Market.Tick = time.Second
	}
	if c.Market.ClockCheck == 0 {
		c.Market.ClockCheck = time.Minute
	}
	if c.Market.InfoTTL == 0 {
		c.Market.InfoTTL = 10 * time.Minute
	}
	if c.Portfolio.RefreshInterval == 0 {
		c.Portfolio.RefreshInterval = 10 * time.Second
	}
	c.Notify.setDefaults()
	if c.UI.SummaryInterval == 0 {
		c.UI.SummaryInterval = 10 * time.Second
	}
	if c.OnStrategyFailure == "" {
		c.OnStrategyFailure = FailureCancel
	}
	c.Scheduler.Exchange = c.Exchange.Name
	c.Scheduler.InstanceID = c.Bot.InstanceID
	if len(c.Scheduler.Windows) == 0 && c.Exchange.Adapter != nil {
		c.Scheduler.Windows = c.Exchange.Adapter.SchedulerWindows()
	}
	if len(c.Scheduler.Buckets) == 0 && c.Exchange.Adapter != nil {
		c.Scheduler.Buckets = c.Exchange.Adapter.SchedulerBuckets()
	}
}

// Validate checks every section and names the bad key.
func (c *Config) Validate() error {
	if c.Exchange.Adapter == nil {
		return &ConfigError{Key: "exchange.name", Reason: fmt.Sprintf("want one of %v, got %q", adapters.Registered(), c.Exchange.Name)}
	}
	validate := c.Exchange.Adapter.Validate
	if pc, ok := c.Exchange.Adapter.(adapters.PublicConfig); ok && c.Exchange.Mode == "paper" {
		validate = pc.ValidatePublic // paper trading reads public data only: no key needed
	}
	if err := validate(); err != nil {
		return sectionError("exchange", err)
	}
	if !validKeyPart(c.Bot.InstanceID) {
		return &ConfigError{Key: "bot.instance_id", Reason: fmt.Sprintf("want 1-6 letters or digits, got %q", c.Bot.InstanceID)}
	}
	if !validKeyPart(c.Bot.KeyPrefix) {
		return &ConfigError{Key: "bot.key_prefix", Reason: fmt.Sprintf("want 1-6 letters or digits, got %q", c.Bot.KeyPrefix)}
	}
	if err := c.Scheduler.Validate(); err != nil {
		return sectionError("scheduler", err)
	}
	if err := c.checkAdapterWindows(); err != nil {
		return err
	}
	if err := c.Orders.Validate(); err != nil {
		return sectionError("orders", err)
	}
	if err := c.KillSwitch.Validate(); err != nil {
		return sectionError("killswitch", err)
	}
	if err := c.validateFleet(); err != nil {
		return err
	}
	if err := c.Admin.Validate(); err != nil {
		return err
	}
	if err := c.Log.Validate(); err != nil {
		return err
	}
	if err := c.Notify.validate(); err != nil {
		return err
	}
	if c.OnStrategyFailure != FailureCancel && c.OnStrategyFailure != FailureHalt {
		return &ConfigError{Key: "on_strategy_failure", Reason: fmt.Sprintf("want %s or %s, got %q", FailureCancel, FailureHalt, c.OnStrategyFailure)}
	}
	for key, d := range map[string]time.Duration{
		"journal.retention": c.Journal.Retention, "shutdown.timeout": c.Shutdown.Timeout,
		"market.poll_interval": c.Market.PollInterval, "market.tick": c.Market.Tick,
		"market.info_ttl": c.Market.InfoTTL, "portfolio.refresh_interval": c.Portfolio.RefreshInterval,
		"ui.summary_interval": c.UI.SummaryInterval,
		"market.clock_check":  c.Market.ClockCheck,
	} {
		if d < 0 {
			return &ConfigError{Key: key, Reason: fmt.Sprintf("must be a positive duration, got %s", d)}
		}
	}
	if !(c.Market.StaleAfter > 1 && c.Market.StaleAfter <= maxStaleAfter) {
		return &ConfigError{Key: "market.stale_after", Reason: fmt.Sprintf("want a number of poll intervals > 1 and <= %d, got %v", maxStaleAfter, c.Market.StaleAfter)}
	}
	for name, section := range c.Strategies {
		if _, ok := section.(map[string]any); !ok && section != nil {
			return &ConfigError{Key: "strategies." + name, Reason: "want a section (a map of keys)"}
		}
	}
	return nil
}

// checkAdapterWindows refuses scheduler.windows or scheduler.buckets that leave out one the
// adapter's requests name: the lists replace the adapter's whole, and a request costing a
// window that is not configured fails when it is sent, long after start-up.
func (c *Config) checkAdapterWindows() error {
	if c.Exchange.Adapter == nil {
		return nil
	}
	have := map[string]bool{}
	for _, w := range c.Scheduler.Windows {
		have[w.Name] = true
	}
	for _, w := range c.Exchange.Adapter.SchedulerWindows() {
		if !have[w.Name] {
			return &ConfigError{Key: "scheduler.windows", Reason: fmt.Sprintf("no window %s, which %s's requests count against: the list replaces the adapter's, so list every one of its windows or leave the key out", w.Name, c.Exchange.Name)}
		}
	}
	have = map[string]bool{}
	for _, b := range c.Scheduler.Buckets {
		have[b.Name] = true
	}
	for _, b := range c.Exchange.Adapter.SchedulerBuckets() {
		if !have[b.Name] {
			return &ConfigError{Key: "scheduler.buckets", Reason: fmt.Sprintf("no bucket %s, which %s's requests use: the list replaces the adapter's, so list every one of its buckets or leave the key out", b.Name, c.Exchange.Name)}
		}
	}
	return nil
}

// sectionError turns a package's Validate error into a ConfigError with the full dotted key.
// The packages name the key inside their section ("scheduler: buckets[orders].max_concurrency:
// must be >= 1", "binance: invalid config: recv_window: ...").
func sectionError(section string, err error) error {
	rest := err.Error()
	if i := strings.Index(rest, ": invalid config: "); i >= 0 && !strings.ContainsAny(rest[:i], " :") {
		rest = rest[i+len(": invalid config: "):] // "binance: invalid config: recv_window: ..."
	}
	for _, p := range []string{section + ": "} {
		rest = strings.TrimPrefix(rest, p)
		rest = strings.TrimPrefix(rest, p) // some packages repeat their prefix
	}
	key, reason, ok := strings.Cut(rest, ": ")
	if sp := strings.IndexByte(key, ' '); sp >= 0 { // "killswitch.file \"x\": reason"
		key, reason, ok = key[:sp], rest[sp+1:], true
	}
	if !ok || strings.ContainsAny(key, " \"'") {
		return &ConfigError{Key: section, Reason: rest}
	}
	if !strings.HasPrefix(key, section+".") {
		key = section + "." + key
	}
	return &ConfigError{Key: key, Reason: reason}
}

func validKeyPart(s string) bool {
	if len(s) < 1 || len(s) > 6 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// defaultInstanceID derives a stable 6-character id from the host name, so order keys of two
// hosts differ without configuration.
func defaultInstanceID() string {
	host, _ := os.Hostname()
	var h uint32 = 2166136261
	for i := 0; i < len(host); i++ {
		h = (h ^ uint32(host[i])) * 16777619
	}
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	for i := range b {
		b[i] = digits[h%36]
		h /= 36
	}
	return string(b)
}

// knownKeys lists the dotted keys of a config struct type from its koanf tags, so that an
// environment variable can be resolved to a key the YAML did not mention.
func knownKeys(t reflect.Type, prefix string) []string {
	types := map[string]reflect.Type{}
	keyTypes(t, prefix, types)
	out := make([]string, 0, len(types))
	for key := range types {
		out = append(out, key)
	}
	return out
}

// keyTypes records the Go type of every dotted key of a config struct type in out.
func keyTypes(t reflect.Type, prefix string, out map[string]reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "squash" {
			keyTypes(f.Type, prefix, out)
			continue
		}
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshaler) && ft != reflect.TypeFor[time.Time]() {
			keyTypes(ft, key+".", out)
			continue
		}
		out[key] = ft
	}
}
