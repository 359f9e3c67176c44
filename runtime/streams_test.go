package runtime_test

import (
	"testing"
	"time"

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

	b.sim.DropStreams()
	p.waitFor(t, "stale after a drop", func(ev strategy.Event) bool {
		ds, ok := ev.(strategy.DataStatus)
		return ok && ds.Symbol == "BTCUSDT" && ds.Stale
	})
	p.waitFor(t, "fresh after the resync", func(ev strategy.Event) bool {
		ds, ok := ev.(strategy.DataStatus)
		return ok && ds.Symbol == "BTCUSDT" && !ds.Stale
	})
}
