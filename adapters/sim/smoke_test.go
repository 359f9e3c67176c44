package sim_test

import (
	"net/http"
	"testing"
)

func TestPingTimeExchangeInfo(t *testing.T) {
	h := newHarness(t, nil)
	r := h.get("/api/v3/ping", "")
	if r.status != 200 || string(r.body) != "{}" || r.weight() != 1 {
		t.Fatalf("ping: %d %s weight %d", r.status, r.body, r.weight())
	}
	r = h.get("/api/v3/time", "")
	var tm struct{ ServerTime int64 }
	r.json(t, &tm)
	if tm.ServerTime != start.UnixMilli() || r.weight() != 2 {
		t.Fatalf("time: %s weight %d", r.body, r.weight())
	}
	r = h.get("/api/v3/exchangeInfo", "")
	if r.status != http.StatusOK || r.weight() != 22 {
		t.Fatalf("exchangeInfo: %d weight %d", r.status, r.weight())
	}
}
