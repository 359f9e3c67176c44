package runtime

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/redact"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/notify"
	"github.com/keelbot/keel/scheduler"
)

// NotifyConfig says whom to page and when (package notify). Every sink is off while its URL
// or token is empty; the URLs and the token are credentials: give them in the environment
// (KEEL_NOTIFY_SLACK_WEBHOOK_URL, ...), they are masked wherever text leaves the process.
type NotifyConfig struct {
	// WebhookURL receives each message as JSON (notify.Webhook).
	WebhookURL rest.Secret `koanf:"webhook_url"`
	// SlackWebhookURL is a Slack incoming webhook.
	SlackWebhookURL rest.Secret `koanf:"slack_webhook_url"`
	// TelegramBotToken and TelegramChatID send through a Telegram bot; TelegramAPIURL
	// defaults to https://api.telegram.org.
	TelegramBotToken rest.Secret `koanf:"telegram_bot_token"`
	TelegramChatID   string      `koanf:"telegram_chat_id"`
	TelegramAPIURL   string      `koanf:"telegram_api_url"`
	// UpdateInterval: an incident's further events are summed up at most this often. 1m.
	UpdateInterval time.Duration `koanf:"update_interval"`
	// MaxPerMinute caps messages per sink per minute. 10.
	MaxPerMinute int `koanf:"max_per_minute"`
	// BreakerOpenAfter pages a platform (transient) breaker open longer than this. 5m.
	BreakerOpenAfter time.Duration `koanf:"breaker_open_after"`
	// UnknownAfter pages an order whose outcome is still unknown after this long. 5m.
	UnknownAfter time.Duration `koanf:"unknown_after"`
	// CheckInterval is how often breakers, unknown outcomes and the store are looked at. 5s.
	CheckInterval time.Duration `koanf:"check_interval"`
}

func (c *NotifyConfig) setDefaults() {
	if c.UpdateInterval == 0 {
		c.UpdateInterval = time.Minute
	}
	if c.MaxPerMinute == 0 {
		c.MaxPerMinute = 10
	}
	if c.BreakerOpenAfter == 0 {
		c.BreakerOpenAfter = 5 * time.Minute
	}
	if c.UnknownAfter == 0 {
		c.UnknownAfter = 5 * time.Minute
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = 5 * time.Second
	}
}

func (c NotifyConfig) validate() error {
	for key, d := range map[string]time.Duration{"notify.update_interval": c.UpdateInterval, "notify.breaker_open_after": c.BreakerOpenAfter,
		"notify.unknown_after": c.UnknownAfter, "notify.check_interval": c.CheckInterval} {
		if d < 0 {
			return &ConfigError{Key: key, Reason: fmt.Sprintf("must be a positive duration, got %s", d)}
		}
	}
	if c.MaxPerMinute < 0 {
		return &ConfigError{Key: "notify.max_per_minute", Reason: fmt.Sprintf("must be >= 1, got %d", c.MaxPerMinute)}
	}
	_, err := c.sinks()
	return err
}

// sinks builds the configured sinks.
func (c NotifyConfig) sinks() ([]notify.Sink, error) {
	var out []notify.Sink
	if c.WebhookURL != "" {
		s, err := notify.Webhook(string(c.WebhookURL), nil)
		if err != nil {
			return nil, &ConfigError{Key: "notify.webhook_url", Reason: err.Error()}
		}
		out = append(out, s)
	}
	if c.SlackWebhookURL != "" {
		s, err := notify.Slack(string(c.SlackWebhookURL), nil)
		if err != nil {
			return nil, &ConfigError{Key: "notify.slack_webhook_url", Reason: err.Error()}
		}
		out = append(out, s)
	}
	if c.TelegramBotToken != "" || c.TelegramChatID != "" {
		s, err := notify.Telegram(c.TelegramAPIURL, string(c.TelegramBotToken), c.TelegramChatID, nil)
		if err != nil {
			return nil, &ConfigError{Key: "notify.telegram_bot_token", Reason: err.Error()}
		}
		out = append(out, s)
	}
	return out, nil
}

func (c NotifyConfig) secrets() []string {
	return []string{string(c.WebhookURL), string(c.SlackWebhookURL), string(c.TelegramBotToken)}
}

