package bybit_test

import (
	"net/http"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/sim"
)

func harness() adaptertest.Harness {
	return adaptertest.Harness{New: func(t *testing.T) *adaptertest.Env {
		f := newFixture(t, sim.Config{}, fixtureOpts{})
		return adaptertest.Simulator(&adaptertest.Env{
			Exchange: f.client,
			Symbol:   "BTCUSDT",
			BadKey: func(t *testing.T) adapters.Exchange {
				return newClientOn(t, f.sim, fixtureOpts{cfg: func(c *bybit.Config) { c.APIKey = "keel-no-such-key" }}).client
			},
			Usage: f.sched.Usage,
			// The simulator's default: CommissionRate 0.001 as maker and taker.
			WantFees: &adapters.TradingFees{Symbol: "BTCUSDT",
				Standard: adapters.CommissionRates{Maker: decimal.RequireFromString("0.001"), Taker: decimal.RequireFromString("0.001")}},
		}, f.sim, testKey, http.MethodPost, "/v5/order/create")
	}}
}

// TestConformance runs the adapter conformance suite against the bybit dialect over real
// HTTP.
func TestConformance(t *testing.T) { adaptertest.Run(t, harness()) }
