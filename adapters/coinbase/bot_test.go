package coinbase_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// quoteProbe is a strategy that follows BTCUSDT and hands its quotes to the test.
type quoteProbe struct {
	env    strategy.Env
	quotes chan strategy.Quote
}

func (p *quoteProbe) OnEvent(_ context.Context, ev strategy.Event) error {
	if q, ok := ev.(strategy.Quote); ok {
		select {
		case p.quotes <- q:
		default:
		}
	}
	return nil
}

// TestBotFollowsCoinbaseStreams runs Keel on the coinbase dialect, chosen by configuration
// alone: a strategy's quotes come from the level2 stream (REST polling of the book stops once
// the stream is healthy) and its streamed book is readable; revoking the key, noticed when
// the dropped user stream subscribes again, halts trading.
func TestBotFollowsCoinbaseStreams(t *testing.T) {
	dir := t.TempDir()
	var logs syncbuf.Buffer
	var ex adapters.Exchange
	var sw *killswitch.Switch
	p := &quoteProbe{quotes: make(chan strategy.Quote, 64)}
	started := make(chan struct{})
	app := fxtest.New(t, runtime.Module, fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		strategy.Module("probe", func(env strategy.Env, _ struct{}) (strategy.Strategy, error) {
			p.env = env
			env.Market.Subscribe("BTCUSDT")
			close(started)
			return p, nil
		}),
		runtime.WithLoadOptions(runtime.LoadOptions{Environ: []string{
			"KEEL_EXCHANGE_DIALECT=coinbase",
			"KEEL_EXCHANGE_TIME_SCALE=20", // a livelier walk: quotes every 50 ms
			"KEEL_JOURNAL_PATH=" + filepath.Join(dir, "journal.db"),
			"KEEL_KILLSWITCH_FILE=" + filepath.Join(dir, "KILLSWITCH"),
			"KEEL_ADMIN_LISTEN=127.0.0.1:0",
			"KEEL_MARKET_TICK=20ms",
			"KEEL_MARKET_POLL_INTERVAL=50ms",
			"KEEL_LOG_FORMAT=json",
			"KEEL_PORTFOLIO_REFRESH_INTERVAL=1h", // no private polling: the stream notices the key
			"KEEL_SHUTDOWN_CANCEL_OPEN_ORDERS=false",
		}}),
		runtime.WithLogOutput(&logs),
		fx.Populate(&ex, &sw),
	)
	app.RequireStart()
	defer app.RequireStop()
	srv := ex.(interface{ Server() *sim.Server }).Server()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatalf("the strategy did not start; logs:\n%s", logs.String())
	}
	polls := func() int64 { return srv.Stats().Endpoints["GET /api/v3/brokerage/market/product_book"].Requests }
	quote := func() strategy.Quote {
		t.Helper()
		select {
		case q := <-p.quotes:
			return q
		case <-time.After(20 * time.Second):
			t.Fatalf("no quote; logs:\n%s", logs.String())
		}
		return strategy.Quote{}
	}
	// Polling stops once the stream is healthy: twenty quotes without a poll.
	deadline := time.Now().Add(20 * time.Second)
	for {
		before := polls()
		for range 20 {
			quote()
		}
		if polls() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("REST polling of the book never stopped: the level2 stream did not become healthy")
		}
	}
	if q := quote(); !q.Valid() {
		t.Fatalf("a streamed quote that is not valid: %+v", q)
	}
	if book, ok := p.env.Market.Book("BTCUSDT", 5); !ok || len(book.Bids) == 0 || len(book.Asks) == 0 {
		t.Fatalf("no streamed book: %+v %v", book, ok)
	}
	if st := srv.Stats().Streams; st.Opened < 2 {
		t.Fatalf("stream connections opened: %d, want the market's and the user's", st.Opened)
	}

	if err := srv.RevokeKey(sim.DefaultAPIKey); err != nil {
		t.Fatal(err)
	}
	srv.DropStreams()
	for halted := false; !halted; {
		halted, _ = sw.Halted()
		if !halted {
			select {
			case <-time.After(20 * time.Millisecond): // a bounded look at the switch
			case <-time.After(time.Until(deadline.Add(20 * time.Second))):
				t.Fatalf("a revoked key did not halt trading; logs:\n%s", logs.String())
			}
		}
	}
	_, r := sw.Halted()
	t.Logf("halted: %s", r.Why)
	if r.Who != "auto" || !strings.Contains(r.Why, "user data stream") {
		t.Fatalf("kill-switch reason %+v", r)
	}
}