// AlertsModule pages a human (notify.yaml's sinks) on the incidents an operator must act on.
// The watcher is provided, not invoked: the main loop asks for it, so an app built only to
// read its configuration starts no scheduler for it.
var AlertsModule = fx.Module("alerts", fx.Provide(provideAlerter, watchIncidents))

// alerter turns the bot's incidents into notify events. Every method returns at once: paging
// never holds up trading.
type alerter struct {
	n   *notify.Notifier
	cfg NotifyConfig
	clk clock.Clock
	log zerolog.Logger

	mu        sync.Mutex
	banUntil  time.Time
	openSince map[string]time.Time // breaker class → first seen open
	paged     map[string]bool      // breaker class or "store" or an order key → paged
}

func provideAlerter(lc fx.Lifecycle, c *Config, lg Logging, p struct {
	fx.In
	Clock clock.Clock `optional:"true"`
}) (*alerter, error) {
	clk := p.Clock
	if clk == nil {
		clk = realClock
	}
	sinks, err := c.Notify.sinks()
	if err != nil {
		return nil, err
	}
	log := lg.Logger.With().Str("component", "notify").Logger()
	n := notify.New(notify.Config{Bot: c.Bot.InstanceID + " " + c.Exchange.Name, UpdateInterval: c.Notify.UpdateInterval,
		MaxPerMinute: c.Notify.MaxPerMinute}, sinks, clk, jitter.NewRandom(),
		func(f string, args ...any) { log.Warn().Msg(redact.String(fmt.Sprintf(f, args...))) })
	a := &alerter{n: n, cfg: c.Notify, clk: clk, log: log, openSince: map[string]time.Time{}, paged: map[string]bool{}}
	if len(sinks) == 0 {
		return a, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			log.Info().Strs("sinks", n.Sinks()).Msg("paging enabled")
			go func() { defer close(done); n.Run(ctx) }()
			return nil
		},
		OnStop: func(context.Context) error { cancel(); <-done; return nil },
	})
	return a, nil
}

func (a *alerter) notify(ev notify.Event) {
	if a != nil {
		a.n.Notify(ev)
	}
}

// killSwitch pages a trip with its reason and who, and a resume as the incident's end.
func (a *alerter) killSwitch(ev killswitch.Event) {
	r := ev.Status.Reason
	if ev.Status.Halted {
		a.notify(notify.Event{Kind: notify.KindKillSwitch, Incident: "kill_switch", Severity: notify.Critical,
			Summary: "kill switch tripped: trading halted: " + r.Why,
			Fields:  map[string]string{"reason": r.Why, "who": r.Who, "host": r.Host, "source": ev.Source}})
		return
	}
	a.notify(notify.Event{Kind: notify.KindResumed, Incident: "kill_switch", Severity: notify.Info, Resolved: true,
		Summary: "trading resumed", Fields: map[string]string{"source": ev.Source}})
}

// hold pages a ban (418, or an IP-ban 403) with its end; one page per ban, not per refusal.
func (a *alerter) hold(ev scheduler.HoldEvent) {
	if a == nil || !ev.Ban {
		return
	}
	a.mu.Lock()
	fresh := !a.banUntil.After(ev.Time)
	if ev.Until.After(a.banUntil) {
		a.banUntil = ev.Until
	}
	a.mu.Unlock()
	if !fresh {
		return
	}
	a.notify(notify.Event{Kind: notify.KindBan, Severity: notify.Critical,
		Summary: fmt.Sprintf("IP banned by the exchange until %s: requests held", ev.Until.UTC().Format(time.RFC3339)),
		Fields:  map[string]string{"until": ev.Until.UTC().Format(time.RFC3339), "bucket": ev.Bucket, "reason": ev.Reason}})
}

type watchParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Alerter   *alerter
	Switch    *killswitch.Switch
	Scheduler *scheduler.Scheduler
	Journal   idempotency.Store
	Fleet     *fleet.Fleet `optional:"true"`
}

// incidentWatch is the running watchIncidents (the main loop depends on it).
type incidentWatch struct{}

