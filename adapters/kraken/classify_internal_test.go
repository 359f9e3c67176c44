package kraken

import (
	"net/http"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// TestClassify holds every documented error, and the statuses Kraken's edge answers with,
// to its class for a read and for a write.
func TestClassify(t *testing.T) {
	now := time.Unix(1_700_000_000, 250_000_000)
	const (
		auth = scheduler.ClassAuth
		rl   = scheduler.ClassRateLimit
		tr   = scheduler.ClassTransient
		val  = scheduler.ClassValidation
		unk  = scheduler.ClassUnknown
		none = scheduler.ClassNone
	)
	for _, tc := range []struct {
		status     int
		body       string
		read, wr   scheduler.Class
		orderLimit bool
		retry      time.Duration
	}{
		{200, `{"error":[],"result":{}}`, none, none, false, 0},
		{200, `{"error":["WGeneral:Something"],"result":{}}`, none, none, false, 0},
		{200, `{"error":["EAPI:Invalid key"]}`, auth, auth, false, 0},
		{200, `{"error":["EAPI:Invalid signature"]}`, auth, auth, false, 0},
		{200, `{"error":["EAPI:Invalid nonce"]}`, auth, auth, false, 0},
		{200, `{"error":["EGeneral:Temporary lockout"]}`, auth, auth, false, 0},
		{200, `{"error":["EGeneral:Permission denied"]}`, auth, auth, false, 0},
		{200, `{"error":["EAccount:Invalid permissions"]}`, auth, auth, false, 0},
		{200, `{"error":["EAuth:Account temporary disabled"]}`, auth, auth, false, 0},
		{200, `{"error":["EAuth:Account unconfirmed"]}`, auth, auth, false, 0},
		{200, `{"error":["EAPI:Rate limit exceeded"]}`, rl, rl, false, 0},
		{200, `{"error":["EOrder:Rate limit exceeded"]}`, rl, rl, true, 0},
		{200, `{"error":["EOrder:Domain rate limit exceeded"]}`, rl, rl, true, 0},
		{200, `{"error":["EService:Throttled: 1700000010"]}`, rl, rl, false, 10 * time.Second},
		{200, `{"error":["EService: Throttled: 1700000600"]}`, rl, rl, false, 600 * time.Second},
		{200, `{"error":["EGeneral:Too many requests"]}`, rl, rl, false, 0},
		{200, `{"error":["EAuth:Rate limit exceeded"]}`, rl, rl, false, 0},
		{200, `{"error":["EAuth:Too many requests"]}`, rl, rl, false, 0},
		{200, `{"error":["EService:Unavailable"]}`, tr, unk, false, 0},
		{200, `{"error":["EService:Busy"]}`, tr, unk, false, 0},
		{200, `{"error":["EService:Deadline elapsed"]}`, tr, unk, false, 0},
		{200, `{"error":["EGeneral:Internal error:123"]}`, tr, unk, false, 0},
		{200, `{"error":["EService:Market in cancel_only mode"]}`, tr, tr, false, 0},
		{200, `{"error":["EService:Market in post_only mode"]}`, tr, tr, false, 0},
		{200, `{"error":["EOrder:Unknown order"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Invalid order"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Orders limit exceeded"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Insufficient funds"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Order minimum not met"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Cost minimum not met"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Tick size check failed"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Invalid price"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Post only order"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Duplicate order"]}`, val, val, false, 0},
		{200, `{"error":["EGeneral:Invalid arguments:volume"]}`, val, val, false, 0},
		{200, `{"error":["EQuery:Unknown asset pair"]}`, val, val, false, 0},
		{200, `{"error":["EOrder:Margin level too low"]}`, val, val, false, 0},
		{200, `{"error":["EFunding:Max fee exceeded"]}`, val, val, false, 0},
		{200, `not json`, none, none, false, 0}, // then malformed, by the parser
		{429, ``, rl, rl, false, 0},
		{401, ``, auth, auth, false, 0},
		{403, `<html>`, auth, auth, false, 0},
		{404, ``, val, val, false, 0},
		{500, ``, tr, unk, false, 0},
		{503, `{"error":["EService:Unavailable"]}`, tr, unk, false, 0},
		{520, ``, tr, unk, false, 0},
		{302, ``, tr, unk, false, 0},
	} {
		for _, write := range []bool{false, true} {
			var out scheduler.Outcome
			classify(rest.Answer{Status: tc.status, Body: []byte(tc.body), Write: write, Header: http.Header{}, Now: now}, &out, 15)
			want := tc.read
			if write {
				want = tc.wr
			}
			if out.Class != want || out.OrderLimit != tc.orderLimit || out.RetryAfter != tc.retry {
				t.Errorf("%d %s (write %v): class %s order limit %v retry %v, want %s %v %v",
					tc.status, tc.body, write, out.Class, out.OrderLimit, out.RetryAfter, want, tc.orderLimit, tc.retry)
			}
		}
	}
}

func TestCancelCost(t *testing.T) {
	for _, tc := range []struct {
		age  time.Duration
		want int64
	}{{0, 8}, {4999 * time.Millisecond, 8}, {5 * time.Second, 6}, {9 * time.Second, 6}, {10 * time.Second, 5},
		{14 * time.Second, 5}, {15 * time.Second, 4}, {44 * time.Second, 4}, {45 * time.Second, 2}, {89 * time.Second, 2},
		{90 * time.Second, 1}, {299 * time.Second, 1}, {300 * time.Second, 0}, {time.Hour, 0}} {
		if got := CancelCost(tc.age); got != tc.want {
			t.Errorf("CancelCost(%v) = %d, want %d", tc.age, got, tc.want)
		}
	}
}
