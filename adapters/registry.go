package adapters

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// Config is an adapter's configuration: the keys of the `exchange:` section other than
// `name`. Definition.NewConfig returns it as a pointer to a struct with koanf tags; the
// runtime decodes the section into it (unknown keys refused), then asks
// it to Validate. Its String and GoString must never print a secret.
type Config interface {
	// Validate checks the decoded config and names the bad key ("base_url: ...").
	Validate() error
	// SchedulerWindows are the limit windows the adapter's requests consume, at the
	// exchange's documented limits; SchedulerBuckets the concurrency buckets they name.
	// A user's `scheduler.windows` / `scheduler.buckets` replace them.
	SchedulerWindows() []scheduler.WindowConfig
	SchedulerBuckets() []scheduler.BucketConfig
	// AcceptanceWindow is how long after it was signed the exchange still accepts a request
	// (Binance's recvWindow), which bounds how late a placement may land; 0 when the
	// exchange has no such rule.
	AcceptanceWindow() time.Duration
}

// ZeroValued is implemented by a Config with numeric keys for which 0 is a value of its own
// (a seed); ZeroIsValue names them, without the "exchange." prefix. The runtime refuses a 0
// written for any other numeric key of the section: there a zero means the default, which is
// not what the user wrote.
type ZeroValued interface {
	ZeroIsValue() []string
}

// SimTarget is implemented by a Config that can be pointed at the simulated exchange
// (adapters/sim) speaking its dialect: the embedded simulator builds the dialect's adapter
// from NewConfig plus ForSimulator.
type SimTarget interface {
	// ForSimulator points the config at a simulator.
	ForSimulator(s SimEndpoint)
}

// SimEndpoint is where a simulator serves and how: what an adapter's config needs to talk
// to it.
type SimEndpoint struct {
	// RESTURL is the REST root ("http://127.0.0.1:port"), WSURL the WebSocket root
	// ("ws://127.0.0.1:port").
	RESTURL, WSURL string
	// APIKey and APISecret are the simulated account's credentials (the secret as the
	// simulator's HMAC key; an exchange that issues base64 secrets encodes it).
	APIKey, APISecret string
	// TimeScale is how many times faster than real time the simulator runs its limits: an
	// adapter whose limits are not announced by the exchange scales its own by it.
	TimeScale float64
}

// Env is what an adapter's constructor gets from the runtime.
type Env struct {
	// Scheduler is the account's scheduler: every REST call goes through it.
	Scheduler *scheduler.Scheduler
	// OnStop registers a function the runtime calls when it stops, after every caller of the
	// adapter has: close connections, stop an embedded server.
	OnStop func(func() error)
	// Logf, when set, receives the adapter's rare operational messages ("embedded simulator
	// started at ..."); nil drops them.
	Logf func(format string, args ...any)
}

// Definition registers an exchange adapter. Runtimes build whichever one `exchange.name`
// names and never import an exchange package: a binary links the exchanges it imports.
type Definition struct {
	// Name is what `exchange.name` says ("binance", "bybit", "kraken", "sim").
	Name string
	// NewConfig returns a fresh config for the runtime to decode the section into: with the
	// defaults that depend on no other key applied, and those that do (a base URL that
	// follows the chosen environment) left for New.
	NewConfig func() Config
	// New builds the adapter from a validated config returned by NewConfig.
	New func(cfg Config, env Env) (Exchange, error)
	// Streams tells whether the adapter's MarketStream and UserStream work; without them the
	// runtime polls REST for quotes and order updates.
	Streams bool
}

var (
	registryMu sync.RWMutex
	registry   = map[string]Definition{}
)

// ErrUnknownExchange is returned by Lookup for a name no linked package registered.
var ErrUnknownExchange = errors.New("adapters: unknown exchange")

// Register makes an adapter available under d.Name. Adapter packages call it from init, as
// database/sql drivers do; a binary chooses its exchanges by importing their packages. It
// panics on an incomplete definition or a name registered twice: both are programming errors
// found the first time the binary starts.
func Register(d Definition) {
	if d.Name == "" || d.NewConfig == nil || d.New == nil {
		panic("adapters: Register: a definition needs Name, NewConfig and New")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[d.Name]; dup {
		panic("adapters: Register: exchange " + d.Name + " registered twice")
	}
	registry[d.Name] = d
}

// Lookup returns the adapter registered under name.
func Lookup(name string) (Definition, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	d, ok := registry[name]
	if !ok {
		return Definition{}, fmt.Errorf("%w %q (this binary has %v; import the adapter's package to link it)", ErrUnknownExchange, name, namesLocked())
	}
	return d, nil
}

// Registered lists the registered exchange names, sorted.
func Registered() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return namesLocked()
}

// requires that registryMu is held.
func namesLocked() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PublicConfig is implemented by an adapter config that can also serve market data alone,
// without credentials (`exchange.mode: paper` reads only public endpoints and streams):
// ValidatePublic checks everything but the keys.
type PublicConfig interface {
	ValidatePublic() error
}
