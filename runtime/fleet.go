package runtime

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/redact"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/scheduler"
)

// StoreConfig selects where shared state lives. An empty URL (the default) keeps everything
// in the process: the journal file, local windows and slots, the kill-switch file. A Redis URL
// switches fleet mode on: the limit windows, the bucket slots, the breakers' open state, the
// journal and the kill switch are shared by every instance with the same URL and prefix.
type StoreConfig struct {
	// URL is "redis://[user:password@]host:port/db" (or rediss:// for TLS). Env KEEL_STORE_URL.
	URL string `koanf:"url"`
	// Prefix starts every Redis key. Instances that share an API key must share it; two bots
	// on different accounts must not. Default "keel:<exchange.name>:".
	Prefix string `koanf:"prefix"`
	// SlotLease is how long a dead instance can keep a bucket slot. Default 10s.
	SlotLease time.Duration `koanf:"slot_lease"`
}

// FleetConfig describes the fleet.
type FleetConfig struct {
	// Size is how many instances share the API key: while Redis is unreachable each uses
	// limit ÷ size of every window and cap ÷ size slots of every bucket. Default 1.
	Size int `koanf:"size"`
}

// fleetEnabled reports whether store.url switches fleet mode on.
func (c *Config) fleetEnabled() bool { return c.Store.URL != "" }

// setFleetDefaults fills the store and fleet sections.
func (c *Config) setFleetDefaults() {
	if c.Fleet.Size == 0 {
		c.Fleet.Size = 1
	}
	if c.Store.Prefix == "" {
		c.Store.Prefix = "keel:" + c.Exchange.Name + ":"
	}
	if c.Store.SlotLease == 0 {
		c.Store.SlotLease = 10 * time.Second
	}
}

// validateFleet checks the store and fleet sections.
func (c *Config) validateFleet() error {
	if c.Fleet.Size < 1 {
		return &ConfigError{Key: "fleet.size", Reason: fmt.Sprintf("must be >= 1, got %d", c.Fleet.Size)}
	}
	if c.Store.SlotLease < 0 {
		return &ConfigError{Key: "store.slot_lease", Reason: fmt.Sprintf("must be a positive duration, got %s", c.Store.SlotLease)}
	}
	if !c.fleetEnabled() {
		return nil
	}
	u, err := url.Parse(c.Store.URL)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		return &ConfigError{Key: "store.url", Reason: "want redis://host:port/db or rediss://..., got " + redactURL(c.Store.URL)}
	}
	if _, err := redis.ParseURL(c.Store.URL); err != nil {
		return &ConfigError{Key: "store.url", Reason: strings.ReplaceAll(err.Error(), c.Store.URL, redactURL(c.Store.URL))}
	}
	if err := fleet.Check(c.Scheduler); err != nil {
		return sectionError("scheduler", fmt.Errorf("scheduler: %s", strings.TrimPrefix(err.Error(), "fleet: ")))
	}
	return nil
}

// redactURL hides a password in a store URL, textually when the URL does not parse.
func redactURL(s string) string { return redact.URL(s) }

// FleetModule provides the *fleet.Fleet: nil unless store.url is set.
var FleetModule = fx.Module("fleet", fx.Provide(provideFleet))

// provideFleet connects to Redis in fleet mode. Start-up does not wait for Redis: an instance
// that starts while Redis is down starts failed safe (orders held) and recovers by itself.
func provideFleet(lc fx.Lifecycle, c *Config, lg Logging) (*fleet.Fleet, error) {
	if !c.fleetEnabled() {
		return nil, nil
	}
	f, rdb, err := connectFleet(c, lg.Logger.With().Str("component", "fleet").Logger())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err = rdb.Ping(ctx).Err()
	cancel()
	switch {
	case refusedCredentials(err):
		// Not an outage: it will not heal by itself, so start-up stops with one line.
		_ = rdb.Close()
		return nil, &ConfigError{Key: "store.url", Reason: "Redis at " + redactURL(c.Store.URL) + " refused the credentials: " + scheduler.Redact(err.Error())}
	case err != nil:
		f.MarkDownAtStart(err)
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { f.Start(); return nil },
		OnStop: func(context.Context) error {
			_ = f.Close()
			return rdb.Close()
		},
	})
	lg.Logger.Info().Str("store", redactURL(c.Store.URL)).Str("prefix", c.Store.Prefix).Int("fleet_size", c.Fleet.Size).
		Msg("fleet mode: windows, slots, breakers, journal and kill switch shared through Redis")
	return f, nil
}

