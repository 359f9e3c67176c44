package certify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
)

// naive is the client Keel exists to replace, speaking Binance's dialect: it retries a failed
// request at once and forever, runs as many requests at a time as it has workers, and signs
// with its host's clock, never the exchange's.
type naive struct {
	base           string
	hc             *http.Client
	first, retries atomic.Int64
}

// naiveWorkers is its concurrency: no cap but the number of loops its author started.
const naiveWorkers = 8

// naiveRoundTrip is the round trip to an exchange that paces its immediate retries.
const naiveRoundTrip = time.Millisecond

// naivePace is its poll interval between successful requests.
const naivePace = 20 * time.Millisecond

type naiveWorkload func(ctx context.Context, n *naive)

func newNaive(base string) *naive {
	return &naive{base: base, hc: &http.Client{Timeout: 2 * time.Second}}
}

// until sends the request until it succeeds or ctx ends, with no pause between tries.
func (n *naive) until(ctx context.Context, method, path string, q url.Values, signed bool) {
	for try := 0; ctx.Err() == nil; try++ {
		if try == 0 {
			n.first.Add(1)
		} else {
			n.retries.Add(1)
		}
		if n.send(ctx, method, path, q, signed) {
			return
		}
		// Retried at once: the next try leaves as the refusal arrives, one internet round
		// trip after the last one (loopback has none; without it the naive client would only
		// measure how fast this machine can refuse it).
		clock.Sleep(ctx, clock.Real{}, naiveRoundTrip)
	}
}

func (n *naive) send(ctx context.Context, method, path string, q url.Values, signed bool) bool {
	v := url.Values{}
	for k, vs := range q {
		v[k] = vs
	}
	raw := v.Encode()
	if signed {
		v.Set("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
		raw = v.Encode()
		mac := hmac.New(sha256.New, []byte(sim.DefaultAPISecret))
		mac.Write([]byte(raw))
		raw += "&signature=" + hex.EncodeToString(mac.Sum(nil))
	}
	req, err := http.NewRequestWithContext(ctx, method, n.base+path+"?"+raw, nil)
	if err != nil {
		return false
	}
	req.Header.Set("X-MBX-APIKEY", sim.DefaultAPIKey)
	resp, err := n.hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode < 400
}

// loop runs f on every worker, naivePace apart, until ctx ends.
func (n *naive) loop(ctx context.Context, f func()) {
	var wg sync.WaitGroup
	for range naiveWorkers {
		wg.Go(func() {
			for ctx.Err() == nil {
				f()
				clock.Sleep(ctx, clock.Real{}, naivePace)
			}
		})
	}
	wg.Wait()
}

// naiveReads polls the book and the account.
func naiveReads(ctx context.Context, n *naive) {
	n.loop(ctx, func() {
		n.until(ctx, http.MethodGet, "/api/v3/depth", url.Values{"symbol": {"BTCUSDT"}, "limit": {"100"}}, false)
		n.until(ctx, http.MethodGet, "/api/v3/account", nil, true)
	})
}

// naiveSigned reads the account, signed with the host's clock.
func naiveSigned(ctx context.Context, n *naive) {
	n.loop(ctx, func() { n.until(ctx, http.MethodGet, "/api/v3/account", nil, true) })
}

// naiveOrders places an order, and places it again when it is refused.
func naiveOrders(ctx context.Context, n *naive) {
	n.loop(ctx, func() {
		n.until(ctx, http.MethodPost, "/api/v3/order", url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"},
			"type": {"LIMIT"}, "timeInForce": {"GTC"}, "quantity": {"0.001"}, "price": {"1000.00"}}, true)
	})
}

// naiveHeavy polls the deepest book (weight 250), as a client with no notion of weight would.
func naiveHeavy(ctx context.Context, n *naive) {
	n.loop(ctx, func() {
		n.until(ctx, http.MethodGet, "/api/v3/depth", url.Values{"symbol": {"BTCUSDT"}, "limit": {"5000"}}, false)
	})
}
