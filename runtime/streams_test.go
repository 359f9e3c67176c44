package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/strategy"
)

// TestStreamsReplacePollingAndSignalStaleness: with market.streams on (the default), quotes
// come from the stream and REST polling of bookTicker stops; a dropped stream makes strategies
// see DataStatus{Stale: true}, then fresh again once the book has resynced.
func TestStreamsReplacePollingAndSignalStaleness(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	polls := func() int64 { return b.sim.Stats().Endpoints["GET /api/v3/ticker/bookTicker"].Requests }

	// Polling stops once the stream is healthy: ten ticks (four poll intervals) without a poll.
	deadline := time.Now().Add(15 * time.Second)
	for {
		before := polls()
		p.waitFor(t, "10 ticks", ticks(10))
		if polls() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("REST polling never stopped: the market stream did not become healthy")
		}
	}
	if st := b.sim.Stats(); st.Streams.Opened != 1 || st.Streams.APIOpened != 1 || st.DepthSnapshots["BTCUSDT"] != 1 {
		t.Fatalf("streams opened %d, api %d, depth snapshots %v", st.Streams.Opened, st.Streams.APIOpened, st.DepthSnapshots)
	}

	// Drop the streams while depth snapshots fail: the stream reconnects but its book cannot
	// resync, so the data stays stale although the REST fallback keeps answering.
	b.sim.SetFaults(sim.Faults{ErrorRate: 1, Paths: []string{"/api/v3/depth"}})
	b.sim.DropStreams()
	p.waitFor(t, "stale after a drop", func(ev strategy.Event) bool {
		ds, ok := ev.(strategy.DataStatus)
		return ok && ds.Symbol == "BTCUSDT" && ds.Stale
	})
	fallback := polls()
	p.waitFor(t, "ticks while the book cannot resync", func(ev strategy.Event) bool {
		if ds, ok := ev.(strategy.DataStatus); ok && !ds.Stale {
			t.Fatal("data declared fresh while the book could not resync")
		}
		return polls() >= fallback+3 // the REST fallback answered meanwhile
	})
	if _, ok := p.env.Market.Quote("BTCUSDT"); ok {
		t.Fatal("Quote reports fresh data while the stream's book is not in sync")
	}
	if _, ok := p.env.Market.Book("BTCUSDT", 5); ok {
		t.Fatal("Book answered while not in sync")
	}
	b.sim.SetFaults(sim.Faults{})
	p.waitFor(t, "fresh after the resync", func(ev strategy.Event) bool {
		ds, ok := ev.(strategy.DataStatus)
		return ok && ds.Symbol == "BTCUSDT" && !ds.Stale
	})
	if _, ok := p.env.Market.Book("BTCUSDT", 5); !ok {
		t.Fatal("fresh, but the book is not in sync")
	}
}

// TestStrategiesGetTradesAndTheStreamedBook: a subscribed strategy receives the symbol's
// public trades as events and can read the depth stream's local book, best first.
func TestStrategiesGetTradesAndTheStreamedBook(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	p.waitFor(t, "a BTCUSDT trade", func(ev strategy.Event) bool {
		tr, ok := ev.(strategy.Trade)
		return ok && tr.Symbol == "BTCUSDT" && tr.Price.IsPositive() && tr.Quantity.IsPositive() && tr.ID > 0
	})
	p.waitFor(t, "a streamed quote", func(ev strategy.Event) bool { _, ok := ev.(strategy.Quote); return ok })
	book, ok := p.env.Market.Book("BTCUSDT", 5)
	if !ok {
		t.Fatal("no book while the stream is healthy")
	}
	if len(book.Bids) == 0 || len(book.Bids) > 5 || len(book.Asks) == 0 || len(book.Asks) > 5 {
		t.Fatalf("book depth: %d bids, %d asks, want 1..5 each", len(book.Bids), len(book.Asks))
	}
	for i := 1; i < len(book.Bids); i++ {
		if !book.Bids[i].Price.LessThan(book.Bids[i-1].Price) {
			t.Fatalf("bids not best first: %v", book.Bids)
		}
	}
	for i := 1; i < len(book.Asks); i++ {
		if !book.Asks[i].Price.GreaterThan(book.Asks[i-1].Price) {
			t.Fatalf("asks not best first: %v", book.Asks)
		}
	}
	if !book.Bids[0].Price.LessThan(book.Asks[0].Price) {
		t.Fatalf("crossed book: bid %s ask %s", book.Bids[0].Price, book.Asks[0].Price)
	}
	if _, ok := p.env.Market.Book("ETHUSDT", 5); ok {
		t.Fatal("a book for a symbol nobody subscribed to")
	}
}

