package runtime_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/strategy"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// streamedBot starts a bot on the Binance adapter against srv, with the market and user data
// streams, and hands back its exchange too.
func streamedBot(t *testing.T, srv *sim.Server, dir string, extra ...string) (*bot, adapters.Exchange) {
	t.Helper()
	ws := "ws://" + srv.Addr().String()
	env := botEnv(dir, append([]string{"KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL=" + srv.URL(), "KEEL_EXCHANGE_STREAM_URL=" + ws,
		"KEEL_EXCHANGE_WS_API_URL=" + ws + "/ws-api/v3", "KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=s"}, extra...)...)
	var ex adapters.Exchange
	b := startBotWith(t, dir, env, []fx.Option{fx.Populate(&ex)}, "probe")
	return b, ex
}

// TestFillsBecomePositionAndPnL buys 0.01 BTC and sells 0.004 at market against the
// simulator (which charges 0.1% in the asset received), and checks the strategy's position
// and PnL against a hand computation from the two trades the exchange lists:
//
//	buy q1=0.01 at p1, fee f1 = 0.01×0.001 BTC     → holds 0.01 − f1, cost (0.01 − f1)×p1
//	sell q2=0.004 at p2, fee f2 = 0.004×p2×0.001 USDT
//	position 0.01 − f1 − 0.004 = 0.00599 at p1; realized (p2 − p1)×0.004; fees f1×p1 + f2
//
// then restarts the bot on the same journal: the position and PnL are the same.
func TestFillsBecomePositionAndPnL(t *testing.T) {
	srv := externalSim(t, sim.Config{Seed: 5, APIKey: "k", APISecret: "s"})
	dir := t.TempDir()
	b, ex := streamedBot(t, srv, dir)
	p := b.probes["probe"]
	ctx := context.Background()
	market := func(side adapters.Side, qty string) {
		t.Helper()
		o, err := p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: side, Type: adapters.Market, Quantity: dec(qty)})
		if err != nil || o.Status != adapters.StatusFilled {
			t.Fatalf("market %s %s: %+v, %v", side, qty, o, err)
		}
	}
	market(adapters.Buy, "0.01")
	market(adapters.Sell, "0.004")

	trades, err := ex.Trades(ctx, "BTCUSDT", 0)
	if err != nil || len(trades) != 2 {
		t.Fatalf("the exchange lists %d trades (%v), want 2", len(trades), err)
	}
	buy, sell := trades[0], trades[1]
	if !buy.IsBuyer {
		buy, sell = sell, buy
	}
	if buy.CommissionAsset != "BTC" || sell.CommissionAsset != "USDT" {
		t.Fatalf("commissions in %s and %s, want BTC on the buy and USDT on the sell", buy.CommissionAsset, sell.CommissionAsset)
	}
	p1, p2, f1, f2 := buy.Price, sell.Price, buy.Commission, sell.Commission
	wantQty := dec("0.01").Sub(f1).Sub(dec("0.004"))
	wantRealized := p2.Sub(p1).Mul(dec("0.004"))
	wantFees := f1.Mul(p1).Add(f2)
	if !wantQty.Equal(dec("0.00599")) {
		t.Fatalf("hand computation: position %s, want 0.00599 (fee %s BTC)", wantQty, f1)
	}

	check := func(when string, pos strategy.Position) {
		t.Helper()
		if !pos.Quantity.Equal(wantQty) || !pos.AvgEntry.Equal(p1) || !pos.Realized.Equal(wantRealized) ||
			!pos.FeesQuote.Equal(wantFees) || !pos.Fees["BTC"].Equal(f1) || !pos.Fees["USDT"].Equal(f2) || pos.Fills != 2 {
			t.Fatalf("%s: position %+v; want quantity %s, avg entry %s, realized %s, fees %s (BTC %s, USDT %s), 2 fills",
				when, pos, wantQty, p1, wantRealized, wantFees, f1, f2)
		}
	}
	// The placements book the fills at once; the fees follow from the trades.
	b.eventually(t, "the fees booked from the trades", 10*time.Second, func() bool {
		return p.env.Portfolio.Position("BTCUSDT").FeesQuote.Equal(wantFees)
	})
	check("after the fills", p.env.Portfolio.Position("BTCUSDT"))
	pnl := p.env.Portfolio.PnL()
	if pnl.Quote != "USDT" || !pnl.Realized.Equal(wantRealized) || !pnl.Fees.Equal(wantFees) || pnl.Fills != 2 {
		t.Fatalf("PnL %+v, want realized %s and fees %s in USDT over 2 fills", pnl, wantRealized, wantFees)
	}
	b.app.RequireStop() // its stop saves the ledger, if the last change was not saved yet
	b.journal = nil
	if snap := ledgerInJournal(t, dir); !strings.Contains(snap, `"BTCUSDT"`) {
		t.Fatalf("the journal holds no ledger with BTCUSDT: %q", snap)
	}

	b2, _ := streamedBot(t, srv, dir)
	defer b2.app.RequireStop()
	check("after a restart", b2.probes["probe"].env.Portfolio.Position("BTCUSDT"))
}

