package runtime_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// eventWith returns the first of the bot's log events named name for which match holds.
func (b *bot) eventWith(name string, match func(map[string]any) bool) map[string]any {
	for _, ev := range namedEvents(b.logs.String(), name) {
		if match == nil || match(ev) {
			return ev
		}
	}
	return nil
}

// waitEvent waits (on the bot's ticks) for a log event named name that match accepts, and
// returns it.
func (b *bot) waitEvent(t *testing.T, name string, timeout time.Duration, match func(map[string]any) bool) map[string]any {
	t.Helper()
	var ev map[string]any
	b.eventually(t, "a "+name+" event", timeout, func() bool {
		ev = b.eventWith(name, match)
		return ev != nil
	})
	return ev
}

// hasFields fails unless ev carries every one of fields.
func hasFields(t *testing.T, ev map[string]any, fields ...string) {
	t.Helper()
	for _, f := range fields {
		if _, ok := ev[f]; !ok {
			t.Fatalf("event %v lacks %q", ev, f)
		}
	}
}

// TestStreamEventsAreLogged: against the simulator, each WebSocket connect, drop, reconnect
// attempt (with its delay) and resync snapshot (with its weight and why) is one log event with
// its fields, so a reconnect storm reads back from the log. The streams are dropped while
// depth snapshots fail, so the resync is seen failing, then retried.
func TestStreamEventsAreLogged(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	defer b.app.RequireStop()
	const market = "market:BTCUSDT"
	isMarket := func(ev map[string]any) bool { return ev["stream"] == market }

	first := b.waitEvent(t, "stream_connect", 10*time.Second, func(ev map[string]any) bool {
		return isMarket(ev) && ev["connects"] == 1.0
	})
	hasFields(t, first, "ts", "bot_instance_id", "exchange", "attempt", "handshake_ms", "limiter_wait_ms")
	if first["exchange"] != "sim" || first["bot_instance_id"] != "t1" || first["attempt"] != 1.0 {
		t.Fatalf("first market connect %v, want exchange sim, instance t1, attempt 1", first)
	}
	b.waitEvent(t, "stream_connect", 10*time.Second, func(ev map[string]any) bool { return ev["stream"] == "user" })
	resync := b.waitEvent(t, "stream_resync", 10*time.Second, func(ev map[string]any) bool {
		return ev["symbol"] == "BTCUSDT" && ev["reason"] == "connect"
	})
	if resync["weight"] != 5.0 || resync["depth_limit"] != 100.0 || resync["error_message"] != "" || !isMarket(resync) {
		t.Fatalf("resync event %v, want one depth snapshot of weight 5 (limit 100) for the connect", resync)
	}

	b.sim.SetFaults(sim.Faults{ErrorRate: 1, Paths: []string{"/api/v3/depth"}})
	b.sim.DropStreams()
	drop := b.waitEvent(t, "stream_drop", 10*time.Second, isMarket)
	hasFields(t, drop, "ts", "exchange", "connects", "up_ms", "error_message")
	if drop["connects"] != 1.0 || drop["up_ms"].(float64) <= 0 || drop["error_message"] == "" || drop["level"] != "warn" {
		t.Fatalf("drop event %v, want the first connection's drop at warn, with how long it lived and why", drop)
	}
	re := b.waitEvent(t, "stream_reconnect", 10*time.Second, isMarket)
	hasFields(t, re, "ts", "exchange", "attempt", "delay_ms", "error_message")
	// Full jitter: the n-th attempt since the last connection that delivered data waits
	// rand(0, 200 ms·2^(n-1)).
	attempt, delay := re["attempt"].(float64), re["delay_ms"].(float64)
	if attempt < 1 || attempt > 2 || delay < 0 || delay > 200*math.Pow(2, attempt-1) || re["error_message"] != drop["error_message"] {
		t.Fatalf("reconnect event %v, want the first or second attempt after the drop, a full-jitter delay, and the drop's reason", re)
	}
	b.waitEvent(t, "stream_connect", 10*time.Second, func(ev map[string]any) bool { return isMarket(ev) && ev["connects"] == 2.0 })
	failed := b.waitEvent(t, "stream_resync", 10*time.Second, func(ev map[string]any) bool {
		return ev["reason"] == "connect" && ev["error_message"] != ""
	})
	if failed["level"] != "warn" || failed["weight"] != 5.0 {
		t.Fatalf("failed resync event %v, want it at warn with its weight", failed)
	}
	b.sim.SetFaults(sim.Faults{})
	b.waitEvent(t, "stream_resync", 15*time.Second, func(ev map[string]any) bool {
		return ev["reason"] == "retry" && ev["error_message"] == "" && ev["weight"] == 5.0
	})
}

