package runtime_test

import (
	"math"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
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
