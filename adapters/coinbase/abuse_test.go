package coinbase_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

const naiveKey = "organizations/naive/apiKeys/naive"
const naiveSecret = "naive-secret"

// naiveJWT is what a naive client signs: Ed25519 over the docs' claims, with the local clock.
func naiveJWT(uri string) string {
	seed := sha256.Sum256([]byte(naiveSecret)) // the simulator's key for a secret that is not one
	k := ed25519.NewKeyFromSeed(seed[:])
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": naiveKey, "nonce": fmt.Sprint(time.Now().UnixNano()), "typ": "JWT"})
	now := time.Now().Unix()
	c, _ := json.Marshal(map[string]any{"sub": naiveKey, "iss": "cdp", "nbf": now, "exp": now + 120, "uri": uri})
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(k, []byte(in)))
}

func naiveGet(t *testing.T, base, path, uri string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+naiveJWT(uri))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestAbuse: a naive client (a plain HTTP loop, no scheduler, retrying at once) collects 429s
// past 30/s and, retrying a refused JWT, the modelled lockout; the adapter through a real
// scheduler, doing the same reads for the same second from the same IP, gets neither.
func TestAbuse(t *testing.T) {
	s := startSim(t, sim.Config{Accounts: []sim.Account{{APIKey: testKey, HMACSecret: testPEM}, {APIKey: naiveKey, HMACSecret: naiveSecret}}})
	defer http.DefaultClient.CloseIdleConnections()
	u, _ := url.Parse(s.URL())
	path := "/api/v3/brokerage/accounts"
	good := "GET " + u.Host + path

	limited := 0
	for range 60 {
		if naiveGet(t, s.URL(), path, good) == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("60 requests at once: no 429")
	}
	// A JWT signed for the wrong host is refused; the naive client retries it anyway.
	for range 12 {
		naiveGet(t, s.URL(), path, "GET api.coinbase.com"+path)
	}
	if !s.CoinbaseLockedOut(naiveKey) {
		t.Fatal("12 refused JWTs in a row: no lockout")
	}
	if code := naiveGet(t, s.URL(), path, good); code != http.StatusUnauthorized {
		t.Fatalf("a good JWT during the lockout: %d, want 401", code)
	}
	t.Logf("naive client: %d of 60 answered 429, then locked out", limited)

	before := s.Stats().Total.Status429
	f := newClientOn(t, s, fixtureOpts{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	served := 0
	deadline := time.Now().Add(time.Second)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := f.client.Balances(ctx); err != nil && scheduler.ClassOf(err) != scheduler.ClassNone {
					if scheduler.ClassOf(err) == scheduler.ClassRateLimit {
						t.Errorf("adapter: %v", err)
					}
					continue
				}
				mu.Lock()
				served++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if got := s.Stats().Total.Status429 - before; got != 0 {
		t.Fatalf("the adapter through the scheduler collected %d 429s", got)
	}
	if s.CoinbaseLockedOut(testKey) {
		t.Fatal("the adapter's key was locked out")
	}
	t.Logf("adapter: %d reads served in 1s, 0 429s", served)
}

// TestResignOnce: a 401 is re-signed once; a second 401 is an auth failure.
func TestResignOnce(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	if _, err := f.client.Balances(ctx); err != nil {
		t.Fatal(err)
	}
	f.sim.SetFaults(sim.Faults{AuthErrorRate: 1, Paths: []string{"/api/v3/brokerage/accounts"}})
	before := f.sim.Stats().Total.AuthFailures
	_, err := f.client.Balances(ctx)
	if scheduler.ClassOf(err) != scheduler.ClassAuth {
		t.Fatalf("got %v, want auth", err)
	}
	if n := f.sim.Stats().Total.AuthFailures - before; n != 2 {
		t.Fatalf("%d 401s for one call, want 2 (the request and one re-sign)", n)
	}
}
