package binance_test

import (
	"net/http"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
)

func harness(ed bool) adaptertest.Harness {
	return adaptertest.Harness{New: func(t *testing.T) *adaptertest.Env {
		f := newFixture(t, sim.Config{}, fixtureOpts{ed25519: ed})
		key := hmacKey
		if ed {
			key = edKey
		}
		return adaptertest.Simulator(&adaptertest.Env{
			Exchange: f.client,
			Symbol:   "BTCUSDT",
			BadKey: func(t *testing.T) adapters.Exchange {
				return newClientOn(t, f.sim, fixtureOpts{cfg: func(c *binance.Config) {
					c.APIKey = "keel-no-such-key"
				}}).client
			},
			Usage: f.sched.Usage,
			// The simulator's default: CommissionRate 0.001 as maker and taker, nothing else.
			WantFees: &adapters.TradingFees{Symbol: "BTCUSDT",
				Standard: adapters.CommissionRates{Maker: decimal.RequireFromString("0.001"), Taker: decimal.RequireFromString("0.001")},
				Discount: adapters.FeeDiscount{Asset: "BNB", Rate: decimal.RequireFromString("0.75")}},
		}, f.sim, key, http.MethodPost, "/api/v3/order")
	}}
}

// TestConformance runs the adapter conformance suite against the simulator over real HTTP,
// once with an HMAC key and once with an Ed25519 key.
func TestConformance(t *testing.T) {
	t.Run("HMAC", func(t *testing.T) { adaptertest.Run(t, harness(false)) })
	t.Run("Ed25519", func(t *testing.T) { adaptertest.Run(t, harness(true)) })
}
