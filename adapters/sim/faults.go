package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Faults are failures injected for tests, set through PUT /sim/faults or SetFaults. The zero
// value injects nothing. Rates are fractions in [0,1] drawn from the seeded generator, so a
// given seed and request sequence fails the same requests every run.
type Faults struct {
	// LatencyMS delays every matching request, plus a uniform draw in [0, JitterMS).
	LatencyMS int `json:"latency_ms"`
	JitterMS  int `json:"jitter_ms"`
	// ErrorRate answers that fraction with an error before the request is applied: ErrorStatus
	// (default 503, with -1008 SERVER_BUSY). 429 answers as the REQUEST_WEIGHT limit does:
	// -1003 with a Retry-After (RetryAfterS, else until the weight window ends) that the IP
	// must then honour like a real one, or be banned. Any other status carries -1000 UNKNOWN
	// (403 stands for Binance's WAF).
	ErrorRate   float64 `json:"error_rate"`
	ErrorStatus int     `json:"error_status"`
	// RetryAfterS is the Retry-After, in seconds as sent (not time-scaled), of an injected
	// 429; 0 means until the current REQUEST_WEIGHT window ends.
	RetryAfterS int `json:"retry_after_s"`
	// TimeoutRate applies the request (an order is booked) and then the client never hears: the
	// connection is closed without an answer (TimeoutMode "drop", the default) or held until
	// the client gives up ("hang").
	TimeoutRate float64 `json:"timeout_rate"`
	TimeoutMode string  `json:"timeout_mode"`
	// HangMS bounds a "hang" on the server's clock; default 60000.
	HangMS int `json:"hang_ms"`
	// UnknownRate applies the request and answers 503 -1007 "Timeout waiting for response from
	// backend server. Send status unknown; execution status unknown."
	UnknownRate float64 `json:"unknown_rate"`
	// AuthErrorRate answers that fraction with 401 -2015 "Invalid API-key, IP, or permissions
	// for action." before the request is applied: an exchange refusing the key for one action
	// (a permission or IP rule changed, or a spurious refusal) while others still work. It
	// does not count toward disabling the key.
	AuthErrorRate float64 `json:"auth_error_rate"`
	// MalformedRate applies the request and answers 200 with a body no client can read
	// (truncated JSON): one broken endpoint (with Paths) of an exchange that is otherwise up.
	MalformedRate float64 `json:"malformed_rate"`
	// EchoAPIKey makes the injected error and auth answers end their message with the API
	// key the request carried ("(key: ...)"), as some exchanges echo what they refused: a bot
	// must not log it, write it in a kill-switch reason or serve it on /status. Binance
	// dialect (the X-MBX-APIKEY header).
	EchoAPIKey bool `json:"echo_api_key"`
	// Paths limits the faults to these paths (e.g. "/api/v3/order"); empty means every
	// /api/ path.
	Paths []string `json:"paths"`
	// Methods limits the faults to these HTTP methods (e.g. "POST": placements but not
	// cancels of /api/v3/order); empty means every method.
	Methods []string `json:"methods"`
}

// Validate reports what is wrong with f, naming the field.
func (f Faults) Validate() error {
	sum := 0.0
	for _, r := range []struct {
		name string
		v    float64
	}{{"error_rate", f.ErrorRate}, {"timeout_rate", f.TimeoutRate}, {"unknown_rate", f.UnknownRate},
		{"auth_error_rate", f.AuthErrorRate}, {"malformed_rate", f.MalformedRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("faults: %s: want a fraction in [0, 1], got %v", r.name, r.v)
		}
		sum += r.v
	}
	switch {
	case sum > 1:
		return fmt.Errorf("faults: the rates sum to %v, want <= 1", sum)
	case f.LatencyMS < 0 || f.JitterMS < 0 || f.HangMS < 0 || f.RetryAfterS < 0:
		return errors.New("faults: latency_ms, jitter_ms, hang_ms and retry_after_s must be >= 0")
	case f.TimeoutMode != "" && f.TimeoutMode != "drop" && f.TimeoutMode != "hang":
		return fmt.Errorf("faults: timeout_mode: want drop or hang, got %q", f.TimeoutMode)
	}
	return nil
}

// malformedBody is what MalformedRate answers: JSON cut short, as a broken proxy or a
// half-deployed endpoint would send it.
const malformedBody = `{"symbol":"BTCUSDT","bidPrice":`

type faultKind int

const (
	faultNone faultKind = iota
	faultError
	faultDrop
	faultHang
	faultUnknown
	faultAuth
	faultMalformed
)

func (f Faults) applies(method, path string) bool {
	if len(f.Methods) > 0 && !slices.Contains(f.Methods, method) {
		return false
	}
	if len(f.Paths) == 0 {
		return strings.HasPrefix(path, "/api/")
	}
	return slices.Contains(f.Paths, path)
}

// retryUntil is when an injected 429 lets the client back in: RetryAfterS from now if set,
// else windowEnd (the weight window's end, as the real limit says).
func (f Faults) retryUntil(now, windowEnd time.Time) time.Time {
	if f.RetryAfterS > 0 {
		return now.Add(time.Duration(f.RetryAfterS) * time.Second)
	}
	return windowEnd
}

// latency draws this request's delay.
func (f Faults) latency(rng *rand.Rand) time.Duration {
	d := time.Duration(f.LatencyMS) * time.Millisecond
	if f.JitterMS > 0 {
		d += time.Duration(rng.IntN(f.JitterMS)) * time.Millisecond
	}
	return d
}

// draw picks the fault for a request from one uniform draw u in [0,1).
func (f Faults) draw(method, path string, u float64) faultKind {
	if !f.applies(method, path) {
		return faultNone
	}
	switch {
	case u < f.ErrorRate:
		return faultError
	case u < f.ErrorRate+f.AuthErrorRate:
		return faultAuth
	case u < f.ErrorRate+f.AuthErrorRate+f.TimeoutRate:
		if f.TimeoutMode == "hang" {
			return faultHang
		}
		return faultDrop
	case u < f.ErrorRate+f.AuthErrorRate+f.TimeoutRate+f.UnknownRate:
		return faultUnknown
	case u < f.ErrorRate+f.AuthErrorRate+f.TimeoutRate+f.UnknownRate+f.MalformedRate:
		return faultMalformed
	}
	return faultNone
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}
