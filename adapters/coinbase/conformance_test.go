package coinbase_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
)

func harness() adaptertest.Harness {
	return adaptertest.Harness{New: func(t *testing.T) *adaptertest.Env {
		f := newFixture(t, sim.Config{}, fixtureOpts{})
		return &adaptertest.Env{
			Exchange: f.client,
			Symbol:   "BTCUSDT",
			BadKey: func(t *testing.T) adapters.Exchange {
				return newClientOn(t, f.sim, fixtureOpts{cfg: func(c *coinbase.Config) {
					c.APIKey = "organizations/keel-test-org/apiKeys/no-such-key"
				}}).client
			},
			RevokeKey: func(t *testing.T) func() {
				if err := f.sim.RevokeKey(testKey); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := f.sim.RestoreKey(testKey); err != nil {
						t.Error(err)
					}
				}
			},
			SetPrice: func(t *testing.T, symbol string, price decimal.Decimal) {
				if err := f.sim.SetPrice(symbol, price.String()); err != nil {
					t.Fatal(err)
				}
			},
			Usage: f.sched.Usage,
			DisableTrading: func(t *testing.T) func() {
				if err := f.sim.SetTradingDisabled(testKey, true); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := f.sim.SetTradingDisabled(testKey, false); err != nil {
						t.Error(err)
					}
				}
			},
			Inject: func(t *testing.T, fault adaptertest.Fault) func() {
				f.sim.SetFaults(simFault(t, fault))
				return func() { f.sim.SetFaults(sim.Faults{}) }
			},
			Requests: func() (all, placements int64) {
				st := f.sim.Stats()
				return st.Total.Requests, st.Endpoints["POST /api/v3/brokerage/orders"].Requests
			},
			LastingClientIDs: true,
			WantFees: &adapters.TradingFees{Symbol: "BTCUSDT",
				Standard: adapters.CommissionRates{Maker: decimal.RequireFromString("0.001"), Taker: decimal.RequireFromString("0.001")}},
		}
	}}
}

// simFault is the coinbase dialect's way of failing as fault says: a 429 (HTML) with
// Retry-After, a 503 before the request is applied, a 500 after it is, or a connection closed
// after it is.
func simFault(t *testing.T, fault adaptertest.Fault) sim.Faults {
	var f sim.Faults
	switch fault.Kind {
	case adaptertest.FaultRateLimit:
		f = sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, RetryAfterS: int(fault.RetryAfter / time.Second)}
	case adaptertest.FaultServerError:
		f = sim.Faults{ErrorRate: 1}
	case adaptertest.FaultUnknownOutcome:
		f = sim.Faults{UnknownRate: 1}
	case adaptertest.FaultLostAnswer:
		f = sim.Faults{TimeoutRate: 1}
	default:
		t.Fatalf("no simulator fault for %+v", fault)
	}
	if fault.Placements {
		f.Paths, f.Methods = []string{"/api/v3/brokerage/orders"}, []string{http.MethodPost}
	}
	return f
}

// TestConformance runs the adapter conformance suite against the coinbase dialect over real
// HTTP, every hook included.
func TestConformance(t *testing.T) { adaptertest.Run(t, harness()) }
