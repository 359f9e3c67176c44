package coinbase_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/scheduler"
)

// TestAcceptedThenFailedIsARateLimitSignal: Coinbase accepts a create (success:true) and the
// order ends FAILED with reject_reason RATE_LIMIT_EXCEEDED. The read-back after the create
// finds it so, PlaceOrder fails with a rate-limit error (nothing is live), and the scheduler
// holds the orders bucket: another create made right after waits out the hold. A stand-in
// server answers (the simulator has no FAILED orders): the time, one product, creates, and
// the read of each created order as FAILED.
func TestAcceptedThenFailedIsARateLimitSignal(t *testing.T) {
	var mu sync.Mutex
	var creates []time.Time
	signalled := make(chan time.Time, 10)
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch p := r.URL.Path; {
		case p == "/api/v3/brokerage/time":
			fmt.Fprintf(w, `{"iso":"","epochSeconds":"%d"}`, time.Now().Unix())
		case p == "/api/v3/brokerage/market/products":
			fmt.Fprint(w, `{"products":[{"product_id":"BTC-USD","price":"100","base_increment":"0.00000001","quote_increment":"0.01","base_min_size":"0.0001","status":"online","product_type":"SPOT"}]}`)
		case p == "/api/v3/brokerage/orders" && r.Method == http.MethodPost:
			mu.Lock()
			creates = append(creates, time.Now())
			n++
			id := n
			mu.Unlock()
			fmt.Fprintf(w, `{"success":true,"success_response":{"order_id":"o-%d","product_id":"BTC-USD","side":"BUY"}}`, id)
		case strings.HasPrefix(p, "/api/v3/brokerage/orders/historical/o-"):
			id := strings.TrimPrefix(p, "/api/v3/brokerage/orders/historical/")
			select {
			case signalled <- time.Now():
			default:
			}
			fmt.Fprintf(w, `{"order":{"order_id":%q,"product_id":"BTC-USD","side":"BUY","status":"FAILED","reject_reason":"RATE_LIMIT_EXCEEDED","order_configuration":{"limit_limit_gtc":{"base_size":"0.01","limit_price":"90","post_only":false}},"filled_size":"0","filled_value":"0","created_time":"2026-01-01T00:00:00Z"}}`, id)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := newClientOn(t, startSim(t, sim.Config{}), fixtureOpts{cfg: func(c *coinbase.Config) { c.BaseURL = srv.URL }})
	ctx := testCtx(t)
	req := func(id string) adapters.OrderRequest {
		return adapters.OrderRequest{Symbol: "BTCUSD", Side: adapters.Buy, Type: adapters.Limit, TimeInForce: adapters.GTC,
			Quantity: decimal.RequireFromString("0.01"), Price: decimal.RequireFromString("90"), ClientOrderID: id}
	}
	second := make(chan error, 1)
	go func() {
		// Right after the first read-back's answer, another placement: it must wait out the hold.
		<-signalled
		time.Sleep(50 * time.Millisecond) // the first answer is classified meanwhile
		_, err := f.client.PlaceOrder(ctx, req("failed-2"))
		second <- err
	}()
	_, err := f.client.PlaceOrder(ctx, req("failed-1"))
	if !errors.Is(err, coinbase.ErrOrderFailed) || scheduler.ClassOf(err) != scheduler.ClassRateLimit {
		t.Fatalf("PlaceOrder of an order that ended FAILED for the order rate: %v (class %v)", err, scheduler.ClassOf(err))
	}
	<-second
	mu.Lock()
	defer mu.Unlock()
	if len(creates) != 2 {
		t.Fatalf("%d creates", len(creates))
	}
	if gap := creates[1].Sub(creates[0]); gap < 900*time.Millisecond {
		t.Fatalf("the next create went out %s after the signal's create: the orders bucket was not held", gap)
	}
	var sawSignal bool
	for _, o := range f.sched.Outcomes() {
		sawSignal = sawSignal || (o.Class == scheduler.ClassRateLimit && o.OrderLimit)
	}
	if !sawSignal {
		t.Fatal("no rate-limit outcome reached the scheduler")
	}
}
