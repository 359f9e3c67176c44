package sim

import (
	"math/rand/v2"
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
	// ErrorRate answers that fraction with a 5xx before the request is applied: ErrorStatus
	// (default 503, with -1008 SERVER_BUSY; any other status carries -1000 UNKNOWN).
	ErrorRate   float64 `json:"error_rate"`
	ErrorStatus int     `json:"error_status"`
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
	// Paths limits the faults to these paths (e.g. "/api/v3/order"); empty means every
	// /api/ path.
	Paths []string `json:"paths"`
}

type faultKind int

const (
	faultNone faultKind = iota
	faultError
	faultDrop
	faultHang
	faultUnknown
)

func (f Faults) applies(path string) bool {
	if len(f.Paths) == 0 {
		return strings.HasPrefix(path, "/api/")
	}
	for _, p := range f.Paths {
		if p == path {
			return true
		}
	}
	return false
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
func (f Faults) draw(path string, u float64) faultKind {
	if !f.applies(path) {
		return faultNone
	}
	switch {
	case u < f.ErrorRate:
		return faultError
	case u < f.ErrorRate+f.TimeoutRate:
		if f.TimeoutMode == "hang" {
			return faultHang
		}
		return faultDrop
	case u < f.ErrorRate+f.TimeoutRate+f.UnknownRate:
		return faultUnknown
	}
	return faultNone
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}
