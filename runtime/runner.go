package runtime

import (
	"context"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/scheduler"
	"github.com/keelbot/keel/strategy"
)

// failure is how a strategy died: a panic, or a Start that failed.
type failure struct {
	At     time.Time
	During string // start, tick, quote, ...
	Why    string // the panic's value or Start's error, redacted
}

// runner drives one strategy on its own goroutine. Events reach it through a mailbox that
// never blocks the sender.
type runner struct {
	name    string
	strat   strategy.Strategy
	box     *mailbox
	log     zerolog.Logger
	now     func() time.Time
	onPanic func(name string)
	// onFail is called once, from the strategy's goroutine, when it dies.
	onFail func(name string, f failure)

	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	stopped bool     // by a panic: Stop is not called on a strategy in an unknown state
	failed  *failure // set when it died
}

// start launches the strategy's goroutine: Start (if implemented), then events until ctx ends.
func (r *runner) start(ctx context.Context) {
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		defer r.box.Close()
		var startErr error
		if !r.guard(func() error {
			if s, ok := r.strat.(strategy.Starter); ok {
				startErr = s.Start(ctx)
			}
			return nil
		}, "start") {
			return
		}
		if startErr != nil && ctx.Err() == nil {
			// A strategy that could not start is dead: it holds no state to act on its orders.
			r.log.Error().Err(startErr).Msg("strategy failed to start and was stopped; other strategies go on")
			r.fail("start", startErr.Error(), false)
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.box.Ready():
			}
			if n := r.box.TakeDropped(); n > 0 {
				r.log.Warn().Int("dropped_trades", n).Msg("strategy is behind the trade stream; the oldest pending trades were dropped")
			}
			for _, ev := range r.box.Take() {
				if ctx.Err() != nil {
					return
				}
				if !r.guard(func() error { return r.strat.OnEvent(ctx, ev) }, eventName(ev)) {
					return
				}
			}
		}
	}()
}

// guard runs f, logging an error and recovering a panic. It reports false when the strategy
// must stop (it panicked).
func (r *runner) guard(f func() error, what string) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error().
				Str("panic", fmt.Sprint(p)).
				Str("stack", string(debug.Stack())).
				Str("during", what).
				Msg("strategy panicked and was stopped; other strategies go on")
			if r.onPanic != nil {
				r.onPanic(r.name)
			}
			r.fail(what, "panic: "+fmt.Sprint(p), true)
			ok = false
		}
	}()
	if err := f(); err != nil {
		r.log.Warn().Err(err).Str("during", what).Msg("strategy returned an error")
	}
	return true
}

// fail records that the strategy died and tells onFail. panicked: Stop must not be called
// on it (its state is unknown).
func (r *runner) fail(during, why string, panicked bool) {
	f := failure{During: during, Why: scheduler.Redact(why)}
	if r.now != nil {
		f.At = r.now()
	}
	r.mu.Lock()
	r.stopped = r.stopped || panicked
	r.failed = &f
	r.mu.Unlock()
	if r.onFail != nil {
		r.onFail(r.name, f)
	}
}

// failure returns how the strategy died, or nil while it runs.
func (r *runner) failure() *failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// stop ends the event loop, waits for it, then calls Stop (if implemented and the strategy
// did not panic).
func (r *runner) stop(ctx context.Context) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		r.log.Error().Msg("strategy did not return from its callback before the shutdown deadline")
		return
	}
	r.mu.Lock()
	panicked := r.stopped
	r.mu.Unlock()
	if s, ok := r.strat.(strategy.Stopper); ok && !panicked {
		r.guard(func() error { return s.Stop(ctx) }, "stop")
	}
}

// alive reports whether the strategy is still running (it did not die).
func (r *runner) alive() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed == nil && !r.stopped
}

func eventName(ev strategy.Event) string {
	switch ev.(type) {
	case strategy.Tick:
		return "tick"
	case strategy.Quote:
		return "quote"
	case strategy.Trade:
		return "trade"
	case strategy.OrderUpdate:
		return "order_update"
	case strategy.DataStatus:
		return "data_status"
	}
	return fmt.Sprintf("%T", ev)
}

// sortDefinitions orders strategies by name: fx value groups arrive in random order, and
// start-up, logs and shutdown should not.
func sortDefinitions(defs []strategy.Definition) []strategy.Definition {
	out := append([]strategy.Definition(nil), defs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
