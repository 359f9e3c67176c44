package sim_test

import (
	"net/url"
	"testing"
)

// TestSymbolStatusFilter: symbolStatus on depth and the tickers, as rest-api.md documents it:
// every simulated symbol is TRADING, so HALT or BREAK is -1220 for one symbol and an empty
// list for several or all; TRADING changes nothing; any other value is refused.
func TestSymbolStatusFilter(t *testing.T) {
	h := newHarness(t, nil)
	two := "symbols=" + url.QueryEscape(`["BTCUSDT","ETHUSDT"]`)
	for _, path := range []string{"/api/v3/ticker/24hr", "/api/v3/ticker/price", "/api/v3/ticker/bookTicker",
		"/api/v3/ticker", "/api/v3/ticker/tradingDay", "/api/v3/depth"} {
		wantCode(t, h.get(path, "symbol=BTCUSDT&symbolStatus=HALT"), 400, -1220, "The symbol's status does not match the requested symbolStatus.")
		wantCode(t, h.get(path, "symbol=BTCUSDT&symbolStatus=OPEN"), 400, -1130, "")
		if r := h.get(path, "symbol=BTCUSDT&symbolStatus=TRADING"); r.status != 200 {
			t.Errorf("%s TRADING: %d %s", path, r.status, r.body)
		}
		if path == "/api/v3/depth" {
			continue
		}
		if r := h.get(path, two+"&symbolStatus=BREAK"); r.status != 200 || string(r.body) != "[]" {
			t.Errorf("%s two symbols with BREAK: %d %s, want []", path, r.status, r.body)
		}
		var list []map[string]any
		h.get(path, two+"&symbolStatus=TRADING").json(t, &list)
		if len(list) != 2 {
			t.Errorf("%s two symbols with TRADING: %v", path, list)
		}
	}
}