// TestLostLedgerIsRebuiltFromTrades deletes the ledger from the journal between two runs: the
// next start rebuilds the position from the exchange's trades of the journal's orders, fees
// included.
func TestLostLedgerIsRebuiltFromTrades(t *testing.T) {
	srv := externalSim(t, sim.Config{Seed: 6, APIKey: "k", APISecret: "s"})
	dir := t.TempDir()
	b, _ := streamedBot(t, srv, dir)
	p := b.probes["probe"]
	ctx := context.Background()
	if _, err := p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.02")}); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "the fee booked", 10*time.Second, func() bool {
		return p.env.Portfolio.Position("BTCUSDT").Fees["BTC"].IsPositive()
	})
	before := p.env.Portfolio.Position("BTCUSDT")
	if err := b.journal.SetCursor(ctx, "ledger/t1", `{"version":1,"positions":[]}`); err != nil {
		t.Fatal(err)
	}
	b.app.RequireStop()

	b2, _ := streamedBot(t, srv, dir)
	defer b2.app.RequireStop()
	after := b2.probes["probe"].env.Portfolio.Position("BTCUSDT")
	if !after.Quantity.Equal(before.Quantity) || !after.AvgEntry.Equal(before.AvgEntry) || !after.FeesQuote.Equal(before.FeesQuote) {
		t.Fatalf("rebuilt %+v, want %+v", after, before)
	}
	if !after.Quantity.Equal(dec("0.01998")) {
		t.Fatalf("rebuilt quantity %s, want 0.02 less the 0.1%% fee: 0.01998", after.Quantity)
	}
}

// ledgerInJournal reads the ledger snapshot a stopped bot left in its journal file.
func ledgerInJournal(t *testing.T, dir string) string {
	t.Helper()
	j, err := idempotency.OpenFile(filepath.Join(dir, "journal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	v, err := j.Cursor(context.Background(), "ledger/t1")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLedgerInRedisSurvivesARestart: in fleet mode the journal, and the ledger in it, live in
// Redis: a second process with the same instance id (and a fresh directory: nothing on disk)
// finds the position, and a fresh simulator (no trades to rebuild from) proves it came from
// Redis.
func TestLedgerInRedisSurvivesARestart(t *testing.T) {
	_, prefix := fleettest.Require(t)
	fleetEnv := []string{"KEEL_STORE_URL=redis://" + fleettest.Addr + "/0", "KEEL_STORE_PREFIX=" + prefix, "KEEL_MARKET_STREAMS=false"}
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, fleetEnv...), "probe")
	p := b.probes["probe"]
	if _, err := p.env.Orders.Place(context.Background(), strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "the fee booked", 10*time.Second, func() bool { return p.env.Portfolio.Position("BTCUSDT").Fees["BTC"].IsPositive() })
	before := p.env.Portfolio.Position("BTCUSDT")
	b.app.RequireStop()

	dir2 := t.TempDir()
	b2 := startBot(t, dir2, botEnv(dir2, fleetEnv...), "probe")
	defer b2.app.RequireStop()
	after := b2.probes["probe"].env.Portfolio.Position("BTCUSDT")
	if !after.Quantity.Equal(before.Quantity) || !after.FeesQuote.Equal(before.FeesQuote) || after.Fills != 1 {
		t.Fatalf("after a restart in fleet mode: %+v, want %+v", after, before)
	}
}

// TestEveryDialectBooksFillsWithFees: on each exchange dialect of the simulator, a market buy
// becomes the strategy's position at once and its fee follows from the exchange's trades.
func TestEveryDialectBooksFillsWithFees(t *testing.T) {
	for _, dialect := range []string{"binance", "bybit", "kraken", "coinbase"} {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			b := startBot(t, dir, botEnv(dir, "KEEL_EXCHANGE_DIALECT="+dialect), "probe")
			defer b.app.RequireStop()
			p := b.probes["probe"]
			if _, err := p.env.Orders.Place(context.Background(), strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.01")}); err != nil {
				t.Fatal(err)
			}
			if q := p.env.Portfolio.Position("BTCUSDT").Quantity; !q.IsPositive() {
				t.Fatalf("position right after the fill: %s", q)
			}
			b.eventually(t, "the fee booked", 10*time.Second, func() bool { return p.env.Portfolio.Position("BTCUSDT").FeesQuote.IsPositive() })
			if pos := p.env.Portfolio.Position("BTCUSDT"); pos.Fills != 1 || !pos.AvgEntry.IsPositive() {
				t.Fatalf("position %+v, want one fill with an entry price", pos)
			}
		})
	}
}
