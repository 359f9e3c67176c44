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
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
	"github.com/keelbot/keel/scheduler"
)

// portfolio keeps the account's balances, refreshed in the background at account priority on
// a jittered interval. It implements strategy.Portfolio.
type portfolio struct {
	ex       adapters.Exchange
	clk      clock.Clock
	rng      *jitter.Rand
	log      zerolog.Logger
	interval time.Duration

	mu       sync.RWMutex
	balances map[string]adapters.Balance
	account  adapters.Account // the standing (can trade, permissions) with the balances
	known    bool             // account holds an answer of the exchange
	at       time.Time
}

// refresh fetches the account once: its standing and balances in one call where the exchange
// can tell both (adapters.AccountReader; on Binance the same GET /api/v3/account that
// balances cost), balances alone otherwise.
func (p *portfolio) refresh(ctx context.Context) error {
	var acct adapters.Account
	ar, standing := p.ex.(adapters.AccountReader)
	if standing {
		var err error
		if acct, err = ar.Account(ctx, adapters.WithPriority(scheduler.PriorityAccount)); err != nil {
			return err
		}
	} else {
		bs, err := p.ex.Balances(ctx)
		if err != nil {
			return err
		}
		acct.Balances = bs
	}
	m := make(map[string]adapters.Balance, len(acct.Balances))
	for _, b := range acct.Balances {
		m[b.Asset] = b
	}
	p.mu.Lock()
	cannotTradeNews := standing && !acct.CanTrade && (!p.known || p.account.CanTrade)
	p.balances, p.at = m, p.clk.Now()
	if standing {
		p.account, p.known = acct, true
	}
	p.mu.Unlock()
	if cannotTradeNews {
		p.log.Error().Strs("permissions", acct.Permissions).
			Msg("the exchange says this account cannot trade: every order will be refused until its owner fixes the account")
	}
	return nil
}

// Account returns the account's standing and balances as last refreshed; false if the
// exchange cannot tell its standing or has not answered yet.
func (p *portfolio) Account() (adapters.Account, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	a := p.account
	a.Permissions = append([]string(nil), a.Permissions...)
	a.Balances = append([]adapters.Balance(nil), a.Balances...)
	return a, p.known
}

// run refreshes until ctx ends, starting after a jittered delay.
func (p *portfolio) run(ctx context.Context) {
	if !clock.Sleep(ctx, p.clk, p.rng.Duration(p.interval)) {
		return
	}
	for {
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, scheduler.ErrShed) {
			p.log.Debug().Err(err).Msg("balance refresh failed; keeping the last balances")
		}
		if !clock.Sleep(ctx, p.clk, jitter.Spread(p.rng, p.interval, 0.2)) {
			return
		}
	}
}

// balanceKnown returns asset's balance as last refreshed; false before the first refresh.
func (p *portfolio) balanceKnown(asset string) (adapters.Balance, bool) {
	p.mu.RLock()
	refreshed := p.balances != nil
	p.mu.RUnlock()
	if !refreshed {
		return adapters.Balance{}, false
	}
	return p.Balance(asset), true
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