// watchIncidents follows the kill switch, and looks every notify.check_interval at the
// breakers, the journal's unknown outcomes and the store.
func watchIncidents(p watchParams) *incidentWatch {
	a := p.Alerter
	if len(a.n.Sinks()) == 0 {
		return &incidentWatch{}
	}
	var unsubscribe func()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			unsubscribe = p.Switch.OnChange(a.killSwitch)
			go func() {
				defer close(done)
				for clock.Sleep(ctx, a.clk, a.cfg.CheckInterval) {
					a.check(ctx, p.Scheduler.Snapshot(), p.Journal, p.Fleet)
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			unsubscribe()
			cancel()
			<-done
			return nil
		},
	})
	return &incidentWatch{}
}

// check pages what a look at the bot's state finds.
func (a *alerter) check(ctx context.Context, snap scheduler.Snapshot, journal idempotency.Store, fl *fleet.Fleet) {
	now := a.clk.Now()
	for _, b := range snap.Breakers {
		open := b.State == "open" || b.State == "half-open"
		a.mu.Lock()
		since, seen := a.openSince[b.Class]
		if open && !seen {
			since = now
			a.openSince[b.Class] = now
		}
		if !open {
			delete(a.openSince, b.Class)
			delete(a.paged, "breaker/"+b.Class)
		}
		already := a.paged["breaker/"+b.Class]
		a.mu.Unlock()
		if !open || already {
			continue
		}
		switch {
		case b.Class == scheduler.ClassAuth.String():
			a.setPaged("breaker/" + b.Class)
			a.notify(notify.Event{Kind: notify.KindAuthBreaker, Severity: notify.Critical,
				Summary: "auth breaker open: the exchange refused the key or signature", Fields: map[string]string{"reason": b.Reason}})
		case b.Class == scheduler.ClassTransient.String() && now.Sub(since) >= a.cfg.BreakerOpenAfter:
			a.setPaged("breaker/" + b.Class)
			a.notify(notify.Event{Kind: notify.KindBreakerOpen, Severity: notify.Warning,
				Summary: fmt.Sprintf("platform breaker open for %s: the exchange keeps failing", now.Sub(since).Round(time.Second)),
				Fields:  map[string]string{"reason": b.Reason, "since": since.UTC().Format(time.RFC3339)}})
		}
	}
	// The journal: out of reach, or holding orders whose outcome stays unknown.
	entries, err := journal.List(ctx, idempotency.StateUnknown)
	storeDown, why := err != nil, ""
	if err != nil {
		why = "journal: " + err.Error()
	}
	if fl != nil {
		if down, reason := fl.Down(); down {
			storeDown, why = true, "redis: "+reason
		}
	}
	a.store(storeDown, why)
	if err != nil {
		return
	}
	var stuck []string
	for _, e := range entries {
		if now.Sub(e.UpdatedAt) >= a.cfg.UnknownAfter && !a.setPaged("unknown/"+e.Key) {
			stuck = append(stuck, e.Key)
		}
	}
	if len(stuck) > 0 {
		sort.Strings(stuck)
		a.notify(notify.Event{Kind: notify.KindUnknownOrder, Severity: notify.Critical,
			Summary: fmt.Sprintf("%d order(s) of unknown outcome for over %s: they may be live", len(stuck), a.cfg.UnknownAfter),
			Fields:  map[string]string{"client_order_ids": strings.Join(stuck, ",")}})
	}
}

// setPaged marks key paged and reports whether it was already.
func (a *alerter) setPaged(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	was := a.paged[key]
	a.paged[key] = true
	return was
}

func (a *alerter) store(down bool, why string) {
	a.mu.Lock()
	was := a.paged["store"]
	a.paged["store"] = down
	a.mu.Unlock()
	switch {
	case down && !was:
		a.notify(notify.Event{Kind: notify.KindStoreDown, Incident: "store", Severity: notify.Critical,
			Summary: "the journal's store is unavailable: new orders are refused", Fields: map[string]string{"error": why}})
	case !down && was:
		a.notify(notify.Event{Kind: notify.KindStoreDown, Incident: "store", Severity: notify.Info, Resolved: true,
			Summary: "the journal's store is back"})
	}
}
