package coinbase

import (
	"net/http"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// TestClassification is the one table: answers as Coinbase gives them, and their classes.
func TestClassification(t *testing.T) {
	c := &Client{time: rest.NewTimeKeeper("coinbase", clock.Real{}, 5*time.Second)}
	html := []byte("<html><head><title>Coinbase</title></head><body>{\"error\":\"x\"}</body></html>")
	for _, tc := range []struct {
		name   string
		ep     endpoint
		status int
		body   string
		hdr    http.Header
		want   scheduler.Class
		code   int
	}{
		{"create ok", epCreate, 200, `{"success":true,"success_response":{"order_id":"a"}}`, nil, scheduler.ClassNone, 0},
		{"insufficient fund", epCreate, 200, `{"success":false,"failure_reason":"UNKNOWN_FAILURE_REASON","error_response":{"error":"INSUFFICIENT_FUND","new_order_failure_reason":"INSUFFICIENT_FUND"}}`, nil, scheduler.ClassValidation, 1006},
		{"preview reason only", epCreate, 200, `{"success":false,"error_response":{"error":"UNKNOWN_FAILURE_REASON","new_order_failure_reason":"UNKNOWN_FAILURE_REASON","preview_failure_reason":"PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"}}`, nil, scheduler.ClassValidation, 1999},
		{"order rate", epCreate, 200, `{"success":false,"error_response":{"error":"RATE_LIMIT_EXCEEDED"}}`, nil, scheduler.ClassRateLimit, codeRateLimitExceeded},
		{"order entry disabled", epCreate, 200, `{"success":false,"error_response":{"new_order_failure_reason":"ORDER_ENTRY_DISABLED"}}`, nil, scheduler.ClassValidation, codeOrderEntryDisabled},
		{"geofenced", epCreate, 200, `{"success":false,"error_response":{"new_order_failure_reason":"GEOFENCING_RESTRICTION"}}`, nil, scheduler.ClassAuth, 1022},
		{"create body not JSON", epCreate, 200, `<html>`, nil, scheduler.ClassUnknown, 0},
		{"cancel unknown order", epCancel, 200, `{"results":[{"success":false,"failure_reason":"UNKNOWN_CANCEL_ORDER","order_id":"a"}]}`, nil, scheduler.ClassValidation, codeUnknownCancelOrder},
		{"cancel unknown reason", epCancel, 200, `{"results":[{"success":false,"failure_reason":"UNKNOWN_CANCEL_FAILURE_REASON"}]}`, nil, scheduler.ClassUnknown, codeUnknownCancelReason},
		{"cancel replaced", epCancel, 200, `{"results":[{"success":false,"failure_reason":"ORDER_IS_BEING_REPLACED"}]}`, nil, scheduler.ClassTransient, 2009},
		{"429 html read", epAccounts, 429, string(html), http.Header{"X-Ratelimit-Reset": {"2"}}, scheduler.ClassRateLimit, codeTooManyRequests},
		{"429 html write", epCreate, 429, string(html), nil, scheduler.ClassRateLimit, codeTooManyRequests},
		{"401", epAccounts, 401, "Unauthorized\n", nil, scheduler.ClassAuth, codeUnauthorized},
		{"403 scopes", epCreate, 403, `{"error":"PERMISSION_DENIED","message":"Missing required scopes"}`, nil, scheduler.ClassAuth, codeMissingScopes},
		{"404 order", epGetOrder, 404, `{"error":"NOT_FOUND","message":"order with this orderID was not found"}`, nil, scheduler.ClassValidation, codeNotFound},
		{"400", epListOrders, 400, `{"error":"INVALID_ARGUMENT","message":"bad"}`, nil, scheduler.ClassValidation, 400},
		{"503 read", epAccounts, 503, `{"error":"UNAVAILABLE"}`, nil, scheduler.ClassTransient, 0},
		{"500 write", epCreate, 500, `{"error":"INTERNAL"}`, nil, scheduler.ClassUnknown, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := scheduler.Outcome{Status: tc.status}
			h := tc.hdr
			if h == nil {
				h = http.Header{}
			}
			c.classifyAnswer(rest.Answer{Endpoint: tc.ep.path, Method: tc.ep.method, Status: tc.status, Header: h,
				Body: []byte(tc.body), Write: tc.ep.write, Now: time.Now()}, &out)
			if out.Class != tc.want || out.Code != tc.code {
				t.Fatalf("class %s code %d, want %s %d (%s)", out.Class, out.Code, tc.want, tc.code, out.Message)
			}
			if tc.status == 429 && (out.Message == "" || containsAny(out.Message, "<html", "Coinbase</title>")) {
				t.Fatalf("a 429's HTML reached the message: %q", out.Message)
			}
			if tc.name == "429 html read" && out.RetryAfter != 2*time.Second {
				t.Fatalf("x-ratelimit-reset 2: RetryAfter %s", out.RetryAfter)
			}
		})
	}
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		for i := 0; i+len(x) <= len(s); i++ {
			if s[i:i+len(x)] == x {
				return true
			}
		}
	}
	return false
}

// TestEveryReasonIsClassified: every documented reason has a row, and the numbers are unique.
func TestEveryReasonIsClassified(t *testing.T) {
	seen := map[int]string{}
	for r, row := range reasons {
		if prev, dup := seen[row.code]; dup {
			t.Fatalf("%s and %s share code %d", r, prev, row.code)
		}
		seen[row.code] = r
		if row.class.read == scheduler.ClassNone || row.class.write == scheduler.ClassNone {
			t.Fatalf("%s unclassified", r)
		}
	}
}
