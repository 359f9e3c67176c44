// Package strategy is where your code plugs into Keel. You write a Strategy — one method,
// OnEvent — and a constructor; strategy.Module turns the constructor into an fx module; the
// runtime owns the main loop, the scheduler, the journal and the kill switch, and calls you.
//
// A complete strategy, buying a little whenever the spread is tight:
//
//	package main
//
//	import (
//		"context"
//
//		"github.com/shopspring/decimal"
//
//		"github.com/keelbot/keel/adapters"
//		_ "github.com/keelbot/keel/adapters/exchanges" // every exchange and the simulator: pick with exchange.name
//		"github.com/keelbot/keel/runtime"
//		"github.com/keelbot/keel/strategy"
//	)
//
//	type Config struct {
//		Symbol   string          `koanf:"symbol"`
//		Quantity decimal.Decimal `koanf:"quantity"`
//		MaxBps   int64           `koanf:"max_bps"`
//	}
//
//	type Tight struct {
//		env strategy.Env
//		cfg Config
//	}
//
//	func New(env strategy.Env, cfg Config) (strategy.Strategy, error) {
//		env.Market.Subscribe(cfg.Symbol)
//		return &Tight{env: env, cfg: cfg}, nil
//	}
//
//	func (t *Tight) OnEvent(ctx context.Context, ev strategy.Event) error {
//		q, ok := ev.(strategy.Quote)
//		if !ok || !q.Valid() || len(t.env.Orders.Open()) > 0 {
//			return nil
//		}
//		spreadBps := q.AskPrice.Sub(q.BidPrice).Div(q.Mid()).Mul(decimal.NewFromInt(10000))
//		if spreadBps.GreaterThan(decimal.NewFromInt(t.cfg.MaxBps)) {
//			return nil
//		}
//		_, err := t.env.Orders.Place(ctx, strategy.Intent{Symbol: t.cfg.Symbol, Side: adapters.Buy,
//			Type: adapters.Limit, Quantity: t.cfg.Quantity, Price: q.BidPrice})
//		return err
//	}
//
//	func main() { runtime.Main(strategy.Module("tight", New)) }
//
// Its settings live under strategies.tight in the YAML config; an unknown key or a wrong type
// stops start-up naming the key. examples/tight is this strategy, runnable.
//
// Of Keel's packages a strategy imports this one and adapters (the exchange's types: sides,
// order types, orders, balances), and nothing else; only main wires in runtime and the
// exchanges it links (adapters/exchanges links them all). Intent is the orders manager's own
// type, and the errors Orders and Market return are exported here, so handling them needs no
// other import:
//
//	o, err := env.Orders.Place(ctx, in)
//	var invalid *strategy.ValidationError
//	switch {
//	case errors.Is(err, strategy.ErrHalted):
//		// The kill switch is tripped; nothing was sent. Wait: Place again on a later event.
//	case errors.Is(err, strategy.ErrUnknownOutcome):
//		// The order may be live. Keep o.ClientOrderID (you may cancel by it); an OrderUpdate
//		// settles it. Never place it again yourself.
//	case errors.As(err, &invalid):
//		// The intent breaks the symbol's rules (invalid.Field, invalid.Filter); nothing was
//		// sent. Fix the strategy or its config rather than retry it unchanged.
//	case err != nil:
//		// Nothing is live for this intent (refused by the exchange, or never sent).
//	}
//
// Cancel returns ErrNotOpen for an order that already filled, and adapters.ErrOrderNotFound
// for one the exchange does not know; ErrShed means a low-priority lookup (Market.Symbol,
// Market.Fees) was dropped while the bot was short of request budget; an OrderUpdate whose Err
// matches ErrNotPlaced reports an order of unknown outcome that proved never placed.
//
// What the runtime promises a strategy:
//   - OnEvent is called from one goroutine per strategy, one event at a time: no locks needed.
//     A slow strategy delays only itself; quotes and ticks it could not take are coalesced to
//     the latest, the oldest of too many pending trades are dropped, order updates are never
//     dropped.
//   - Market.Subscribe brings Quote events (best bid/ask) and, with market.streams on, Trade
//     events; Market.Book reads the depth stream's local book without a REST call.
//   - Market.Candles returns the last closed candles of a series (one REST call the first
//     time, shared by strategies asking at once; then kept from the kline stream) and brings a
//     Candle event at each close of that series, never dropped (see Candles below).
//   - Strategies start only after reconciliation: open orders and balances are true at Start.
//   - A panic stops only the strategy that panicked (logged with its stack).
//   - Place never sends an order twice: each intent carries an idempotency key journalled
//     before it is sent. An unknown outcome (ErrUnknownOutcome) is resolved by the runtime
//     and reported as an OrderUpdate; never place it again yourself.
//   - While the kill switch is tripped Place fails without sending (ErrHalted); Cancel still
//     works.
//   - DataStatus{Stale: true} means quotes may be old: stop quoting until it clears.
//
// Optional interfaces: Starter (Start, once before the first event) and Stopper (Stop, on
// shutdown).
//
// # Candles
//
// Ask for a series once (in Start, say) and act on its closes; asking again is free:
//
//	func (s *Mine) OnEvent(ctx context.Context, ev strategy.Event) error {
//		if c, ok := ev.(strategy.Candle); ok && c.Symbol == "BTCUSDT" {
//			last, err := s.env.Market.Candles(ctx, "BTCUSDT", "1m", 20) // from memory
//			if err != nil || len(last) < 20 {
//				return err // not enough history yet
//			}
//			// ... your indicator over last ...
//		}
//		return nil
//	}
//
// examples/macross is a moving-average crossover built this way, and `keel backtest` runs a
// strategy on recorded candles (package backtest).
package strategy
