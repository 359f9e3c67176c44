package coinbase_test

import (
	"context"
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

	"golang.org/x/time/rate"

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

// TestSharedIP: public endpoints are limited per IP (10/s), so every client behind the bot's
// address shares them. Beside a polite bystander on the same IP (2.5 public reads a second),
// the adapter reading tickers from 8 goroutines through its scheduler collects no 429; a
// static token bucket at exactly the documented 10/s, on the same load beside the same
// bystander in the same run, collects them.
func TestSharedIP(t *testing.T) {
	if testing.Short() {
		t.Skip("two 2 s phases")
	}
	for _, mode := range []string{"scheduler", "token_bucket_10"} {
		t.Run(mode, func(t *testing.T) {
			s := startSim(t, sim.Config{})
			var f *fixture
			if mode == "scheduler" {
				f = newClientOn(t, s, fixtureOpts{})
			} else {
				f = newClientOn(t, s, fixtureOpts{schedCfg: func(c *scheduler.Config) {
					for i := range c.Windows {
						c.Windows[i].Limit = 1_000_000 // the bucket alone paces
					}
				}})
			}
			ctx := testCtx(t)
			if _, err := f.client.Ticker(ctx, "BTCUSDT"); err != nil { // products listed
				t.Fatal(err)
			}
			time.Sleep(time.Second) // the listing's requests leave the per-IP window (the test's pacing)
			lim := rate.NewLimiter(10, 1)
			before := s.Stats().Total.Status429
			end := time.Now().Add(2 * time.Second)
			var wg sync.WaitGroup
			var mu sync.Mutex
			served, bystander429 := 0, 0
			wg.Add(1)
			go func() { // the bystander: a plain HTTP client reading a product every 400 ms
				defer wg.Done()
				tk := time.NewTicker(400 * time.Millisecond)
				defer tk.Stop()
				for time.Now().Before(end) {
					<-tk.C
					resp, err := http.Get(s.URL() + "/api/v3/brokerage/market/products/BTC-USDT")
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests {
						mu.Lock()
						bystander429++
						mu.Unlock()
					}
				}
			}()
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(end) {
						if mode != "scheduler" {
							wctx, cancel := context.WithDeadline(ctx, end)
							err := lim.Wait(wctx)
							cancel()
							if err != nil {
								return
							}
						}
						rctx, cancel := context.WithDeadline(ctx, end)
						_, err := f.client.Ticker(rctx, "BTCUSDT")
						cancel()
						if err == nil {
							mu.Lock()
							served++
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			http.DefaultClient.CloseIdleConnections()
			got := s.Stats().Total.Status429 - before
			t.Logf("%s: %d tickers served in 2 s beside the bystander; 429s: %d (the bystander's %d)", mode, served, got, bystander429)
			switch {
			case mode == "scheduler" && got != 0:
				t.Fatalf("the adapter through the scheduler collected %d 429s on a shared IP", got-int64(bystander429))
			case mode != "scheduler" && got == 0:
				t.Fatal("the static 10/s bucket beside a bystander collected no 429: the test proves nothing")
			case served == 0:
				t.Fatal("nothing served")
			}
		})
	}
}
