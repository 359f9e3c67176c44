package kraken_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// The abuse model: the same load — 16 goroutines reading balances — from a naive client
// that resends a refused request at once, as it was signed, gets the IP locked out (the
// resent nonce is no longer above the last accepted one, and invalid nonces count toward a
// temporary lockout), while the adapter through the scheduler is never locked out and draws
// at most a handful of rate-limit answers. The simulator runs 300 times faster.
const (
	abuseWorkers  = 16
	abuseRequests = 4 // per worker
	abuseScale    = 300
)

func abuseSim(t *testing.T) *sim.Server {
	return startSim(t, func(c *sim.Config) { c.TimeScale = abuseScale })
}

func TestAbuseNaiveClientIsLockedOut(t *testing.T) {
	s := abuseSim(t)
	n := newNaive(t, s, testKey)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for range abuseWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range abuseRequests {
				body, sig := n.body("/0/private/Balance", nil, n.nonce.Add(1))
				for try := 1; try <= 3; try++ {
					e := n.send("/0/private/Balance", body, sig)
					mu.Lock()
					answers[strings.SplitN(e, ":", 3)[0]+":"+strings.SplitN(e+":", ":", 3)[1]]++
					mu.Unlock()
					if e == "" || e == "EGeneral:Temporary lockout" {
						break
					}
					// Refused: resend the same request at once.
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("naive client: %d requests, %d rate-limited, %d auth failures, %d lockouts; answers %v",
		st.Total.Requests, st.Total.Status429, st.Total.AuthFailures, st.Total.Bans, answers)
	if st.Total.Bans == 0 || answers["EGeneral:Temporary lockout"] == 0 {
		t.Fatalf("the naive client was not locked out: %+v", st.Total)
	}
}

func TestAbuseAdapterThroughSchedulerIsNotLockedOut(t *testing.T) {
	s := abuseSim(t)
	f := newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.TimeScale = abuseScale }})
	ctx := testCtx(t)
	if _, err := f.client.ExchangeInfo(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, shed := 0, 0
	for range abuseWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range abuseRequests {
				_, err := f.client.Balances(ctx)
				mu.Lock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, scheduler.ErrShed):
					shed++
				default:
					t.Errorf("balances: %v", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("adapter: %d ok, %d shed; exchange saw %d requests, %d rate-limited, %d auth failures, %d lockouts",
		ok, shed, st.Total.Requests, st.Total.Status429, st.Total.AuthFailures, st.Total.Bans)
	if st.Total.Bans != 0 || st.Total.AuthFailures != 0 {
		t.Fatalf("the adapter was locked out or failed authentication: %+v", st.Total)
	}
	if st.Total.Status429 > 3 {
		t.Fatalf("the adapter drew %d rate-limit answers, want at most a handful", st.Total.Status429)
	}
	if ok == 0 {
		t.Fatal("no request succeeded")
	}
}
