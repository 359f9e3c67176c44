package runtime_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// TestEveryMonitoredMetricExists: every keel_ series that configs/alerts.yaml and
// configs/grafana/keel.json name is on /metrics of a running bot that has traded, so no rule
// or panel watches a name that does not exist.
func TestEveryMonitoredMetricExists(t *testing.T) {
	names := map[string]bool{}
	metricName := regexp.MustCompile(`\bkeel_[a-z_]+\b`)
	for _, f := range []string{"../configs/alerts.yaml", "../configs/grafana/keel.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricName.FindAllString(string(b), -1) {
			if n != "keel_bot" { // the dashboard's uid
				names[n] = true
			}
		}
	}
	if len(names) < 15 {
		t.Fatalf("found only %d metric names in the rules and the dashboard: %v", len(names), names)
	}

	dir := t.TempDir()
	var admin *runtime.AdminServer
	b := startBotWith(t, dir, botEnv(dir), []fx.Option{fx.Populate(&admin)}, "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	if _, err := p.env.Orders.Place(context.Background(), strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "the fee booked", 10*time.Second, func() bool { return p.env.Portfolio.Position("BTCUSDT").Fees["BTC"].IsPositive() })
	resp, err := http.Get("http://" + admin.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var missing []string
	for n := range names {
		if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).Match(body) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("named by the rules or the dashboard but not on /metrics: %v\n%s", missing, body)
	}
}