// refusedCredentials reports whether err is Redis refusing the URL's user or password (or
// asking for one the URL lacks).
func refusedCredentials(err error) bool {
	if err == nil {
		return false
	}
	for _, p := range []string{"WRONGPASS", "NOAUTH", "NOPERM"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	msg := err.Error()
	return strings.Contains(msg, "invalid password") || strings.Contains(msg, "without any password configured")
}

// quietRedis drops go-redis's own log lines (it writes its dial failures to stderr, one per
// attempt): the fleet reports Redis going away and coming back itself, once each.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

var silenceRedis sync.Once

// connectFleet builds the Redis client and the fleet member store.url and the fleet section
// describe. It does not wait for Redis: the fleet notices an outage by itself.
func connectFleet(c *Config, log zerolog.Logger) (*fleet.Fleet, *redis.Client, error) {
	opt, err := redis.ParseURL(c.Store.URL)
	if err != nil {
		return nil, nil, &ConfigError{Key: "store.url", Reason: "not a Redis URL"}
	}
	silenceRedis.Do(func() { redis.SetLogger(quietRedis{}) })
	opt.DialTimeout = time.Second
	opt.MaxRetries = 1
	rdb := redis.NewClient(opt)
	f, err := fleet.New(rdb, fleet.Options{
		Prefix: c.Store.Prefix, InstanceID: c.Bot.InstanceID, Size: c.Fleet.Size, SlotLease: c.Store.SlotLease, Logger: log,
	})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("runtime: store.url: %w", err)
	}
	return f, rdb, nil
}

// newKillSwitch returns the file switch, kept in step with the fleet's Redis key in fleet mode.
func newKillSwitch(c *Config, fl *fleet.Fleet, opts ...killswitch.Option) (*killswitch.Switch, error) {
	if fl == nil {
		return killswitch.New(c.KillSwitch, opts...)
	}
	if err := c.KillSwitch.Validate(); err != nil {
		return nil, err
	}
	kc := c.KillSwitch.WithDefaults()
	b := fl.KillSwitchBackend(killswitch.NewFileBackend(kc.File))
	return killswitch.NewWithBackend(b, append([]killswitch.Option{killswitch.WithPollInterval(kc.PollInterval)}, opts...)...), nil
}

// fleetSchedulerOptions shares the scheduler's windows, slots and holds in fleet mode, and
// closes its gate while Redis is unreachable.
func fleetSchedulerOptions(fl *fleet.Fleet, gate scheduler.Gate) []scheduler.Option {
	if fl == nil {
		return []scheduler.Option{scheduler.WithGate(gate)}
	}
	return append(fl.SchedulerOptions(), scheduler.WithGate(fl.Gate(gate)))
}

// openJournal opens the journal file, or the fleet's Redis journal in fleet mode.
func openJournal(c *Config, fl *fleet.Fleet) (idempotency.Store, error) {
	if fl != nil {
		return fl.Journal(), nil
	}
	return idempotency.OpenFile(c.Journal.Path)
}

// fleetStatus is the fleet's part of /status (nil outside fleet mode).
func fleetStatus(fl *fleet.Fleet) *fleet.Status {
	if fl == nil {
		return nil
	}
	st := fl.Status()
	return &st
}