// TestClockOffsetIsLoggedAtStartAndWhenItMoves: the bot logs the exchange's clock offset at
// its first measure, and, measuring it every market.clock_check, again once it moved by more
// than 100 ms (the simulator's clock stepped 400 ms ahead), with the offset it moved from; a
// move under 100 ms (a further 50 ms) is not logged.
func TestClockOffsetIsLoggedAtStartAndWhenItMoves(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_MARKET_CLOCK_CHECK=100ms"), "probe")
	defer b.app.RequireStop()
	first := b.waitEvent(t, "clock_offset", 10*time.Second, nil)
	hasFields(t, first, "ts", "bot_instance_id", "exchange", "offset_ms")
	if off := first["offset_ms"].(float64); math.Abs(off) > 50 || first["previous_offset_ms"] != nil {
		t.Fatalf("first clock_offset %v, want the loopback simulator within 50 ms and no previous offset", first)
	}
	b.sim.SetClockOffset(400 * time.Millisecond)
	moved := b.waitEvent(t, "clock_offset", 10*time.Second, func(ev map[string]any) bool { return ev["previous_offset_ms"] != nil })
	if off := moved["offset_ms"].(float64); math.Abs(off-400) > 50 || moved["previous_offset_ms"] != first["offset_ms"] {
		t.Fatalf("clock_offset after a 400 ms step %v, want ~400 ms from %v", moved, first["offset_ms"])
	}
	b.sim.SetClockOffset(450 * time.Millisecond)
	checks := func() int64 { return b.sim.Stats().Endpoints["GET /api/v3/time"].Requests }
	after := checks()
	b.eventually(t, "three more clock checks", 10*time.Second, func() bool { return checks() >= after+3 })
	if n := len(namedEvents(b.logs.String(), "clock_offset")); n != 2 {
		t.Fatalf("%d clock_offset events, want 2: a 50 ms move is not news", n)
	}
}

// breakerState is the scheduler's state of class's breaker.
func breakerState(s *scheduler.Scheduler, class string) string {
	for _, br := range s.Snapshot().Breakers {
		if br.Class == class {
			return br.State
		}
	}
	return ""
}

