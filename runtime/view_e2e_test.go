package runtime_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// TestConsoleSummaryLine runs a bot with console logs, as on a terminal: after a fill, a
// summary line names the strategy's open orders, position, PnL, fills, budget and kill switch,
// and the per-request lines of successful requests are gone (failures would still print).
func TestConsoleSummaryLine(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_LOG_FORMAT=console", "KEEL_UI_SUMMARY_INTERVAL=50ms"), "probe")
	p := b.probes["probe"]
	if _, err := p.env.Orders.Place(context.Background(), strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy,
		Type: adapters.Market, Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	summary := regexp.MustCompile(`INF summary .*budget_used=\d+% fees="\d+\.\d\d USDT" fills=1 kill_switch=running open_orders=0 position="0\.0\d* BTCUSDT" realized="0\.00 USDT" state=running strategy=probe unrealized="-?\d+\.\d\d USDT"`)
	b.eventually(t, "a summary line after the fill", 10*time.Second, func() bool {
		return summary.MatchString(ansi.ReplaceAllString(b.logs.String(), ""))
	})
	b.app.RequireStop()
	logs := ansi.ReplaceAllString(b.logs.String(), "")
	if strings.Contains(logs, "endpoint=/api/v3/order") {
		t.Fatalf("a successful request printed its line on the console:\n%s", logs)
	}
}

// TestJSONKeepsAttemptEvents: JSON output is the stable surface: every attempt's event stays,
// and no summary line is added.
func TestJSONKeepsAttemptEvents(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_UI_SUMMARY_INTERVAL=20ms"), "probe")
	if _, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent()); err != nil {
		t.Fatal(err)
	}
	b.probes["probe"].waitFor(t, "ticks", ticks(5))
	b.app.RequireStop()
	logs := b.logs.String()
	if !strings.Contains(logs, `"endpoint":"/api/v3/order","method":"POST","status":200`) || strings.Contains(logs, `"message":"summary"`) {
		t.Fatalf("JSON logs: want the order's attempt event and no summary:\n%s", logs)
	}
}

// TestStatusAndMetricsShowFills: after a fill, /status lists the strategy's orders, positions
// and PnL, and /metrics has the ledger's, latency, window and stream series.
func TestStatusAndMetricsShowFills(t *testing.T) {
	dir := t.TempDir()
	var admin *runtime.AdminServer
	b := startBotWith(t, dir, botEnv(dir), []fx.Option{fx.Populate(&admin)}, "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	ctx := context.Background()
	if _, err := p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	resting, err := p.env.Orders.Place(ctx, buyIntent())
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + admin.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	var st struct {
		Strategies []struct {
			Name      string
			Orders    []adapters.Order
			Positions []strategy.Position
			PnL       strategy.PnL
		}
		PnL strategy.PnL
	}
	if err := json.Unmarshal([]byte(get("/status")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Strategies) != 1 || len(st.Strategies[0].Orders) != 1 || st.Strategies[0].Orders[0].ClientOrderID != resting.ClientOrderID {
		t.Fatalf("/status strategies: %+v, want probe with its resting order", st.Strategies)
	}
	s := st.Strategies[0]
	if len(s.Positions) != 1 || !s.Positions[0].Quantity.IsPositive() || s.PnL.Fills != 1 || st.PnL.Fills != 1 || st.PnL.Quote != "USDT" {
		t.Fatalf("/status positions %+v, pnl %+v, total %+v: want a long BTCUSDT position from one fill", s.Positions, s.PnL, st.PnL)
	}
	b.eventually(t, "the fee booked from the trade", 10*time.Second, func() bool {
		return p.env.Portfolio.Position("BTCUSDT").Fees["BTC"].IsPositive()
	})
	metrics := get("/metrics")
	if !containsAll(metrics, `keel_fills_total{strategy="probe",symbol="BTCUSDT"} 1`, `keel_position{base="BTC",strategy="probe",symbol="BTCUSDT"} 0.0`,
		`keel_pnl_realized{quote="USDT",strategy="probe",symbol="BTCUSDT"} 0`, `keel_pnl_unrealized{`, `keel_fees_total{asset="BTC",strategy="probe",symbol="BTCUSDT"}`,
		`keel_request_duration_seconds_bucket{bucket="orders",endpoint="/api/v3/order",exchange="sim",le="0.005"}`,
		`keel_window_used{window="REQUEST_WEIGHT_1M"}`, `keel_window_limit{window="REQUEST_WEIGHT_1M"} 6000`,
		`keel_stream_connected{stream="user",symbol=""}`, `keel_market_data_stale{symbol="BTCUSDT"}`) {
		t.Fatalf("/metrics:\n%s", metrics)
	}
}
