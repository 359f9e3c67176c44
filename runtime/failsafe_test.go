package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/scheduler"
)

// until checks cond on every tick of probe p (the bot's own clock paces the checks) until it
// holds, and fails with what and the bot's logs if it does not within timeout.
func (b *bot) until(t *testing.T, p *probe, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; logs:\n%s", timeout, what, b.logs.String())
		}
		p.waitFor(t, "a tick", ticks(1))
	}
}

func adminGet(t *testing.T, admin *runtime.AdminServer, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + admin.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDeadStrategysOrdersArePulled: a strategy that panics has its open orders cancelled at
// the exchange (the others keep theirs and go on), cannot place more, is reported dead by
// /healthz and /status, and the failure is logged at error. With on_strategy_failure: halt
// the kill switch trips too, naming the strategy.
func TestDeadStrategysOrdersArePulled(t *testing.T) {
	for _, mode := range []string{"cancel", "halt"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var admin *runtime.AdminServer
			b := startBotWith(t, dir, botEnv(dir, "KEEL_ON_STRATEGY_FAILURE="+mode), []fx.Option{fx.Populate(&admin)}, "calm", "doomed")
			calm, doomed := b.probes["calm"], b.probes["doomed"]
			ctx := context.Background()
			kept, err := calm.env.Orders.Place(ctx, buyIntent())
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := doomed.env.Orders.Place(ctx, buyIntent()); err != nil {
					t.Fatal(err)
				}
			}
			if n := liveAtSim(b.sim); n != 3 {
				t.Fatalf("%d orders live before the panic, want 3", n)
			}
			doomed.armed.Store(true)
			b.until(t, calm, "the dead strategy's orders gone from the simulator", 10*time.Second, func() bool { return liveAtSim(b.sim) == 1 })
			for _, o := range b.sim.Orders() {
				if o.ClientOrderID == kept.ClientOrderID && o.Status != "NEW" {
					t.Fatalf("the live strategy's order is %s, want NEW", o.Status)
				}
			}
			before := ordersAtSim(b.sim)
			if _, err := doomed.env.Orders.Place(ctx, buyIntent()); !errors.Is(err, runtime.ErrStrategyDead) {
				t.Fatalf("place by the dead strategy: %v, want ErrStrategyDead", err)
			}
			if ordersAtSim(b.sim) != before {
				t.Fatal("the dead strategy placed an order")
			}
			b.until(t, calm, "/status to report the pulled orders", 5*time.Second, func() bool {
				_, body := adminGet(t, admin, "/status")
				var st runtime.Status
				if err := json.Unmarshal([]byte(body), &st); err != nil {
					t.Fatal(err)
				}
				for _, s := range st.Strategies {
					if s.Name == "doomed" {
						return s.State == "dead" && s.OrdersPulled && s.OpenOrders == 0 && strings.Contains(s.Error, "deliberate panic") && s.During == "tick"
					}
				}
				return false
			})
			code, body := adminGet(t, admin, "/healthz")
			if code != 503 || !strings.HasPrefix(body, "dead: strategy doomed died during tick") || !strings.Contains(body, "its orders were cancelled") {
				t.Fatalf("/healthz after the panic: %d %s", code, body)
			}
			halted, reason := b.sw.Halted()
			if want := mode == "halt"; halted != want || (want && !strings.Contains(reason.Why, "strategy doomed died")) {
				t.Fatalf("kill switch halted=%v reason %+v, want halted=%v naming the strategy", halted, reason, want)
			}
			logs := b.logs.String()
			if !containsAll(logs, `"level":"error"`, "strategy panicked", "dead strategy's open orders cancelled") {
				t.Fatalf("the failure and the pull were not logged:\n%s", logs)
			}
			b.app.RequireStop()
		})
	}
}

// TestMalformedTickerDoesNotBlockShutdownCancels: the ticker endpoint answers 200 with a
// body that does not parse, again and again. That is the endpoint's fault: the transient
// breaker (which would hold every endpoint, cancels included) stays closed, the ticker alone
// is held, and the shutdown's cancel-all clears every order and exits 0.
func TestMalformedTickerDoesNotBlockShutdownCancels(t *testing.T) {
	dir := t.TempDir()
	var sched *scheduler.Scheduler
	b := startBotWith(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false", "KEEL_SHUTDOWN_CANCEL_OPEN_ORDERS=true"),
		[]fx.Option{fx.Populate(&sched)}, "probe")
	p := b.probes["probe"]
	for range 3 {
		if _, err := p.env.Orders.Place(context.Background(), buyIntent()); err != nil {
			t.Fatal(err)
		}
	}
	const ticker = "GET /api/v3/ticker/bookTicker"
	start := b.sim.Stats().Endpoints[ticker].Requests
	b.sim.SetFaults(sim.Faults{MalformedRate: 1, Paths: []string{"/api/v3/ticker/bookTicker"}})
	// Five malformed answers in a row opened the platform breaker before.
	b.until(t, p, "the ticker endpoint held after its malformed answers", 10*time.Second, func() bool {
		for _, e := range sched.Snapshot().Endpoints {
			if e.Endpoint == "/api/v3/ticker/bookTicker" && !e.HeldUntil.IsZero() {
				return true
			}
		}
		return false
	})
	if n := b.sim.Stats().Endpoints[ticker].Requests - start; n < 5 {
		t.Fatalf("%d malformed ticker answers, want at least 5", n)
	}
	for _, br := range sched.Snapshot().Breakers {
		if br.State != "closed" {
			t.Fatalf("breaker %+v after malformed ticker answers, want every breaker closed", br)
		}
	}
	if err := b.app.Stop(context.Background()); err != nil {
		t.Fatalf("shutdown: %v (exit 1), want a clean stop (exit 0); logs:\n%s", err, b.logs.String())
	}
	if n := liveAtSim(b.sim); n != 0 {
		t.Fatalf("%d orders live after the shutdown's cancel-all", n)
	}
}

