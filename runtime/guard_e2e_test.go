package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/strategy"
)

// namedEvents returns the bot's log lines whose "event" field is name.
func namedEvents(logs string, name string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == name {
			out = append(out, ev)
		}
	}
	return out
}

// TestValidationGuardStopsRepeatedRejections: a strategy that keeps placing an order the
// exchange refuses (trading disabled on the key: -2010 every time) sends the guard's budget
// of them (3) and no more within the minute; the rest are refused locally with
// strategy.ErrRepeatedRejection, with one warning for the incident, not one per order.
// Cancels and reads still go.
func TestValidationGuardStopsRepeatedRejections(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	p := b.probes["probe"]
	ctx := context.Background()
	if err := b.sim.SetTradingDisabled(sim.DefaultAPIKey, true); err != nil {
		t.Fatal(err)
	}
	orders := func() int64 { return b.sim.Stats().Endpoints["POST /api/v3/order"].Requests }
	before := orders()
	guarded := 0
	for range 20 {
		_, err := p.env.Orders.Place(ctx, buyIntent())
		var ge *strategy.GuardError
		switch {
		case errors.As(err, &ge) && errors.Is(err, strategy.ErrRepeatedRejection):
			guarded++
			if ge.Code != -2010 || ge.Symbol != "BTCUSDT" || ge.Strategy != "probe" {
				t.Fatalf("guard error %+v, want probe's BTCUSDT orders refused for -2010", ge)
			}
		case err == nil:
			t.Fatal("an order went through with trading disabled")
		}
	}
	if sent := orders() - before; sent != 3 || guarded != 17 {
		t.Fatalf("%d orders reached the exchange and %d were refused locally; want 3 (the budget) and 17", sent, guarded)
	}
	// Reads are never blocked by it.
	if _, err := p.env.Market.Fees(ctx, "BTCUSDT"); err != nil {
		t.Fatalf("a read after the guard tripped: %v", err)
	}
	b.app.RequireStop()
	warnings := namedEvents(b.logs.String(), "validation_guard")
	if len(warnings) != 1 || warnings[0]["state"] != "tripped" || warnings[0]["error_code"] != -2010.0 || warnings[0]["strategy"] != "probe" {
		t.Fatalf("validation_guard events %v, want one warning for the incident", warnings)
	}
	refused := namedEvents(b.logs.String(), "request_refused")
	if len(refused) == 0 || refused[0]["reason"] != "validation_guard" {
		t.Fatalf("request_refused events %v, want the guard's refusals with reason validation_guard", refused)
	}
}

// TestOrderBeyondFreeBalanceIsNotSent: an order the known free balance cannot cover (the sim's
// account holds 100000 USDT) is refused before any request, naming the balance.
func TestOrderBeyondFreeBalanceIsNotSent(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	orders := func() int64 { return b.sim.Stats().Endpoints["POST /api/v3/order"].Requests }
	before := orders()
	in := buyIntent()
	in.Quantity = decimal.RequireFromString("4") // 120000 USDT at 30000
	_, err := p.env.Orders.Place(context.Background(), in)
	var ve *strategy.ValidationError
	if !errors.As(err, &ve) || ve.Filter != "FREE_BALANCE" || !strings.Contains(ve.Reason, "USDT") {
		t.Fatalf("err = %v, want a FREE_BALANCE validation error naming USDT", err)
	}
	if sent := orders() - before; sent != 0 {
		t.Fatalf("%d order requests sent for an order the balance cannot cover", sent)
	}
}