// TestOutageProbesWithReadsNeverOrders: during a 5xx outage (every endpoint answers 503) the
// platform breaker opens; while it is open or half-open no order reaches the exchange — the
// probes that test it are server-time reads (breaker_probe events, failing while the outage
// lasts), and a placement fails fast unsent (request_refused, reason breaker). Once the
// outage ends, a probe read succeeds before the first order goes out. A retry abandoned when
// the breaker opened under it is logged (retry_given_up) with why.
func TestOutageProbesWithReadsNeverOrders(t *testing.T) {
	dir := t.TempDir()
	b, s := startBotWithScheduler(t, dir, botEnv(dir, "KEEL_MARKET_STREAMS=false",
		"KEEL_SCHEDULER_BREAKERS_TRANSIENT_OPEN_FOR=500ms", "KEEL_SCHEDULER_BACKOFF_CANCEL_PROBE=200ms"))
	defer b.app.RequireStop()
	p := b.probes["probe"]
	ctx := context.Background()
	endpoint := func(key string) int64 { return b.sim.Stats().Endpoints[key].Requests }
	ordersSent := func() int64 { return endpoint("POST /api/v3/order") }

	b.sim.SetFaults(sim.Faults{ErrorRate: 1})
	b.eventually(t, "the transient breaker open", 10*time.Second, func() bool { return breakerState(s, "transient") == "open" })
	before, probesBefore := ordersSent(), endpoint("GET /api/v3/time")
	refused := 0
	// Place through at least two open/half-open cycles: every placement fails unsent.
	b.eventually(t, "two read probes", 15*time.Second, func() bool {
		if _, err := p.env.Orders.Place(ctx, buyIntent()); err == nil {
			t.Fatal("an order was placed during the outage")
		}
		return endpoint("GET /api/v3/time") >= probesBefore+2
	})
	if sent := ordersSent() - before; sent != 0 {
		t.Fatalf("%d orders reached the exchange while the breaker was open or half-open", sent)
	}
	for _, ev := range namedEvents(b.logs.String(), "request_refused") {
		if ev["method"] == "POST" && ev["reason"] == "breaker" {
			refused++
			hasFields(t, ev, "ts", "bot_instance_id", "exchange", "endpoint", "rate_limit_bucket", "priority", "attempt", "error_message")
		}
	}
	if refused == 0 {
		t.Fatal("no request_refused event (reason breaker) for the orders refused unsent")
	}
	failedProbe := b.eventWith("breaker_probe", func(ev map[string]any) bool { return ev["error_message"] != "" })
	if failedProbe == nil || failedProbe["breaker"] != "transient" || failedProbe["level"] != "warn" {
		t.Fatalf("breaker_probe events %v, want a failed transient probe at warn", namedEvents(b.logs.String(), "breaker_probe"))
	}
	given := b.eventWith("retry_given_up", nil)
	if given == nil {
		t.Fatal("no retry_given_up event although the outage ended retries")
	}
	hasFields(t, given, "ts", "exchange", "endpoint", "method", "attempt", "reason", "error_message")
	if r := given["reason"]; r != "breaker" && r != "retry_budget" && r != "budget" {
		t.Fatalf("retry_given_up %v: reason %v, want why (breaker, retry_budget or budget)", given, r)
	}

	// The outage ends: the first order waits for a read that closes the half-open breaker. The
	// probe is whichever read the half-open breaker lets through first: the scheduler's own
	// (server time, a breaker_probe event) or the bot's market poll (its book ticker), which
	// the scheduler admits as the probe just as well; only an order or a cancel may never be
	// it. The log's line order does not prove which went first: the probe's attempt is logged
	// after its result closed the breaker, so the order it let through can be logged before
	// it. The attempts' times do: a read's ts is when its answer came, and an order's ts less
	// its latency is when it was sent.
	mark := len(b.logs.String())
	b.sim.SetFaults(sim.Faults{})
	b.eventually(t, "an order placed after the outage", 15*time.Second, func() bool {
		_, err := p.env.Orders.Place(ctx, buyIntent())
		return err == nil
	})
	var readAnswered, orderSent time.Time
	for _, line := range strings.Split(b.logs.String()[mark:], "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil || ev["event"] != nil || ev["endpoint"] == nil {
			continue // not an attempt
		}
		ts, err := time.Parse(time.RFC3339Nano, ev["ts"].(string))
		if err != nil {
			t.Fatalf("attempt %v: ts: %v", ev, err)
		}
		switch {
		case ev["method"] == "GET" && ev["status"] == 200.0 && (readAnswered.IsZero() || ts.Before(readAnswered)):
			readAnswered = ts
		case ev["method"] == "POST" && ev["endpoint"] == "/api/v3/order":
			sent := ts.Add(-time.Duration(ev["latency_ms"].(float64) * float64(time.Millisecond)))
			if orderSent.IsZero() || sent.Before(orderSent) {
				orderSent = sent
			}
		}
	}
	// ts is written to the millisecond (truncated): a read answered in the millisecond the
	// order was sent in may show up to 1 ms after it.
	if readAnswered.IsZero() || orderSent.IsZero() || readAnswered.After(orderSent.Add(time.Millisecond)) {
		t.Fatalf("after the outage: first read answered at %v, first order sent at %v; want a read answered first:\n%s",
			readAnswered, orderSent, b.logs.String()[mark:])
	}
}

