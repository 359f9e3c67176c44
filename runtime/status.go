package runtime

import (
	"context"
	"encoding/json"

	"go.uber.org/fx"

	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/redact"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/ledger"
	"github.com/keelbot/keel/scheduler"
)

// Status is the /status document.
type Status struct {
	InstanceID string             `json:"bot_instance_id"`
	Exchange   string             `json:"exchange"`
	Ready      bool               `json:"ready"`
	KillSwitch killswitch.Status  `json:"kill_switch"`
	Scheduler  scheduler.Snapshot `json:"scheduler"`
	// Fleet is set in fleet mode: whether Redis answers, and why not.
	Fleet *fleet.Status `json:"fleet,omitempty"`
	// Strategies: each one running or dead, with its open orders (a dead one: how it died
	// and whether its orders were pulled).
	Strategies []StrategyStatus `json:"strategies"`
	// PnL sums every strategy's positions.
	PnL ledger.PnL `json:"pnl"`
}

type adminParams struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *Config
	Logging   Logging
	Metrics   *Metrics
	Scheduler *scheduler.Scheduler
	Switch    *killswitch.Switch
	Loop      *Loop
	Fleet     *fleet.Fleet `optional:"true"`
}

// provideAdmin serves the admin endpoints from start to stop. An empty admin.listen disables
// it (the server is never started).
func provideAdmin(p adminParams) *AdminServer {
	snapshot := func() scheduler.Snapshot {
		snap := p.Scheduler.Snapshot()
		p.Metrics.observeSnapshot(snap)
		return snap
	}
	status := func(context.Context) any {
		st := Status{
			InstanceID: p.Config.Bot.InstanceID, Exchange: p.Config.Exchange.Name, Ready: p.Loop.Ready(),
			KillSwitch: p.Switch.State(), Scheduler: snapshot(), Fleet: fleetStatus(p.Fleet),
			Strategies: p.Loop.strategies(),
		}
		var all []ledger.Position
		for _, s := range st.Strategies {
			all = append(all, s.Positions...)
		}
		st.PnL = ledger.Sum(all)
		return redactedJSON(st)
	}
	healthy := func() error { return p.Loop.health(p.Switch, p.Scheduler.Snapshot()) }
	h := NewAdminHandler(p.Metrics, status, healthy, func() { snapshot() })
	h = (&actions{token: string(p.Config.Admin.Token), log: p.Logging.Logger.With().Str("component", "admin").Logger(),
		sw: p.Switch, loop: p.Loop, reducer: p.Loop.reducer}).routes(h)
	srv := NewAdminServer(p.Config.Admin, h, p.Logging.Logger)
	if p.Config.Admin.Listen != "" {
		p.Lifecycle.Append(fx.Hook{
			OnStart: func(context.Context) error { return srv.Start() },
			OnStop:  srv.Stop,
		})
	}
	return srv
}

// redactedJSON is v as JSON with the configured secrets' values masked (internal/redact):
// /status carries text others wrote (a kill-switch reason, a Redis error), and is served to
// whoever can reach the admin port.
func redactedJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return map[string]string{"error": "status: " + err.Error()}
	}
	return json.RawMessage(redact.Bytes(b))
}
