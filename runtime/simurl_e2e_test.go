package runtime_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// TestBotsShareARunningSimulator: `exchange.url` points `exchange.name: sim` at a simulator
// already running (as `keel sim` serves one) instead of starting one, so several bots trade
// against one exchange: both bots' orders rest on that simulator, under one IP's limits.
func TestBotsShareARunningSimulator(t *testing.T) {
	srv, err := sim.New(sim.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, id := range []string{"a", "b"} {
		b := startBot(t, t.TempDir(), botEnv(t.TempDir(), "KEEL_EXCHANGE_URL="+srv.URL(), "KEEL_BOT_INSTANCE_ID="+id), "p")
		defer b.app.RequireStop()
		if b.sim != nil {
			t.Fatal("the bot started a simulator of its own")
		}
		if _, err := b.probes["p"].env.Orders.Place(ctx, buyIntent()); err != nil {
			t.Fatalf("bot %s: %v", id, err)
		}
	}
	if n := len(srv.Orders()); n != 2 {
		t.Fatalf("%d orders on the shared simulator, want one per bot", n)
	}
}

// TestSimulatorURLIsValidated: a URL that is not a REST root is refused naming the key.
func TestSimulatorURLIsValidated(t *testing.T) {
	err := startUpError(t, "", []string{"KEEL_EXCHANGE_URL=ftp://127.0.0.1:1/x"})
	if err == nil || !strings.Contains(err.Error(), "exchange.url") {
		t.Fatalf("got %v, want an error naming exchange.url", err)
	}
}
