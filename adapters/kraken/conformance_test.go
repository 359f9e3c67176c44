package kraken_test

import (
	"net/http"
	"testing"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/kraken"
)

// TestConformance runs the adapter conformance suite against the simulator's Kraken dialect
// over real HTTP. Kraken reports no usage counters with its answers (UsageFeedback skips) and
// has no endpoint for the account's standing (AccountReader's Account), so the subtests that
// need them skip.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{New: func(t *testing.T) *adaptertest.Env {
		s := startSim(t, nil)
		f := newFixture(t, s, fixtureOpts{})
		return adaptertest.Simulator(&adaptertest.Env{
			Exchange: f.client,
			Symbol:   "BTCUSDT",
			BadKey: func(t *testing.T) adapters.Exchange {
				return newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.APIKey = "keel-no-such-key" }}).client
			},
		}, s, testKey, http.MethodPost, "/0/private/AddOrder")
	}})
}
