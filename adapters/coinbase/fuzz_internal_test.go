package coinbase

import (
	"strings"
	"testing"
)

// FuzzParsers: no answer makes a parser panic, and what they accept is sane.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{
		`{"iso":"2024-01-01T00:00:00Z","epochSeconds":"1704067200","epochMillis":"1704067200000"}`,
		`{"pricebook":{"bids":[{"price":"1.5","size":"2"}],"asks":[{"price":"1.6","size":"1"}]}}`,
		`{"products":[{"product_id":"BTC-USD","base_increment":"0.00000001","quote_increment":"0.01","status":"online"}]}`,
		`{"accounts":[{"currency":"BTC","available_balance":{"value":"1"},"hold":{"value":"0"}}],"has_next":false}`,
		`{"success":false,"error_response":{"error":"INSUFFICIENT_FUND"}}`,
		`{"results":[{"success":false,"failure_reason":"UNKNOWN_CANCEL_ORDER"}]}`,
		`<html><body>429</body></html>`, ``, `null`, `{"pricebook":{"bids":[{"price":"2","size":"1"}],"asks":[{"price":"1","size":"1"}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseServerTime(b)
		if book, err := parseBook(b, "X"); err == nil && len(book.Bids) > 0 && len(book.Asks) > 0 && !book.Asks[0].Price.GreaterThan(book.Bids[0].Price) {
			t.Fatal("a crossed book accepted")
		}
		if ps, err := parseProducts(b); err == nil {
			for _, p := range ps {
				if si, err := p.info(); err == nil && (!si.TickSize.IsPositive() || !si.StepSize.IsPositive()) {
					t.Fatal("a product without increments accepted")
				}
			}
		}
		if bs, _, err := parseAccounts(b); err == nil {
			for _, x := range bs {
				if x.Free.IsNegative() || x.Locked.IsNegative() {
					t.Fatal("a negative balance accepted")
				}
			}
		}
		if a, err := parseCreate(b); err == nil {
			a.failure()
		}
		_, _ = parseCancel(b)
		if m := gatewayMessage(b); strings.Contains(strings.ToLower(m), "<html") {
			t.Fatal("an HTML page reached a message")
		}
	})
}
