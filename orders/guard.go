package orders

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// Repeated invalid requests are one of the exchanges' ban triggers: a strategy that keeps
// placing an order the exchange refuses (a balance that cannot cover it, a rule it breaks)
// must not send each one. The guard counts the exchange's validation refusals by strategy,
// symbol and error code; past GuardConfig.Budget of them within Window, Place refuses orders
// of that strategy and symbol locally (a *GuardError, nothing sent) for Backoff, doubled for
// each repeat of the incident up to MaxBackoff. An accepted order of that kind ends the
// incident. Cancels and reads never pass through it.

// ErrGuarded is matched by every *GuardError.
var ErrGuarded = errors.New("orders: refused locally after repeated identical rejections")

// GuardError is Place's local refusal by the validation guard: the exchange refused
// Rejections orders of Strategy on Symbol with Code within the guard's window, so nothing
// more of that kind is sent until Until. It matches ErrGuarded.
type GuardError struct {
	Strategy   string
	Symbol     string
	Code       int
	Rejections int
	Until      time.Time
}

func (e *GuardError) Error() string {
	return fmt.Sprintf("orders: %s on %s refused without sending: the exchange refused %d identical orders (code %d); "+
		"next order of this kind allowed at %s", e.Strategy, e.Symbol, e.Rejections, e.Code, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrGuarded) true.
func (e *GuardError) Is(target error) bool { return target == ErrGuarded }

// Guard defaults.
const (
	DefaultGuardBudget     = 3
	DefaultGuardWindow     = 10 * time.Second
	DefaultGuardBackoff    = time.Minute
	DefaultGuardMaxBackoff = 15 * time.Minute
)

// GuardConfig is orders.validation_guard.
type GuardConfig struct {
	// Budget is how many identical validation refusals within Window are sent before the
	// guard refuses locally. Default 3; -1 turns the guard off.
	Budget int `koanf:"budget"`
	// Window is the span Budget counts over. Default 10s.
	Window time.Duration `koanf:"window"`
	// Backoff is how long the first local refusal lasts; each repeat of the incident doubles
	// it, up to MaxBackoff. Defaults 1m and 15m.
	Backoff    time.Duration `koanf:"backoff"`
	MaxBackoff time.Duration `koanf:"max_backoff"`
}

func (c *GuardConfig) setDefaults() {
	if c.Budget == 0 {
		c.Budget = DefaultGuardBudget
	}
	if c.Window == 0 {
		c.Window = DefaultGuardWindow
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultGuardBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultGuardMaxBackoff
	}
}

func (c GuardConfig) validate() error {
	switch {
	case c.Budget < -1:
		return configErr("validation_guard.budget", "expected -1 (off), 0 (default) or a positive count, got %d", c.Budget)
	case c.Window < 0:
		return configErr("validation_guard.window", "expected a positive duration, got %s", c.Window)
	case c.Backoff < 0:
		return configErr("validation_guard.backoff", "expected a positive duration, got %s", c.Backoff)
	case c.MaxBackoff < c.Backoff:
		return configErr("validation_guard.max_backoff", "expected at least backoff (%s), got %s", c.Backoff, c.MaxBackoff)
	}
	return nil
}

// guardKey is one kind of order: a strategy's orders on a symbol.
type guardKey struct{ strategy, symbol string }

// incident is the guard's state of one kind of order.
type incident struct {
	code    int         // the exchange's code of the refusals counted
	times   []time.Time // the refusals with code within the window
	until   time.Time   // refused locally until then
	backoff time.Duration
	last    time.Time // the last refusal
}

// guard is the validation guard of a Manager.
type guard struct {
	cfg GuardConfig
	log zerolog.Logger

	mu    sync.Mutex
	kinds map[guardKey]*incident
}

func newGuard(cfg GuardConfig, log zerolog.Logger) *guard {
	return &guard{cfg: cfg, log: log, kinds: map[guardKey]*incident{}}
}

// check returns a *GuardError if orders of strategy on symbol are refused locally at now.
func (g *guard) check(strategy, symbol string, now time.Time) error {
	if g.cfg.Budget < 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.kinds[guardKey{strategy, symbol}]
	if in == nil || !now.Before(in.until) {
		return nil
	}
	return &GuardError{Strategy: strategy, Symbol: symbol, Code: in.code, Rejections: len(in.times), Until: in.until}
}

// observe takes a placement's result at now: a validation refusal counts, an acceptance ends
// the incident of its kind. Other failures say nothing about the order itself.
func (g *guard) observe(strategy, symbol string, err error, now time.Time) {
	if g.cfg.Budget < 0 {
		return
	}
	k := guardKey{strategy, symbol}
	var se *scheduler.Error
	switch {
	case err == nil:
		g.mu.Lock()
		delete(g.kinds, k)
		g.mu.Unlock()
		return
	case !errors.As(err, &se) || se.Class != scheduler.ClassValidation:
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.kinds[k]
	if in == nil || in.code != se.Outcome.Code || now.Sub(in.last) > g.cfg.MaxBackoff+g.cfg.Window {
		in = &incident{code: se.Outcome.Code} // another refusal, or a quiet spell: a new count
		g.kinds[k] = in
	}
	in.last = now
	kept := in.times[:0]
	for _, t := range in.times {
		if now.Sub(t) < g.cfg.Window {
			kept = append(kept, t)
		}
	}
	in.times = append(kept, now)
	switch {
	case in.backoff > 0:
		// The incident goes on after its local refusal ended: back off longer, and escalate
		// once, at the first repeat.
		first := in.backoff == g.cfg.Backoff
		in.backoff = min(2*in.backoff, g.cfg.MaxBackoff)
		in.until = now.Add(in.backoff)
		if first {
			g.event(zerolog.ErrorLevel, "escalated", k, in, se)
		}
	case len(in.times) >= g.cfg.Budget:
		in.backoff = g.cfg.Backoff
		in.until = now.Add(in.backoff)
		g.event(zerolog.WarnLevel, "tripped", k, in, se)
	}
}

// event logs the incident's one warning (tripped) or one escalation.
func (g *guard) event(lvl zerolog.Level, state string, k guardKey, in *incident, se *scheduler.Error) {
	g.log.WithLevel(lvl).Str("event", "validation_guard").Str("state", state).
		Str("strategy", k.strategy).Str("symbol", k.symbol).Int("error_code", in.code).
		Str("error_message", scheduler.Redact(se.Outcome.Message)).Int("rejections", len(in.times)).
		Dur("refused_for", in.backoff).Time("until", in.until).
		Msg("orders: the exchange keeps refusing the same order; placing it again is refused locally until the strategy changes it")
}

// checkFunds refuses, before anything is sent, an order the account cannot cover as far as
// the runtime knows: the asset's balance (free and locked) less what the manager's open
// orders hold of it. Without a Balance hook, or a balance for the asset, it passes.
func (m *Manager) checkFunds(req adapters.OrderRequest, info adapters.SymbolInfo) error {
	if m.balance == nil || req.Price.IsZero() {
		return nil
	}
	asset, need := info.QuoteAsset, req.Price.Mul(req.Quantity)
	if req.Side == adapters.Sell {
		asset, need = info.BaseAsset, req.Quantity
	}
	if asset == "" {
		return nil
	}
	b, ok := m.balance(asset)
	if !ok {
		return nil
	}
	free := b.Free.Add(b.Locked).Sub(m.holds(asset, info))
	if need.GreaterThan(free) {
		return &ValidationError{Field: "quantity", Filter: "FREE_BALANCE",
			Reason: fmt.Sprintf("needs %s %s, %s free (balance less the holds of open orders)", need, asset, free)}
	}
	return nil
}

// holds is what the manager's open orders of info's symbol hold of asset.
func (m *Manager) holds(asset string, info adapters.SymbolInfo) decimal.Decimal {
	m.mu.Lock()
	defer m.mu.Unlock()
	sum := decimal.Zero
	for _, t := range m.orders {
		o := t.order
		if o.Symbol != info.Symbol || o.Price.IsZero() {
			continue
		}
		left := o.Quantity.Sub(o.ExecutedQty)
		switch {
		case o.Side == adapters.Sell && asset == info.BaseAsset:
			sum = sum.Add(left)
		case o.Side == adapters.Buy && asset == info.QuoteAsset:
			sum = sum.Add(left.Mul(o.Price))
		}
	}
	return sum
}
