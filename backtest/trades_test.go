package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/strategy"
)

// restTrades are five BTCUSDT trades in Binance's trades format (id, price, qty, quoteQty,
// time, isBuyerMaker, isBestMatch) from 2024-05-04T00:00:00Z. Only the third, at 00:02:10,
// reaches a buy resting at 99.
const restTrades = `1,100.00,1,100,1714780800000,False,True
2,99.50,1,99.5,1714780870000,True,True
3,99.00,0.5,49.5,1714780930000,True,True
4,98.00,2,196,1714780940000,True,True
5,101.00,1,101,1714781000000,False,True
`

// restCandles are the four minutes as a candle file; the second's low (98.5) is below 99,
// which the trades never print in that minute: replayed from candles, the buy fills there.
const restCandles = `1714780800000,100,100,100,100,1,1714780859999,100,1,0,0,0
1714780860000,100,100,98.5,99.5,1,1714780919999,99.5,1,0,0,0
1714780920000,99,99,98,98,2.5,1714780979999,245.5,2,0,0,0
1714780980000,101,101,101,101,1,1714781039999,101,1,1,101,0
`

// rester buys 1 BTC with a limit at 99 on its first tick and records its fills.
type rester struct {
	env   strategy.Env
	fills *[]adapters.Order
}

func (r *rester) OnEvent(ctx context.Context, ev strategy.Event) error {
	switch e := ev.(type) {
	case strategy.Tick:
		if len(r.env.Orders.Open()) == 0 && len(*r.fills) == 0 {
			_, err := r.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
				Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(99)})
			return err
		}
	case strategy.OrderUpdate:
		if e.Filled.IsPositive() {
			*r.fills = append(*r.fills, e.Order)
		}
	}
	return nil
}

