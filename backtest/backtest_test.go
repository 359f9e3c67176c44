package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keelbot/keel/examples/macross/crossover"
	"github.com/keelbot/keel/strategy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tinyCSV is eight one-minute candles (open = previous close) whose closes make a fast-2 /
// slow-4 crossover buy at 104 and sell at 96:
//
//	closes 100 100 100 100 104 104 96 96
//	close 4: fast (100+104)/2 = 102 > slow 404/4 = 101, before: 100 <= 100: buy
//	close 6: fast (104+96)/2 = 100 < slow 404/4 = 101, before: 104 >= 102: sell
const tinyCSV = `1714780800000,100,100,100,100,1,1714780859999,100,4,0.5,50,0
1714780860000,100,100,100,100,1,1714780919999,100,4,0.5,50,0
1714780920000,100,100,100,100,1,1714780979999,100,4,0.5,50,0
1714780980000,100,100,100,100,1,1714781039999,100,4,0.5,50,0
1714781040000,100,104,100,104,1,1714781099999,102,4,0.5,51,0
1714781100000,104,104,104,104,1,1714781159999,104,4,0.5,52,0
1714781160000,104,104,96,96,1,1714781219999,100,4,0.5,50,0
1714781220000,96,96,96,96,1,1714781279999,96,4,0.5,48,0
`

const tinyYAML = `backtest:
  file: %s
  symbol: BTCUSDT
  balances:
    USDT: "1000"
  commission: "0.001"
strategies:
  macross:
    symbol: BTCUSDT
    interval: 1m
    fast: 2
    slow: 4
    quantity: 1
`

func tinyConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	csv := filepath.Join(dir, "tiny.csv")
	if err := os.WriteFile(csv, []byte(tinyCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "bt.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(tinyYAML, "%s", csv, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

var macross = strategy.Module("macross", crossover.New)

// TestTinyBacktestByHand checks the report against a hand computation. A market order sent on
// a close fills at the next trade, the next candle's open (here equal to the close):
//
//	buy 1 BTC at 104: -104 USDT, commission 0.001 BTC (0.104 USDT at 104): 0.999 BTC
//	sell 0.999 BTC at 96: +95.904 USDT, commission 0.095904 USDT
//	USDT 1000 - 104 + 95.904 - 0.095904 = 991.808096; PnL -8.191904; fees 0.199904
//	value at closes: 1000 ×4, 999.896 (896 + 0.999×104) ×2, 991.808096 ×2: drawdown 8.191904
func TestTinyBacktestByHand(t *testing.T) {
	rep, err := Run(context.Background(), Options{Config: tinyConfig(t)}, macross)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pnl": rep.PnL.String(), "fees": rep.Fees.String(), "end": rep.EndValue.String(), "dd": rep.MaxDrawdown.String(),
		"usdt": rep.Balances["USDT"], "btc": rep.Balances["BTC"],
	}
	for k, v := range map[string]string{"pnl": "-8.191904", "fees": "0.199904", "end": "991.808096", "dd": "8.191904",
		"usdt": "991.808096", "btc": "0"} {
		if want[k] != v {
			t.Errorf("%s = %s, want %s", k, want[k], v)
		}
	}
	if rep.Fills != 2 || rep.OrdersSent != 2 || rep.OrdersRejected != 0 || rep.Candles != 8 || rep.StrategyErrors != 0 || rep.WouldHitLimit {
		t.Fatalf("report %+v", rep)
	}
	// Requests: exchange info, time, the first balance read, the first candles read, two orders.
	if rep.Requests["GET /api/v3/klines"] != 1 || rep.Requests["POST /api/v3/order"] != 2 || rep.Requests["GET /api/v3/exchangeInfo"] != 1 {
		t.Fatalf("requests %v", rep.Requests)
	}
	var weight WindowUse
	for _, u := range rep.Budget {
		if u.Window == "REQUEST_WEIGHT_1M" {
			weight = u
		}
	}
	// The first minute: exchangeInfo 20, time 1, account 20 and 5 more balance refreshes of
	// 20 (every 10 s), klines 2.
	if weight.Limit != 6000 || weight.Peak != 143 {
		t.Fatalf("REQUEST_WEIGHT_1M %+v", weight)
	}
}

// TestBacktestIsDeterministic: the shipped sample twice with one seed gives one report.
func TestBacktestIsDeterministic(t *testing.T) {
	run := func() []byte {
		rep, err := Run(context.Background(), Options{Config: "../examples/macross/bt.yaml", File: sample,
			From: time.Date(2024, 5, 4, 6, 0, 0, 0, time.UTC), To: time.Date(2024, 5, 4, 12, 0, 0, 0, time.UTC), Seed: 3}, macross)
		if err != nil {
			t.Fatal(err)
		}
		rep.Elapsed = 0
		b, _ := json.Marshal(rep)
		return b
	}
	a, b := run(), run()
	if !bytes.Equal(a, b) {
		t.Fatalf("two runs differ:\n%s\n%s", a, b)
	}
	var rep Report
	json.Unmarshal(a, &rep)
	if rep.Candles != 360 || rep.Fills == 0 {
		t.Fatalf("06:00-12:00: %d candles, %d fills", rep.Candles, rep.Fills)
	}
}

// TestCommand runs `backtest` as a user would, and its refusals.
func TestCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Command([]string{"--config", tinyConfig(t)}, &out, &errb, macross); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"PnL", "-8.191904 USDT", "fees", "fills         2", "max drawdown", "REQUEST_WEIGHT_1M", "would hit a rate limit live: no"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := Command([]string{"--config", tinyConfig(t), "--json", "--from", "2024-05-04T00:03:00Z"}, &out, &errb, macross); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Candles != 5 {
		t.Fatalf("json: %v %+v", err, rep)
	}
	// A production config without its secrets: the exchange section is not used.
	out.Reset()
	prod := filepath.Join(t.TempDir(), "prod.yaml")
	b, _ := os.ReadFile(tinyConfig(t))
	os.WriteFile(prod, append([]byte("exchange:\n  name: binance\n  base_url: https://api.binance.com\n"), b...), 0o600)
	if code := Command([]string{"--config", prod}, &out, &errb, macross); code != 0 || !strings.Contains(out.String(), "-8.191904 USDT") {
		t.Fatalf("a Binance config without keys: exit %d: %s%s", code, errb.String(), out.String())
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--from", "yesterday"}, 2, "--from"},
		{[]string{"--from", "2024-05-05", "--to", "2024-05-04"}, 2, "not after"},
		{[]string{"--config", tinyConfig(t), "--from", "2030-01-01"}, 1, "no candle"},
		{[]string{"--config", tinyConfig(t), "--file", "/nonexistent.csv"}, 1, "nonexistent"},
		{[]string{"extra"}, 2, "unexpected"},
	} {
		errb.Reset()
		if code := Command(tc.args, &out, &errb, macross); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d %q, want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}
