package bybit_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// TestCodeTable: every documented retCode the spot endpoints can answer has its class, a
// write's unknown outcome included.
func TestCodeTable(t *testing.T) {
	const (
		auth = scheduler.ClassAuth
		rl   = scheduler.ClassRateLimit
		tr   = scheduler.ClassTransient
		val  = scheduler.ClassValidation
		unk  = scheduler.ClassUnknown
	)
	cases := []struct {
		code        int
		read, write scheduler.Class
	}{
		{10000, tr, unk}, {10001, val, val}, {10002, auth, auth}, {10003, auth, auth}, {10004, auth, auth},
		{10005, auth, auth}, {10006, rl, rl}, {10007, auth, auth}, {10008, auth, auth}, {10009, auth, auth},
		{10010, auth, auth}, {10014, val, val}, {10016, tr, unk}, {10017, val, val}, {10018, rl, rl},
		{10024, auth, auth}, {10027, val, val}, {10029, val, val}, {-1, auth, auth}, {-2015, auth, auth},
		{429, tr, tr}, {110001, val, val}, {110072, val, val}, {170001, tr, unk}, {170005, rl, rl},
		{170007, tr, unk}, {170131, val, val}, {170134, val, val}, {170137, val, val}, {170140, val, val},
		{170141, val, val}, {170146, tr, unk}, {170147, tr, unk}, {170191, tr, tr}, {170212, tr, unk},
		{170213, val, val}, {170218, val, val}, {170222, rl, rl}, {170234, tr, unk}, {181001, val, val},
	}
	for _, c := range cases {
		r, known := bybit.CodeClass(c.code, false)
		w, _ := bybit.CodeClass(c.code, true)
		if !known || r != c.read || w != c.write {
			t.Errorf("retCode %d: read %s write %s (in table %v), want %s %s", c.code, r, w, known, c.read, c.write)
		}
	}
	// An undocumented code is a refusal: the exchange answered and said no.
	if r, known := bybit.CodeClass(179999, true); known || r != val {
		t.Errorf("unknown code: %s", r)
	}
	for _, code := range []int{170213, 110001, 170139, 170142, 170143, 170190} {
		if !bybit.NotFoundCode(code) {
			t.Errorf("cancel answered %d is not ErrOrderNotFound", code)
		}
	}
	if bybit.NotFoundCode(170141) {
		t.Error("a duplicate is not 'not found'")
	}
}

