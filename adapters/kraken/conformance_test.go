package kraken_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/adaptertest"
	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/adapters/sim"
)

// TestConformance runs the adapter conformance suite against the simulator's Kraken dialect
// over real HTTP. Kraken reports no usage counters with its answers (UsageFeedback skips) and
// has no endpoint for the account's standing (AccountReader's Account), so the subtests that
// need them skip.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Harness{New: func(t *testing.T) *adaptertest.Env {
		s := startSim(t, nil)
		f := newFixture(t, s, fixtureOpts{})
		return &adaptertest.Env{
			Exchange: f.client,
			Symbol:   "BTCUSDT",
			BadKey: func(t *testing.T) adapters.Exchange {
				return newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.APIKey = "keel-no-such-key" }}).client
			},
			RevokeKey: func(t *testing.T) func() {
				if err := s.RevokeKey(testKey); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := s.RestoreKey(testKey); err != nil {
						t.Error(err)
					}
				}
			},
			SetPrice: func(t *testing.T, symbol string, price decimal.Decimal) {
				if err := s.SetPrice(symbol, price.String()); err != nil {
					t.Fatal(err)
				}
			},
			DisableTrading: func(t *testing.T) func() {
				if err := s.SetTradingDisabled(testKey, true); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := s.SetTradingDisabled(testKey, false); err != nil {
						t.Error(err)
					}
				}
			},
			Inject: func(t *testing.T, fault adaptertest.Fault) func() {
				s.SetFaults(simFault(t, fault))
				return func() { s.SetFaults(sim.Faults{}) }
			},
			Requests: func() (all, placements int64) {
				st := s.Stats()
				return st.Total.Requests, st.Endpoints["POST /0/private/AddOrder"].Requests
			},
		}
	}})
}

// simFault is the simulator's way of failing as fault says, in Kraken's terms:
// EService:Throttled until a time, a 503 before the request is applied, EGeneral:Internal
// error after it is, or a connection closed after it is.
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
		f.Paths = []string{"/0/private/AddOrder"}
	}
	return f
}
