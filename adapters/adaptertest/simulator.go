package adaptertest

import (
	"net/http"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters/sim"
)

// Simulator fills env's hooks that drive Keel's simulated exchange (adapters/sim), whatever
// dialect it speaks: RevokeKey, DisableTrading (for the account of key), SetPrice, Inject
// (each Fault as the dialect answers it: its rate-limit signal, a 5xx before the request is
// applied, an unknown outcome after, a connection closed after) and Requests (all, and the
// order placements, METHOD path as the simulator's stats name them). It returns env.
func Simulator(env *Env, s *sim.Server, key, placementMethod, placementPath string) *Env {
	env.RevokeKey = func(t *testing.T) func() {
		if err := s.RevokeKey(key); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := s.RestoreKey(key); err != nil {
				t.Error(err)
			}
		}
	}
	env.DisableTrading = func(t *testing.T) func() {
		if err := s.SetTradingDisabled(key, true); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := s.SetTradingDisabled(key, false); err != nil {
				t.Error(err)
			}
		}
	}
	env.SetPrice = func(t *testing.T, symbol string, price decimal.Decimal) {
		if err := s.SetPrice(symbol, price.String()); err != nil {
			t.Fatal(err)
		}
	}
	env.Inject = func(t *testing.T, fault Fault) func() {
		s.SetFaults(simFault(t, fault, placementMethod, placementPath))
		return func() { s.SetFaults(sim.Faults{}) }
	}
	env.Requests = func() (all, placements int64) {
		st := s.Stats()
		return st.Total.Requests, st.Endpoints[placementMethod+" "+placementPath].Requests
	}
	return env
}

// simFault is the simulator's fault for f; each dialect renders it in its exchange's terms.
func simFault(t *testing.T, f Fault, method, path string) sim.Faults {
	var out sim.Faults
	switch f.Kind {
	case FaultRateLimit:
		out = sim.Faults{ErrorRate: 1, ErrorStatus: http.StatusTooManyRequests, RetryAfterS: int(f.RetryAfter / time.Second)}
	case FaultServerError:
		out = sim.Faults{ErrorRate: 1}
	case FaultUnknownOutcome:
		out = sim.Faults{UnknownRate: 1}
	case FaultLostAnswer:
		out = sim.Faults{TimeoutRate: 1}
	default:
		t.Fatalf("adaptertest: no simulator fault for %+v", f)
	}
	if f.Placements {
		out.Paths, out.Methods = []string{path}, []string{method}
	}
	return out
}