// TestAuthTripCancelsAreBoundedAndSpaced: the key is revoked with three orders resting. The
// placement that meets the refusal trips the kill switch (kill_switch_trip names that
// attempt's request_id and idempotency_key); cancel_on_trip then makes one cancel-all pass
// into the same refusal: each resting order is cancelled at most once, one at a time, at
// least a second apart (a jittered backoff.cancel_probe after each auth failure), and nothing
// more is sent after the pass while auth keeps failing. Each cancel attempt is logged.
func TestAuthTripCancelsAreBoundedAndSpaced(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_KILLSWITCH_CANCEL_ON_TRIP=true", "KEEL_MARKET_STREAMS=false"), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	ctx := context.Background()
	for range 3 {
		if _, err := p.env.Orders.Place(ctx, buyIntent()); err != nil {
			t.Fatal(err)
		}
	}
	cancels := func() int64 { return b.sim.Stats().Endpoints["DELETE /api/v3/order"].Requests }
	if err := b.sim.RevokeKey(sim.DefaultAPIKey); err != nil {
		t.Fatal(err)
	}
	if _, err := p.env.Orders.Place(ctx, buyIntent()); err == nil {
		t.Fatal("a placement with a revoked key succeeded")
	}
	waitHalted(t, b.sw, true)
	b.eventually(t, "the cancel-all pass to end", 20*time.Second, func() bool {
		return strings.Contains(b.logs.String(), "kill switch tripped: cancelling open orders failed")
	})
	pass := cancels()
	p.waitFor(t, "a second of ticks after the pass", ticks(50)) // 50 × market.tick 20 ms
	if n := cancels(); pass != 3 || n != pass {
		t.Fatalf("%d cancels reached the exchange in the pass and %d after it, want 3 (one per resting order) and none", pass, n-pass)
	}

	// Each cancel is logged, spaced by at least a second from the one before.
	var at []time.Time
	for _, line := range strings.Split(b.logs.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil || ev["event"] != nil || ev["method"] != "DELETE" {
			continue
		}
		if ev["failure_class"] != "auth" {
			t.Fatalf("cancel attempt %v, want an auth failure", ev)
		}
		ts, err := time.Parse(time.RFC3339Nano, ev["ts"].(string))
		if err != nil {
			t.Fatal(err)
		}
		at = append(at, ts)
	}
	if len(at) != 3 {
		t.Fatalf("%d cancel attempt events, want 3", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 990*time.Millisecond {
			t.Fatalf("cancels %d and %d %v apart, want at least 1 s (0.5 × backoff.cancel_probe)", i, i+1, gap)
		}
	}

	// The trip names the attempt that caused it. (The simulator sends no X-Mbx-Uuid, so on
	// its Binance dialect both request ids are empty; the idempotency key identifies it.)
	trip := b.eventWith("kill_switch_trip", nil)
	if trip == nil {
		t.Fatal("no kill_switch_trip event")
	}
	hasFields(t, trip, "ts", "bot_instance_id", "exchange", "endpoint", "method", "request_id", "idempotency_key", "reason")
	var cause map[string]any
	for _, line := range strings.Split(b.logs.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == nil && ev["failure_class"] == "auth" && ev["method"] == "POST" {
			cause = ev
			break
		}
	}
	if cause == nil || trip["idempotency_key"] != cause["idempotency_key"] || trip["request_id"] != cause["request_id"] ||
		trip["idempotency_key"] == "" || trip["endpoint"] != "/api/v3/order" || trip["level"] != "error" {
		t.Fatalf("kill_switch_trip %v does not name the refused placement %v", trip, cause)
	}
}

// TestValidationGuardBacksOffWhileTheStrategyInsists: a strategy that places the same refused
// order on every tick (trading disabled on the key: -2010) sends the guard's budget (3), then
// one order each time the local refusal ends, the refusal doubling each time (here 1 s, 2 s,
// then capped at 4 s: a minute scaled down): 5 orders in 3.5 s where a naive loop sends one
// per tick. One tripped warning and one escalation for the whole incident.
func TestValidationGuardBacksOffWhileTheStrategyInsists(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_ORDERS_VALIDATION_GUARD_BACKOFF=1s", "KEEL_ORDERS_VALIDATION_GUARD_MAX_BACKOFF=4s"), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	if err := b.sim.SetTradingDisabled(sim.DefaultAPIKey, true); err != nil {
		t.Fatal(err)
	}
	orders := func() int64 { return b.sim.Stats().Endpoints["POST /api/v3/order"].Requests }
	before := orders()
	tries := 0
	for start := time.Now(); time.Since(start) < 3500*time.Millisecond; tries++ {
		if _, err := p.env.Orders.Place(context.Background(), buyIntent()); err == nil {
			t.Fatal("an order went through with trading disabled")
		}
		p.waitFor(t, "a tick", ticks(1))
	}
	if sent := orders() - before; sent != 5 {
		t.Fatalf("%d of %d tries reached the exchange in 3.5 s, want 5 (3, then one at 1 s and one at 3 s)", sent, tries)
	}
	var tripped, escalated int
	for _, ev := range namedEvents(b.logs.String(), "validation_guard") {
		hasFields(t, ev, "strategy", "symbol", "error_code", "rejections", "until")
		switch ev["state"] {
		case "tripped":
			tripped++
		case "escalated":
			escalated++
		}
	}
	if tripped != 1 || escalated != 1 {
		t.Fatalf("%d tripped and %d escalated events, want one of each for the incident", tripped, escalated)
	}
}
