package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

const adminToken = "test-admin-token-123"

// adminBot starts a bot with an admin token and returns a function posting to its admin
// server with the given token ("" for none).
func adminBot(t *testing.T, extra ...string) (*bot, func(path, token, body string) (int, string), func(path string) (int, string)) {
	t.Helper()
	dir := t.TempDir()
	var admin *runtime.AdminServer
	b := startBotWith(t, dir, botEnv(dir, append([]string{"KEEL_ADMIN_TOKEN=" + adminToken}, extra...)...), []fx.Option{fx.Populate(&admin)}, "probe")
	do := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+admin.Addr()+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(path, token, body string) (int, string) { return do(http.MethodPost, path, token, body) }
	get := func(path string) (int, string) { return do(http.MethodGet, path, "", "") }
	return b, post, get
}

// TestAdminActionsNeedTheToken: the POST actions answer 401 (and log it) without the bearer
// token or with a wrong one; the GET endpoints stay open; the right token halts and resumes.
func TestAdminActionsNeedTheToken(t *testing.T) {
	b, post, get := adminBot(t)
	defer b.app.RequireStop()
	for _, tok := range []string{"", "wrong-token-999"} {
		for _, path := range []string{"/halt", "/resume", "/cancel-all", "/flatten"} {
			if code, body := post(path, tok, `{"reason":"x"}`); code != http.StatusUnauthorized {
				t.Fatalf("POST %s with token %q: %d %s, want 401", path, tok, code, body)
			}
		}
	}
	if halted, _ := b.sw.Halted(); halted {
		t.Fatal("a refused /halt halted the bot")
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"reason":"no bearer token"`) || !strings.Contains(logs, `"reason":"wrong bearer token"`) ||
		!strings.Contains(logs, "admin action refused") || strings.Contains(logs, "wrong-token-999") {
		t.Fatalf("the refusals were not logged as such (or the token was):\n%s", logs)
	}
	if code, _ := get("/status"); code != 200 {
		t.Fatalf("GET /status: %d, want 200 without a token", code)
	}
	if code, body := post("/halt", adminToken, `{"reason":"maintenance","who":"alice"}`); code != 200 || !strings.Contains(body, "maintenance") {
		t.Fatalf("POST /halt: %d %s", code, body)
	}
	if halted, r := b.sw.Halted(); !halted || r.Who != "alice" {
		t.Fatalf("not halted by alice after /halt: %v %v", halted, r)
	}
	if code, body := post("/resume", adminToken, ""); code != 200 {
		t.Fatalf("POST /resume: %d %s", code, body)
	}
	if halted, _ := b.sw.Halted(); halted {
		t.Fatal("still halted after /resume")
	}
}

// TestAdminActionsOffWithoutAToken: a bot without KEEL_ADMIN_TOKEN refuses every action.
func TestAdminActionsOffWithoutAToken(t *testing.T) {
	dir := t.TempDir()
	var admin *runtime.AdminServer
	b := startBotWith(t, dir, botEnv(dir), []fx.Option{fx.Populate(&admin)}, "probe")
	defer b.app.RequireStop()
	req, _ := http.NewRequest(http.MethodPost, "http://"+admin.Addr()+"/halt", strings.NewReader(`{"reason":"x"}`))
	req.Header.Set("Authorization", "Bearer anything")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "KEEL_ADMIN_TOKEN") {
		t.Fatalf("POST /halt on a bot without a token: %d %s", resp.StatusCode, body)
	}
}

// TestFlattenLeavesNoPosition buys at market, leaves a resting order, and flattens: the
// resting order is cancelled, one sell closes the position (fees included: the account's BTC
// is back where it started), the strategy's position is zero, and a second flatten sends
// nothing (the simulator's orders are the judge).
func TestFlattenLeavesNoPosition(t *testing.T) {
	b, post, _ := adminBot(t)
	defer b.app.RequireStop()
	p := b.probes["probe"]
	ctx := context.Background()
	startBTC, _, err := b.sim.Balance("keel-sim-key", "BTC")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.env.Orders.Place(ctx, buyIntent()); err != nil {
		t.Fatal(err)
	}
	code, body := post("/flatten", adminToken, `{"who":"ops","reason":"end of day"}`)
	if code != 200 {
		t.Fatalf("POST /flatten: %d %s", code, body)
	}
	var res struct {
		Cancelled, Placed []struct{ Side string }
		Positions         []strategy.Position
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Cancelled) != 1 || len(res.Placed) != 1 || res.Placed[0].Side != "SELL" {
		t.Fatalf("flatten: %s, want one cancel and one sell", body)
	}
	if pos := p.env.Portfolio.Position("BTCUSDT"); !pos.Quantity.IsZero() {
		t.Fatalf("position after flatten: %s", pos.Quantity)
	}
	if code, body := post("/flatten", adminToken, ""); code != 200 || strings.Contains(body, `"placed"`) {
		t.Fatalf("a second flatten: %d %s, want nothing placed", code, body)
	}
	var sells, buys, live int
	for _, o := range b.sim.Orders() {
		switch {
		case o.Status == "NEW":
			live++
		case o.Side == "SELL":
			sells++
		case o.Side == "BUY":
			buys++
		}
	}
	if sells != 1 || buys != 2 || live != 0 {
		t.Fatalf("simulator orders: %d sells, %d buys, %d live; want 1 sell, 2 buys (one cancelled), none live", sells, buys, live)
	}
	endBTC, _, _ := b.sim.Balance("keel-sim-key", "BTC")
	if endBTC != startBTC {
		t.Fatalf("the account's BTC went from %s to %s: the flatten did not sell exactly what was held", startBTC, endBTC)
	}
	// Flattening leaves the bot in reduce-only mode: a strategy cannot reopen.
	if !b.sw.ReduceOnly() {
		t.Fatalf("after flatten the switch is %v, want reduce-only", b.sw.State())
	}
}

// TestReduceOnlyRefusesOpeningOrders: in reduce-only mode an order that would open or grow a
// position is refused before sending (ErrHalted, ErrNotReducing); one that reduces goes.
func TestReduceOnlyRefusesOpeningOrders(t *testing.T) {
	b, _, _ := adminBot(t)
	defer b.app.RequireStop()
	p := b.probes["probe"]
	ctx := context.Background()
	if _, err := p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	if err := b.sw.Trip(ctx, killswitch.Reason{Who: "test", Why: "wind down", ReduceOnly: true}); err != nil {
		t.Fatal(err)
	}
	before := len(b.sim.Orders())
	_, err := p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Market, Quantity: dec("0.001")})
	if !errors.Is(err, strategy.ErrHalted) || !errors.Is(err, runtime.ErrNotReducing) {
		t.Fatalf("a buy growing a long in reduce-only mode: %v, want ErrHalted and ErrNotReducing", err)
	}
	_, err = p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Sell, Type: adapters.Market, Quantity: dec("0.02")})
	if !errors.Is(err, runtime.ErrNotReducing) {
		t.Fatalf("a sell larger than the long: %v, want ErrNotReducing", err)
	}
	if n := len(b.sim.Orders()); n != before {
		t.Fatalf("refused orders reached the exchange: %d orders, want %d", n, before)
	}
	o, err := p.env.Orders.Place(ctx, strategy.Intent{Symbol: "BTCUSDT", Side: adapters.Sell, Type: adapters.Market, Quantity: dec("0.005")})
	if err != nil || o.Status != adapters.StatusFilled {
		t.Fatalf("a sell reducing the long in reduce-only mode: %+v, %v", o, err)
	}
	b.eventually(t, "the position reduced", 5*time.Second, func() bool {
		return p.env.Portfolio.Position("BTCUSDT").Quantity.LessThan(dec("0.006"))
	})
}

// TestCancelAllOfAnOrderThatJustFilled: an order that fills at the exchange before the bot
// hears of it (no stream, no refresh yet) is listed as filled by cancel-all, which answers 200:
// the order is not open, and nothing failed.
func TestCancelAllOfAnOrderThatJustFilled(t *testing.T) {
	b, post, _ := adminBot(t, "KEEL_MARKET_STREAMS=false", "KEEL_PORTFOLIO_REFRESH_INTERVAL=1h")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	o, err := p.env.Orders.Place(context.Background(), buyIntent())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.sim.SetPrice("BTCUSDT", "29000"); err != nil { // crosses the buy at 30000
		t.Fatal(err)
	}
	code, body := post("/cancel-all", adminToken, `{"who":"ops"}`)
	var res struct {
		Cancelled, Failed []json.RawMessage
		Filled            []struct {
			ClientOrderID string `json:"client_order_id"`
			Status        string
		}
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || len(res.Failed) != 0 || len(res.Cancelled) != 0 ||
		len(res.Filled) != 1 || res.Filled[0].ClientOrderID != o.ClientOrderID || res.Filled[0].Status != "FILLED" {
		t.Fatalf("POST /cancel-all of an order that had filled: %d %s; want 200 listing %s as filled", code, body, o.ClientOrderID)
	}
}
