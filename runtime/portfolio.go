package runtime

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/scheduler"
)

// portfolio keeps the account's balances, refreshed in the background at account priority on
// a jittered interval. It implements strategy.Portfolio.
type portfolio struct {
	ex       adapters.Exchange
	clk      Clock
	rng      *lockedRand
	log      zerolog.Logger
	interval time.Duration

	mu       sync.RWMutex
	balances map[string]adapters.Balance
	at       time.Time
}

// refresh fetches balances once.
func (p *portfolio) refresh(ctx context.Context) error {
	bs, err := p.ex.Balances(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]adapters.Balance, len(bs))
	for _, b := range bs {
		m[b.Asset] = b
	}
	p.mu.Lock()
	p.balances, p.at = m, p.clk.Now()
	p.mu.Unlock()
	return nil
}

// run refreshes until ctx ends, starting after a jittered delay.
func (p *portfolio) run(ctx context.Context) {
	if !sleepCtx(ctx, p.clk, time.Duration(p.rng.Float64()*float64(p.interval))) {
		return
	}
	for {
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, scheduler.ErrShed) {
			p.log.Debug().Err(err).Msg("balance refresh failed; keeping the last balances")
		}
		if !sleepCtx(ctx, p.clk, jitter(p.rng, p.interval, 0.2)) {
			return
		}
	}
}

func (p *portfolio) Balance(asset string) adapters.Balance {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if b, ok := p.balances[asset]; ok {
		return b
	}
	return adapters.Balance{Asset: asset, Free: decimal.Zero, Locked: decimal.Zero}
}

func (p *portfolio) Balances() []adapters.Balance {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]adapters.Balance, 0, len(p.balances))
	for _, b := range p.balances {
		if !b.Free.IsZero() || !b.Locked.IsZero() {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Asset < out[j].Asset })
	return out
}
