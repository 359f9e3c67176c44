package sim_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/keelbot/keel/adapters/sim"
)

// serve runs one request in process and returns the status.
func serve(s *sim.Server, method, target, body string, hdr map[string]string) int {
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "http://sim"+target, rd)
	req.RemoteAddr = "127.0.0.1:1"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec.Code
}

var hostileTargets = []string{
	"/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1e400&price=NaN&timestamp=1",
	"/api/v3/order?symbol=" + strings.Repeat("A", 5000),
	"/api/v3/depth?symbol=BTCUSDT&limit=99999999999999999999999",
	"/api/v3/depth?symbol=BTCUSDT&limit=-1",
	"/api/v3/ticker/price?symbols=[[[[",
	"/api/v3/ticker/price?symbols=[\"BTCUSDT\",\"BTCUSDT\"]",
	"/api/v3/account?timestamp=99999999999999999999&signature=zz",
	"/api/v3/account?timestamp=1&recvWindow=0.0001&signature=zz",
	"/api/v3/account?timestamp=1&recvWindow=-5&signature=zz",
	"/api/v3/order?%%%=1",
	"/api/v3/order?symbol=BTCUSDT&orderId=9223372036854775808",
	"/api/v3/myTrades?symbol=BTCUSDT&limit=100000000000",
	"/api/v3/exchangeInfo?symbols=%5B%5D",
}

func TestHostileParametersNeverPanic(t *testing.T) {
	s, err := sim.New(sim.Config{Seed: 1, APIKey: testKey, APISecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range hostileTargets {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			code := serve(s, m, target, "quantity=\x00&price=1.2.3", map[string]string{"X-MBX-APIKEY": testKey})
			if code >= 500 || code < 400 {
				t.Errorf("%s %s: %d", m, target, code)
			}
		}
	}
}

// FuzzRequest throws arbitrary query strings and bodies at the signed and public endpoints:
// every answer is a 4xx or 2xx, never a panic or a 5xx.
func FuzzRequest(f *testing.F) {
	for _, t := range hostileTargets {
		f.Add(t, "a=b")
	}
	f.Add("/api/v3/order?symbol=BTCUSDT&side=SELL&type=MARKET&quoteOrderQty=10", "timestamp=1&signature=00")
	s, err := sim.New(sim.Config{Seed: 1, APIKey: testKey, APISecret: testSecret,
		Limits: sim.Limits{RequestWeight: 1 << 40, RawRequests: 1 << 40}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n#") || strings.HasPrefix(target, "/sim/") {
			return
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return // not a request line any client could send
		}
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			if code := serve(s, m, target, body, map[string]string{"X-MBX-APIKEY": testKey}); code >= 500 {
				t.Fatalf("%s %s [%q]: %d", m, target, body, code)
			}
		}
	})
}

// A naive client (16 goroutines, retrying each 429 at once, 3 tries) is banned; the clock does
// not move, so every retry lands inside the Retry-After it was given.
func TestNaiveClientIsBanned(t *testing.T) {
	h := newHarness(t, func(c *sim.Config) { c.Limits.RequestWeight = 100 })
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				for try := 0; try < 3; try++ {
					r, err := h.client.Get(h.base + "/api/v3/depth?symbol=BTCUSDT")
					if err != nil {
						t.Error(err)
						return
					}
					r.Body.Close()
					mu.Lock()
					statuses[r.StatusCode]++
					mu.Unlock()
					if r.StatusCode != http.StatusTooManyRequests {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	if statuses[http.StatusTeapot] == 0 || h.s.Stats().Total.Bans == 0 {
		t.Fatalf("naive client not banned: %v", statuses)
	}
}