// restConfig writes the files and a config naming them ("" leaves a key out).
func restConfig(t *testing.T, candles, trades string) string {
	t.Helper()
	dir := t.TempDir()
	yaml := "backtest:\n  symbol: BTCUSDT\n  balances:\n    USDT: \"1000\"\n  commission: \"0.001\"\n"
	for key, body := range map[string]string{"file": candles, "trades": trades} {
		if body == "" {
			continue
		}
		p := filepath.Join(dir, key+".csv")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		yaml += fmt.Sprintf("  %s: %s\n", key, p)
	}
	cfg := filepath.Join(dir, "bt.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTradesDriveTheFills checks a trades replay against a hand computation. The buy at 99
// is placed at the first close (00:01:00); 99.50 (00:01:10) does not reach it, 99.00
// (00:02:10) does, at 99:
//
//	USDT 1000 - 99 = 901; BTC 1 - commission 0.001 = 0.999 (fee 0.001×99 = 0.099 USDT)
//	end value at the last trade (101): 901 + 0.999×101 = 1001.899; PnL 1.899
//
// Replayed from the candles alone, the second minute's low fills it a minute earlier.
func TestTradesDriveTheFills(t *testing.T) {
	run := func(cfg string) (Report, []adapters.Order) {
		t.Helper()
		var fills []adapters.Order
		mod := strategy.Module("rester", func(env strategy.Env, _ struct{}) (strategy.Strategy, error) {
			return &rester{env: env, fills: &fills}, nil
		})
		rep, err := Run(context.Background(), Options{Config: cfg}, mod)
		if err != nil {
			t.Fatal(err)
		}
		return rep, fills
	}
	crossing := time.UnixMilli(1714780930000).UTC()
	for _, tc := range []struct{ name, candles string }{{"with a candle file", restCandles}, {"candles built from the trades", ""}} {
		rep, fills := run(restConfig(t, tc.candles, restTrades))
		if len(fills) != 1 || !fills[0].UpdatedAt.Equal(crossing) || !fills[0].ExecutedQty.Equal(decimal.NewFromInt(1)) {
			t.Fatalf("%s: fills %+v, want one of 1 BTC at %s (the third trade)", tc.name, fills, crossing)
		}
		if rep.FillSource != "trades" || rep.TradesReplayed != 5 || rep.Candles != 4 || rep.Fills != 1 ||
			rep.PnL.String() != "1.899" || rep.Fees.String() != "0.099" || rep.EndValue.String() != "1001.899" ||
			rep.Balances["USDT"] != "901" || rep.Balances["BTC"] != "0.999" {
			t.Fatalf("%s: report %+v", tc.name, rep)
		}
	}
	rep, fills := run(restConfig(t, restCandles, ""))
	if rep.FillSource != "candles" || len(fills) != 1 || fills[0].UpdatedAt.After(time.UnixMilli(1714780919999)) {
		t.Fatalf("candles only: %s, fills %+v, want the fill in the second minute", rep.FillSource, fills)
	}
}

// TestTradesFlagAndBadFiles runs `backtest --trades` as a user would, and a bad trades file's
// error names its line and column.
func TestTradesFlagAndBadFiles(t *testing.T) {
	cfg := restConfig(t, restCandles, "")
	trades := filepath.Join(t.TempDir(), "trades.csv")
	os.WriteFile(trades, []byte(restTrades), 0o600)
	var fills []adapters.Order
	mod := strategy.Module("rester", func(env strategy.Env, _ struct{}) (strategy.Strategy, error) {
		return &rester{env: env, fills: &fills}, nil
	})
	var out, errb bytes.Buffer
	if code := Command([]string{"--config", cfg, "--trades", trades, "--json"}, &out, &errb, mod); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.FillSource != "trades" || rep.TradesReplayed != 5 {
		t.Fatalf("--trades: %v %+v", err, rep)
	}
	out.Reset()
	if code := Command([]string{"--config", cfg, "--trades", trades}, &out, &errb, mod); code != 0 ||
		!strings.Contains(out.String(), "the trades file (5 trades)") {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, tc := range []struct{ name, csv, want string }{
		{"empty", "", "no trades"},
		{"short row", "1,100,1,100,1714780800000\n", "line 1: 5 columns, want 7"},
		{"bad price", "1,100,1,100,1714780800000,False,True\n2,x,1,1,1714780800001,False,True\n", "line 2, column 2 (price)"},
		{"bad time", "1,100,1,100,-5,False,True\n", "line 1, column 5 (time)"},
		{"bad side", "1,100,1,100,1714780800000,maybe,True\n", "line 1, column 6 (isBuyerMaker)"},
		{"out of order", "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n1,100,1,100,1714780800000,False,True\n2,100,1,100,1714780799999,False,True\n", "line 3, column 5 (time)"},
	} {
		p := filepath.Join(t.TempDir(), "bad.csv")
		os.WriteFile(p, []byte(tc.csv), 0o600)
		errb.Reset()
		if code := Command([]string{"--config", cfg, "--trades", p}, &out, &errb, mod); code != 1 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%s: exit %d %q, want 1 and %q", tc.name, code, errb.String(), tc.want)
		}
	}
	// A trades file of another day than the candles.
	p := filepath.Join(t.TempDir(), "other-day.csv")
	os.WriteFile(p, []byte("1,100,1,100,1714867200000,False,True\n"), 0o600)
	if code := Command([]string{"--config", cfg, "--trades", p}, &out, &errb, mod); code != 1 || !strings.Contains(errb.String(), "outside the candles") {
		t.Errorf("trades of another day: exit %d %q", code, errb.String())
	}
	// Microsecond times (spot files since 2025).
	ts, err := ReadTradeCSV(strings.NewReader("7,100,1,100,1735689600000123,True,True\n"), 0)
	if err != nil || !ts[0].Time.Equal(time.UnixMicro(1735689600000123)) || !ts[0].BuyerMaker {
		t.Fatalf("µs: %v %+v", err, ts)
	}
}
