package scheduler_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelbot/keel/scheduler"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Filter failure: PRICE_FILTER", "Filter failure: PRICE_FILTER"},
		{"symbol=BTCUSDT&timestamp=1700000000000&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
			"symbol=BTCUSDT&timestamp=1700000000000&signature=[REDACTED]"},
		{"X-MBX-APIKEY: vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "X-MBX-APIKEY: [REDACTED]"},
		{`{"apiKey":"abc123","code":-2015}`, `{"apiKey":"[REDACTED]","code":-2015}`},
		{"secret=hunter2 and more", "secret=[REDACTED] and more"},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "Authorization: [REDACTED]"},
		{"password=pa55word&x=1", "password=[REDACTED]&x=1"},
		{"listenKey=pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1", "listenKey=[REDACTED]"},
		{"bare key 0f3a9c5e7b1d2f4a6c8e0b2d4f6a8c0e1f3a5c7e9b1d3f5a in text", "bare key [REDACTED] in text"},
		{"Timestamp for this request is outside of the recvWindow.", "Timestamp for this request is outside of the recvWindow."},
		{"31 in a run: 0123456789abcdef0123456789abcde.", "31 in a run: 0123456789abcdef0123456789abcde."},
		{"32 in a run: 0123456789abcdef0123456789abcdef.", "32 in a run: [REDACTED]."},
	}
	for _, tt := range tests {
		if got := scheduler.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n = %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestErrorTextRedacted: the text of a request's final failure redacts the exchange's message,
// the transport error and the cause alike, so a caller can log it as it is.
func TestErrorTextRedacted(t *testing.T) {
	secret := "signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
	err := &scheduler.Error{Class: scheduler.ClassUnknown, Attempts: 1,
		Outcome: scheduler.Outcome{Status: 503, Message: "busy; " + secret, Err: errors.New("POST /api/v3/order?" + secret)},
		Cause:   errors.New("query order: " + secret)}
	if got := err.Error(); strings.Contains(got, "c8db5682") || strings.Count(got, "signature=[REDACTED]") != 3 {
		t.Fatalf("Error() = %q, want the message, transport error and cause each redacted", got)
	}
}
