package binance

import (
	"fmt"
	"testing"

	"github.com/keelbot/keel/scheduler"
)

const (
	none       = scheduler.ClassNone
	auth       = scheduler.ClassAuth
	rateLimit  = scheduler.ClassRateLimit
	transient  = scheduler.ClassTransient
	validation = scheduler.ClassValidation
	unknown    = scheduler.ClassUnknown
)

// TestClassify walks the error table row by row: every documented code and status, on a
// read and on a write.
func TestClassify(t *testing.T) {
	tests := []struct {
		status, code int
		read, write  scheduler.Class
		ban          bool
	}{
		{200, 0, none, none, false},
		// Rate limits.
		{429, -1003, rateLimit, rateLimit, false},
		{429, -1015, rateLimit, rateLimit, false},
		{429, 0, rateLimit, rateLimit, false},
		{400, -1003, rateLimit, rateLimit, false},
		{400, -1015, rateLimit, rateLimit, false},
		{400, -1034, rateLimit, rateLimit, false},
		{418, -1003, rateLimit, rateLimit, true},
		{418, 0, rateLimit, rateLimit, true},
		// Auth: stop and escalate.
		{400, -1021, auth, auth, false}, // a repeat; the first after a measurement is a refusal (clock_test.go)
		{400, -1022, auth, auth, false},
		{401, -2014, auth, auth, false},
		{401, -2015, auth, auth, false},
		{400, -2014, auth, auth, false},
		{400, -2015, auth, auth, false},
		{401, 0, auth, auth, false},
		{400, -1002, auth, auth, false},
		{403, 0, rateLimit, rateLimit, true},     // WAF: the IP is blocked, held as a ban
		{403, -1013, rateLimit, rateLimit, true}, // the status wins: a WAF block is not a filter failure
		// Execution status unknown.
		{400, -1006, transient, unknown, false},
		{400, -1007, transient, unknown, false},
		{500, -1006, transient, unknown, false},
		{503, -1007, transient, unknown, false},
		{500, 0, transient, unknown, false},
		{502, 0, transient, unknown, false},
		{503, 0, transient, unknown, false},
		{504, 0, transient, unknown, false},
		{503, -1008, transient, unknown, false},
		{500, -1000, transient, unknown, false},
		{500, -1001, transient, unknown, false},
		{400, -1016, transient, unknown, false},
		// A 5xx whose code is certain keeps the code's class.
		{503, -1003, rateLimit, rateLimit, false},
		{500, -1021, auth, auth, false},
		{500, -1013, validation, validation, false},
		// Validation.
		{400, -1013, validation, validation, false},
		{400, -1014, validation, validation, false},
		{400, -1020, validation, validation, false},
		{400, -2010, validation, validation, false},
		{400, -2011, validation, validation, false},
		{400, -2013, validation, validation, false},
		{400, -2016, validation, validation, false},
		{400, -2026, validation, validation, false},
		{400, -2039, validation, validation, false},
		{400, -1010, validation, validation, false},
		{404, 0, validation, validation, false},
		{400, 0, validation, validation, false},
		{409, 0, validation, validation, false},
		{400, -9999, validation, validation, false}, // undocumented code on a 4xx
		{503, -9999, transient, unknown, false},     // undocumented code on a 5xx
		{200, -1121, validation, validation, false}, // an error code on a 2xx
	}
	// Every documented 11xx request issue is validation, including codes the table lists
	// only by range.
	for code := -1100; code >= -1199; code-- {
		tests = append(tests, struct {
			status, code int
			read, write  scheduler.Class
			ban          bool
		}{400, code, validation, validation, false})
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.status, tt.code), func(t *testing.T) {
			if c, ban := classify(tt.status, tt.code, false); c != tt.read || ban != tt.ban {
				t.Errorf("read: got %s ban=%v, want %s ban=%v", c, ban, tt.read, tt.ban)
			}
			if c, ban := classify(tt.status, tt.code, true); c != tt.write || ban != tt.ban {
				t.Errorf("write: got %s ban=%v, want %s ban=%v", c, ban, tt.write, tt.ban)
			}
		})
	}
}

// TestCodeTableCoversDocumentedCodes guards the table against losing a row.
func TestCodeTableCoversDocumentedCodes(t *testing.T) {
	documented := []int{-1000, -1001, -1002, -1003, -1006, -1007, -1008, -1013, -1014, -1015, -1016,
		-1020, -1021, -1022, -1034, -1100, -1101, -1102, -1103, -1104, -1105, -1106, -1108, -1111,
		-1112, -1114, -1115, -1116, -1117, -1118, -1119, -1120, -1121, -1122, -1125, -1127, -1128,
		-1130, -1134, -1135, -1139, -1145, -1151, -1158, -1160, -1165, -1166, -1168, -1194, -1196,
		-1197, -1198, -1199, -1210, -1211, -1220, -1222, -1223, -1224, -1225, -2010, -2011, -2013,
		-2014, -2015, -2016, -2026, -2038, -2039}
	for _, c := range documented {
		if _, ok := codeTable[c]; !ok {
			t.Errorf("code %d is documented but not in the table", c)
		}
	}
}

func TestTransportClass(t *testing.T) {
	tests := []struct {
		written, write bool
		want           scheduler.Class
	}{
		{false, false, transient},
		{true, false, transient},
		{false, true, transient}, // never written: nothing can have landed
		{true, true, unknown},
	}
	for _, tt := range tests {
		if got := transportClass(tt.written, tt.write); got != tt.want {
			t.Errorf("written=%v write=%v: got %s, want %s", tt.written, tt.write, got, tt.want)
		}
	}
}
