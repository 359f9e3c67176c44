package runtime_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/strategy"
)

// TestPaperTradingOnLivePrices runs a bot with exchange.mode: paper on Binance's adapter
// pointed at a simulator standing in for the live exchange, with no key: a market buy fills
// at the live ask, a resting limit buy fills once the live price falls through it, the paper
// balances move, and the "live" exchange sees no order and no signed request.
func TestPaperTradingOnLivePrices(t *testing.T) {
	srv, err := sim.New(sim.Config{Seed: 2, WalkInterval: 1000 * time.Hour, Streams: sim.StreamConfig{Interval: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ws := "ws://" + srv.Addr().String()
	b := startBot(t, t.TempDir(), botEnv(t.TempDir(),
		"KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL="+srv.URL(),
		"KEEL_EXCHANGE_STREAM_URL="+ws, "KEEL_EXCHANGE_WS_API_URL="+ws+"/ws-api/v3",
		"KEEL_EXCHANGE_MODE=paper"), "p")
	defer b.app.RequireStop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	env := b.probes["p"].env

	// A market buy fills at once at the live ask (the simulator's book: price + one tick).
	px, _ := srv.Price("BTCUSDT")
	ask := decimal.RequireFromString(px).Add(decimal.RequireFromString("0.01"))
	o, err := env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market,
		Quantity: decimal.RequireFromString("0.001")})
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != adapters.StatusFilled || !o.CumulativeQuote.Equal(ask.Mul(decimal.RequireFromString("0.001"))) {
		t.Fatalf("market buy %+v, want filled at the ask %s", o, ask)
	}
	// A limit buy 100 below rests; the live price falls through it; it fills at its price.
	limit := decimal.RequireFromString(px).Sub(decimal.NewFromInt(100))
	rest, err := env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
		Quantity: decimal.RequireFromString("0.001"), Price: limit})
	if err != nil || rest.Status != adapters.StatusNew {
		t.Fatalf("limit buy: %v %+v", err, rest)
	}
	if err := srv.SetPrice("BTCUSDT", limit.Sub(decimal.NewFromInt(1)).String()); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-b.probes["p"].events:
			u, ok := ev.(strategy.OrderUpdate)
			if !ok || u.Order.ClientOrderID != rest.ClientOrderID || u.Order.Status != adapters.StatusFilled {
				continue
			}
			if !u.Order.CumulativeQuote.Equal(limit.Mul(decimal.RequireFromString("0.001"))) {
				t.Fatalf("resting buy filled for %s, want at its price %s", u.Order.CumulativeQuote, limit)
			}
		case <-ctx.Done():
			t.Fatalf("the resting buy never filled; logs:\n%s", b.logs.String())
		}
		break
	}
	// Balances: the default 10000 USDT less both buys; 0.002 BTC less 0.1% commission.
	spent := ask.Add(limit).Mul(decimal.RequireFromString("0.001"))
	var usdt, btc adapters.Balance
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		usdt, btc = env.Portfolio.Balance("USDT"), env.Portfolio.Balance("BTC")
		if btc.Free.String() == "0.001998" {
			break
		}
	}
	if !usdt.Free.Equal(decimal.NewFromInt(10000).Sub(spent)) || btc.Free.String() != "0.001998" {
		t.Fatalf("paper balances USDT %s BTC %s, want %s and 0.001998", usdt.Free, btc.Free, decimal.NewFromInt(10000).Sub(spent))
	}
	st := srv.Stats()
	if n := len(srv.Orders()); n != 0 {
		t.Fatalf("%d orders reached the live exchange", n)
	}
	for ep, s := range st.Endpoints {
		if strings.Contains(ep, "order") || strings.Contains(ep, "account") || strings.Contains(ep, "myTrades") {
			t.Fatalf("a signed endpoint was called on the live exchange: %s %+v", ep, s)
		}
	}
	if st.Streams.Logons+st.Streams.UserSubscriptions != 0 {
		t.Fatalf("a user data stream was opened on the live exchange: %+v", st.Streams)
	}
}

// TestPaperModeIsValidated: a mode that is neither live nor paper, a paper section without
// paper mode, and a bad paper balance are refused naming the key.
func TestPaperModeIsValidated(t *testing.T) {
	for _, tc := range []struct{ yaml, env, key string }{
		{env: "KEEL_EXCHANGE_MODE=dry", key: "exchange.mode"},
		{env: "KEEL_EXCHANGE_PAPER_COMMISSION=0.002", key: "exchange.paper"},
		{env: "KEEL_EXCHANGE_MODE=paper\nKEEL_EXCHANGE_PAPER_COMMISSION=2", key: "exchange.paper.commission"},
		{yaml: "exchange:\n  mode: paper\n  paper:\n    balances:\n      USDT: lots\n", key: "exchange.paper.balances.USDT"},
		{yaml: "exchange:\n  mode: paper\n  paper:\n    balance: 3\n", key: "exchange.paper.balance"},
	} {
		var env []string
		if tc.env != "" {
			env = strings.Split(tc.env, "\n")
		}
		err := startUpError(t, tc.yaml, env)
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q %q: got %v, want an error naming %s", tc.yaml, tc.env, err, tc.key)
		}
	}
}