// TestUserStreamAuthFailureTripsTheKillSwitch: the WebSocket API refusing the key (the key
// was revoked; the stream's resubscription after a drop is the first private call to notice)
// halts trading like a REST auth failure, with the exchange's code in the reason.
func TestUserStreamAuthFailureTripsTheKillSwitch(t *testing.T) {
	dir := t.TempDir()
	// No private REST polling during the test: the stream is the only one to notice.
	b := startBot(t, dir, botEnv(dir, "KEEL_PORTFOLIO_REFRESH_INTERVAL=1h"), "probe")
	defer b.app.RequireStop()
	b.eventually(t, "the user data stream's subscription", 10*time.Second, func() bool {
		return b.sim.Stats().Streams.UserSubscriptionsSignature > 0
	})
	if err := b.sim.RevokeKey(sim.DefaultAPIKey); err != nil {
		t.Fatal(err)
	}
	b.sim.DropStreams()
	waitHalted(t, b.sw, true)
	if _, r := b.sw.Halted(); r.Who != "auto" || !strings.Contains(r.Why, "user data stream") || !strings.Contains(r.Why, "-2015") {
		t.Fatalf("kill-switch reason %+v", r)
	}
}

// TestLateSubscriptionJoinsTheStream: a symbol subscribed after start-up is followed by the
// market stream too (one restart of the combined stream, one snapshot for the new symbol), not
// polled over REST for good.
func TestLateSubscriptionJoinsTheStream(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	untilBook := func(symbol string) {
		t.Helper()
		b.eventually(t, "a streamed book for "+symbol, 10*time.Second, func() bool {
			_, ok := p.env.Market.Book(symbol, 1)
			return ok
		})
	}
	untilBook("BTCUSDT")
	opened := b.sim.Stats().Streams.Opened
	p.env.Market.Subscribe("ETHUSDT")
	untilBook("ETHUSDT")
	st := b.sim.Stats()
	if st.Streams.Opened != opened+1 || st.DepthSnapshots["ETHUSDT"] != 1 {
		t.Fatalf("streams opened %d → %d, ETHUSDT snapshots %d; want one restart and one snapshot",
			opened, st.Streams.Opened, st.DepthSnapshots["ETHUSDT"])
	}
}

