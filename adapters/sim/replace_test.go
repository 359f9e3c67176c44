package sim_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	gobinance "github.com/adshao/go-binance/v2"
)

// TestCancelReplace: POST /api/v3/order/cancelReplace cancels and places in one request, and
// reports each half as documented: both done (200), one done (409 -2021), neither (400 -2022,
// the placement NOT_ATTEMPTED under STOP_ON_FAILURE); a new order the filters refuse cancels
// nothing.
func TestCancelReplace(t *testing.T) {
	h := newHarness(t, nil)
	place := func(id string) {
		t.Helper()
		r := h.signed("POST", "/api/v3/order", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT", "timeInForce", "GTC",
			"quantity", "0.001", "price", "30000", "newClientOrderId", id))
		if r.status != 200 {
			t.Fatalf("place %s: %s", id, r.body)
		}
	}
	replace := func(mode, cancelID, newID, price string) resp {
		return h.signed("POST", "/api/v3/order/cancelReplace", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
			"timeInForce", "GTC", "quantity", "0.001", "price", price, "cancelReplaceMode", mode,
			"cancelOrigClientOrderId", cancelID, "newClientOrderId", newID))
	}
	type result struct {
		Code             int
		CancelResult     string
		NewOrderResult   string
		CancelResponse   map[string]any
		NewOrderResponse map[string]any
		Data             *result
	}
	decode := func(r resp) result {
		var v result
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Data != nil {
			d := *v.Data
			d.Code = v.Code
			return d
		}
		return v
	}
	place("a")
	r := replace("STOP_ON_FAILURE", "a", "b", "30001")
	v := decode(r)
	if r.status != 200 || v.CancelResult != "SUCCESS" || v.NewOrderResult != "SUCCESS" ||
		v.CancelResponse["status"] != "CANCELED" || v.NewOrderResponse["clientOrderId"] != "b" {
		t.Fatalf("replace a with b: %d %s", r.status, r.body)
	}
	r = replace("STOP_ON_FAILURE", "a", "c", "30001") // a is already cancelled
	v = decode(r)
	if r.status != 400 || v.Code != -2022 || v.CancelResult != "FAILURE" || v.NewOrderResult != "NOT_ATTEMPTED" || v.CancelResponse["code"] != -2011.0 {
		t.Fatalf("stop on failure: %d %s", r.status, r.body)
	}
	// The order not attempted still counts as an unfilled order: a, b, and it.
	if n := r.header.Get("X-MBX-ORDER-COUNT-10S"); n != "3" {
		t.Fatalf("unfilled order count %s after a, b and the order not attempted, want 3", n)
	}
	r = replace("ALLOW_FAILURE", "a", "c", "30001")
	v = decode(r)
	if r.status != 409 || v.Code != -2021 || v.CancelResult != "FAILURE" || v.NewOrderResult != "SUCCESS" {
		t.Fatalf("allow failure: %d %s", r.status, r.body)
	}
	// Off the tick grid: refused before the cancel; b stays.
	r = replace("STOP_ON_FAILURE", "b", "d", "30001.005")
	if r.status != 400 || r.code() != -1013 {
		t.Fatalf("a new order the filters refuse: %d %s", r.status, r.body)
	}
	open := 0
	for _, o := range h.s.Orders() {
		if o.Status == "NEW" {
			open++
		}
	}
	if open != 2 { // b and c
		t.Fatalf("%d open orders, want b and c", open)
	}
	if r := h.signed("POST", "/api/v3/order/cancelReplace", vals("symbol", "BTCUSDT", "side", "BUY", "type", "LIMIT",
		"quantity", "0.001", "price", "30000", "cancelReplaceMode", "SOMETIMES", "cancelOrigClientOrderId", "b")); r.code() != -1130 {
		t.Fatalf("bad mode: %s", r.body)
	}
}

// TestCancelReplaceGoBinance replaces an order with go-binance's CancelReplaceOrderService,
// unmodified.
func TestCancelReplaceGoBinance(t *testing.T) {
	h := newHarness(t, nil)
	hs := httptest.NewServer(h.s)
	defer hs.Close()
	c := gobinance.NewClient(testKey, testSecret)
	c.BaseURL = hs.URL
	c.TimeOffset = time.Now().UnixMilli() - h.clk.Now().UnixMilli() // go-binance signs now - TimeOffset: the simulator's clock
	ctx := context.Background()
	if _, err := c.NewCreateOrderService().Symbol("BTCUSDT").Side(gobinance.SideTypeBuy).Type(gobinance.OrderTypeLimit).
		TimeInForce(gobinance.TimeInForceTypeGTC).Quantity("0.001").Price("30000").NewClientOrderID("gb-a").Do(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := c.NewCancelReplaceOrderService().Symbol("BTCUSDT").Side(gobinance.SideTypeBuy).Type(gobinance.OrderTypeLimit).
		CancelReplaceMode(gobinance.CancelReplaceModeStopOnFailure).TimeInForce(gobinance.TimeInForceTypeGTC).
		Quantity("0.001").Price("30001").CancelOrigClientOrderID("gb-a").NewClientOrderID("gb-b").Do(ctx)
	if err != nil || res.CancelResult != "SUCCESS" || res.NewOrderResult != "SUCCESS" || res.NewOrderResponse.ClientOrderID != "gb-b" ||
		res.CancelResponse.Status != gobinance.OrderStatusTypeCanceled {
		t.Fatalf("cancelReplace: %v %+v", err, res)
	}
}