func newOfflineClient(t *testing.T) *bybit.Client {
	t.Helper()
	sch, err := scheduler.New(scheduler.Config{Windows: bybit.SchedulerWindows(), Buckets: bybit.SchedulerBuckets()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sch.Close() })
	c, err := bybit.New(bybit.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k", APISecret: "s"}, sch)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func env(code int, msg string, ms int64) []byte {
	return []byte(`{"retCode":` + itoa(int64(code)) + `,"retMsg":"` + msg + `","result":{},"retExtInfo":{},"time":` + itoa(ms) + `}`)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestClassifyAnswers: the answers Bybit gives, by status, headers and body, and what the
// scheduler is told.
func TestClassifyAnswers(t *testing.T) {
	c := newOfflineClient(t)
	now := time.UnixMilli(1_700_000_000_000)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		name       string
		a          rest.Answer
		class      scheduler.Class
		ban        bool
		retryAfter time.Duration
		orderLimit bool
		code       int
		msgHas     string
		usage      []scheduler.Usage
	}{
		{name: "ok with usage", a: rest.Answer{Endpoint: "/v5/order/realtime", Method: "GET", Status: 200,
			Header: hdr("X-Bapi-Limit", "50", "X-Bapi-Limit-Status", "47"), Body: env(0, "OK", 1)},
			class: scheduler.ClassNone, usage: []scheduler.Usage{{Window: bybit.WindowOrderRealtime, Used: 3}}},
		{name: "10006 on create: waits for the reset, holds new orders only", a: rest.Answer{Endpoint: "/v5/order/create", Method: "POST", Write: true, Status: 200,
			Header: hdr("X-Bapi-Limit", "20", "X-Bapi-Limit-Status", "0", "X-Bapi-Limit-Reset-Timestamp", "1700000000750"),
			Body:   env(10006, "Too many visits!", 1_700_000_000_000), Now: now},
			class: scheduler.ClassRateLimit, retryAfter: 750 * time.Millisecond, orderLimit: true, code: 10006,
			usage: []scheduler.Usage{{Window: bybit.WindowOrderCreate, Used: 20}}},
		{name: "10006 on a read holds its bucket", a: rest.Answer{Endpoint: "/v5/order/realtime", Method: "GET", Status: 200,
			Header: hdr("X-Bapi-Limit-Reset-Timestamp", "1700000000200"), Body: env(10006, "Too many visits!", 1_700_000_000_000), Now: now},
			class: scheduler.ClassRateLimit, retryAfter: 200 * time.Millisecond, code: 10006},
		{name: "10006 with an absurd reset is believed only so far", a: rest.Answer{Endpoint: "/v5/order/realtime", Method: "GET", Status: 200,
			Header: hdr("X-Bapi-Limit-Reset-Timestamp", "1800000000000"), Body: env(10006, "Too many visits!", 1_700_000_000_000), Now: now},
			class: scheduler.ClassRateLimit, retryAfter: 15 * time.Minute, code: 10006, msgHas: "more than a per-second limit"},
		{name: "10002 after a routine measurement: a refusal, the clock is measured again", a: rest.Answer{Endpoint: "/v5/account/wallet-balance", Method: "GET", Status: 200, Body: env(10002, "invalid request", 1)},
			class: scheduler.ClassValidation, code: 10002, msgHas: "re-measured"},
		{name: "10004 without the echoed origin string (it carries the key)", a: rest.Answer{Endpoint: "/v5/order/realtime", Method: "GET", Status: 200,
			Body: env(10004, "error sign! origin_string[1677853520948MYAPIKEY5000category=spot]", 1)},
			class: scheduler.ClassAuth, code: 10004, msgHas: "error sign! origin_string[REDACTED]"},
		{name: "10016 on a write is unknown", a: rest.Answer{Endpoint: "/v5/order/create", Method: "POST", Write: true, Status: 200, Body: env(10016, "Server error.", 1)},
			class: scheduler.ClassUnknown, code: 10016},
		{name: "IP ban 403", a: rest.Answer{Endpoint: "/v5/market/tickers", Method: "GET", Status: 403, Body: []byte("403 Forbidden: access too frequent")},
			class: scheduler.ClassRateLimit, ban: true, retryAfter: 10 * time.Minute, msgHas: "banned"},
		{name: "IP ban 403 in another case", a: rest.Answer{Endpoint: "/v5/order/create", Method: "POST", Write: true, Status: 403, Body: []byte("<html>Access Too Frequent</html>")},
			class: scheduler.ClassRateLimit, ban: true, retryAfter: 10 * time.Minute},
		{name: "other 403 is an edge block, not a key problem", a: rest.Answer{Endpoint: "/v5/market/tickers", Method: "GET", Status: 403, Body: []byte("<html>403 Forbidden</html>")},
			class: scheduler.ClassAuth, msgHas: "not an API key problem"},
		{name: "401", a: rest.Answer{Endpoint: "/v5/order/realtime", Method: "GET", Status: 401}, class: scheduler.ClassAuth},
		{name: "404", a: rest.Answer{Endpoint: "/v5/order/realtime", Method: "GET", Status: 404}, class: scheduler.ClassValidation},
		{name: "HTTP 429", a: rest.Answer{Endpoint: "/v5/order/realtime", Method: "GET", Status: 429}, class: scheduler.ClassRateLimit},
		{name: "502 on a write", a: rest.Answer{Endpoint: "/v5/order/create", Method: "POST", Write: true, Status: 502, Body: []byte("<html>bad gateway</html>")},
			class: scheduler.ClassUnknown},
		{name: "200 without an envelope on a write", a: rest.Answer{Endpoint: "/v5/order/create", Method: "POST", Write: true, Status: 200, Body: []byte("<html>")},
			class: scheduler.ClassUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := c.Classify(tc.a)
			if o.Class != tc.class || o.Ban != tc.ban || o.RetryAfter != tc.retryAfter || o.OrderLimit != tc.orderLimit || o.Code != tc.code {
				t.Fatalf("got %+v", o)
			}
			if tc.msgHas != "" && !strings.Contains(o.Message, tc.msgHas) {
				t.Fatalf("message %q lacks %q", o.Message, tc.msgHas)
			}
			if len(tc.usage) != len(o.Usage) || (len(tc.usage) > 0 && tc.usage[0] != o.Usage[0]) {
				t.Fatalf("usage %+v, want %+v", o.Usage, tc.usage)
			}
		})
	}
}