// TestBotRidesOutADropStorm: the simulator drops every connection (market and user streams)
// every 500 ms until the market stream has been dropped ten times. The bot reconnects every stream, its
// resync costs at most one depth snapshot per symbol per market-stream connection and one
// order query per order in flight per user-stream reconnect, the connection limit is never
// hit, there is no 429, and every book ends fresh.
func TestBotRidesOutADropStorm(t *testing.T) {
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_PORTFOLIO_REFRESH_INTERVAL=1h"), "probe")
	defer b.app.RequireStop()
	p := b.probes["probe"]
	symbols := []string{"BTCUSDT", "ETHUSDT", "DOGEUSDT"}
	p.env.Market.Subscribe(symbols...)
	allBooks := func(what string) {
		t.Helper()
		b.eventually(t, what+": every book in sync", 20*time.Second, func() bool {
			for _, s := range symbols {
				if _, ok := p.env.Market.Book(s, 1); !ok {
					return false
				}
			}
			return true
		})
	}
	allBooks("start")
	inFlight := 2
	for range inFlight {
		if _, err := p.env.Orders.Place(context.Background(), buyIntent()); err != nil {
			t.Fatal(err)
		}
	}
	// Prices move every 20 ms, so each connection delivers updates before the next drop and
	// resets its backoff, as a live market would; the simulator's own walk (1 s) would leave
	// most 500 ms connections silent, and silent connections back off exponentially.
	stopMoving := make(chan struct{})
	var moving sync.WaitGroup
	moving.Go(func() {
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopMoving:
				return
			case <-tk.C:
			}
			_ = b.sim.SetPrice("BTCUSDT", fmt.Sprintf("%.2f", 65000+0.01*float64(i%7)))
			_ = b.sim.SetPrice("ETHUSDT", fmt.Sprintf("%.2f", 3200+0.01*float64(i%7)))
			_ = b.sim.SetPrice("DOGEUSDT", fmt.Sprintf("%.5f", 0.15+0.00001*float64(i%7)))
		}
	})
	defer func() { close(stopMoving); moving.Wait() }()
	before := b.sim.Stats()
	b.sim.SetStreamFaults(sim.StreamFaults{DropEveryMS: 500})
	// Ten drops of the market stream (it reconnects after each); the user stream, silent
	// between drops, backs off exponentially and reconnects less often, as it should.
	b.eventually(t, "ten market-stream reconnects", 20*time.Second, func() bool {
		return b.sim.Stats().Streams.Opened-before.Streams.Opened >= 10
	})
	b.sim.SetStreamFaults(sim.StreamFaults{})
	allBooks("after the storm")

	after := b.sim.Stats()
	marketConnects := after.Streams.Opened - before.Streams.Opened
	userConnects := after.Streams.APIOpened - before.Streams.APIOpened
	if marketConnects < 10 || userConnects < 2 {
		t.Fatalf("reconnects: market %d, user %d", marketConnects, userConnects)
	}
	// One snapshot per symbol per connection; Binance's procedure re-asks when a snapshot
	// arrives older than the diffs buffered meanwhile, which a loaded machine sees now and then
	// (adapters/binance counts those exactly): allow a fifth on top, far from a storm.
	for _, s := range symbols {
		if n := after.DepthSnapshots[s] - before.DepthSnapshots[s]; n > marketConnects+marketConnects/5 {
			t.Errorf("%s: %d depth snapshots for %d market-stream connections", s, n, marketConnects)
		}
	}
	queries := after.Endpoints["GET /api/v3/order"].Requests - before.Endpoints["GET /api/v3/order"].Requests
	if queries > int64(inFlight)*userConnects {
		t.Errorf("%d order queries for %d orders in flight over %d user-stream reconnects", queries, inFlight, userConnects)
	}
	if after.Streams.Refused != 0 || after.Total.Status429 != 0 || after.Total.Status418 != 0 {
		t.Errorf("refused %d, 429s %d, 418s %d", after.Streams.Refused, after.Total.Status429, after.Total.Status418)
	}
	t.Logf("market connects %d, user connects %d, order queries %d, snapshots %v", marketConnects, userConnects, queries, after.DepthSnapshots)
}

// TestFleetCountsStreamConnectionsTogether: in fleet mode the bot's WebSocket connection
// attempts are taken from the fleet's window in Redis (the exchange counts them per IP), not
// from a window of its own.
func TestFleetCountsStreamConnectionsTogether(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	dir := t.TempDir()
	b := startBot(t, dir, botEnv(dir, "KEEL_STORE_URL=redis://"+fleettest.Addr+"/0", "KEEL_STORE_PREFIX="+prefix), "probe")
	defer b.app.RequireStop()
	key := prefix + "attempts:ws_connections"
	// The market stream and the user stream, each counted in the fleet's window.
	b.eventually(t, "every connection counted in the fleet's window", 10*time.Second, func() bool {
		n, err := rdb.ZCard(context.Background(), key).Result()
		opened := b.sim.Stats().Streams
		return err == nil && n >= 2 && n >= opened.Opened+opened.APIOpened
	})
}