// TestStopDuringStartUpExitsOneWhenOrdersMayBeLive: a stop that comes while the bot is still
// reconciling (SIGINT during start-up) cancels nothing, so it must exit 1 when the journal
// knows of an order that may be live, naming it, and 0 when the journal proves none is.
func TestStopDuringStartUpExitsOneWhenOrdersMayBeLive(t *testing.T) {
	srv := externalSim(t, sim.Config{Seed: 5, APIKey: "k", APISecret: "s"})
	dir := t.TempDir()
	env := botEnv(dir, "KEEL_MARKET_STREAMS=false", "KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL="+srv.URL(),
		"KEEL_EXCHANGE_API_KEY=k", "KEEL_EXCHANGE_API_SECRET=s")
	b := startBot(t, dir, env, "probe")
	live, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent())
	if err != nil {
		t.Fatal(err)
	}
	b.app.RequireStop() // shutdown.cancel_open_orders is off: the order rests

	// Every exchange call is slow now: the next start-up is still reconciling when it stops.
	srv.SetFaults(sim.Faults{LatencyMS: 5000})
	stopEarly := func(dir string) (error, *syncBuffer) {
		logs := &syncBuffer{}
		app := fxtest.New(t, runtime.Module, fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
			runtime.WithLoadOptions(runtime.LoadOptions{Environ: botEnvIn(env, dir)}), runtime.WithLogOutput(logs))
		app.RequireStart()
		return app.Stop(context.Background()), logs
	}
	err, logs := stopEarly(dir)
	if err == nil || !strings.Contains(err.Error(), "may be live") || !strings.Contains(err.Error(), live.ClientOrderID) {
		t.Fatalf("stop during start-up with a live order: err = %v, want exit 1 naming %s; logs:\n%s", err, live.ClientOrderID, logs.String())
	}
	// A fresh journal proves nothing is live: exit 0.
	if err, logs := stopEarly(t.TempDir()); err != nil {
		t.Fatalf("stop during start-up with an empty journal: %v, want exit 0; logs:\n%s", err, logs.String())
	}
}

// botEnvIn is env with the journal and kill-switch files moved to dir.
func botEnvIn(env []string, dir string) []string {
	out := append([]string(nil), env...)
	return append(out, "KEEL_JOURNAL_PATH="+dir+"/journal.db", "KEEL_KILLSWITCH_FILE="+dir+"/KILLSWITCH")
}

// TestAdminServerCapsAndClosesConnections: the admin server holds at most
// admin.max_connections connections, closing one beyond the cap at once (a flood of idle
// sockets cannot exhaust the bot's descriptors), serves /healthz again as soon as one is
// freed, and closes a keep-alive connection left idle past admin.idle_timeout.
func TestAdminServerCapsAndClosesConnections(t *testing.T) {
	const limit = 4
	h := http.NewServeMux()
	h.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	srv := runtime.NewAdminServer(runtime.AdminConfig{Listen: "127.0.0.1:0", MaxConnections: limit, IdleTimeout: 300 * time.Millisecond}, h, zerolog.Nop())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(context.Background())
	// Each keeps its connection open after one request, as an idle keep-alive client does.
	request := func(c net.Conn) error {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		if !strings.Contains(string(buf[:n]), "200 OK") {
			return errors.New("no 200: " + string(buf[:n]))
		}
		return nil
	}
	var held []net.Conn
	for i := range limit {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := request(c); err != nil {
			t.Fatalf("connection %d within the cap: %v", i, err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if err := request(extra); err == nil || isTimeout(err) {
		t.Fatalf("connection beyond the cap: err = %v, want it closed at once", err)
	}
	held[0].Close()
	// The freed slot serves /healthz again (the server sees the close on its next read).
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		err = request(c)
		c.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz after a slot was freed: %v", err)
		}
	}
	// An idle keep-alive connection is closed after idle_timeout: its next read ends.
	held[1].SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := held[1].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("idle connection: read err = %v, want it closed by the server", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestHealthSaysBanned: an IP ban is not ok: /healthz answers 503 "banned until <when>",
// the ban's end, while it lasts.
func TestHealthSaysBanned(t *testing.T) {
	dir := t.TempDir()
	var admin *runtime.AdminServer
	b := startBotWith(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false"), []fx.Option{fx.Populate(&admin)}, "probe")
	defer b.app.RequireStop()
	b.sim.Ban("127.0.0.1", time.Hour)
	var body string
	b.until(t, b.probes["probe"], "/healthz to say banned", 10*time.Second, func() bool {
		var code int
		code, body = adminGet(t, admin, "/healthz")
		return code == 503 && strings.HasPrefix(body, "banned until ") && strings.Contains(body, "http 418")
	})
	until, err := time.Parse(time.RFC3339, strings.TrimSuffix(strings.Fields(body)[2], ":"))
	if left := time.Until(until); err != nil || left < 50*time.Minute || left > 61*time.Minute {
		t.Fatalf("/healthz %q: until %v (%v from now, err %v), want the hour's ban end", body, until, left, err)
	}
}
