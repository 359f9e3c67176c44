package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
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
	// Answers a hostile world sends: numbers and prices that parse but must not be trusted.
	// Each applies to every matching answer (Paths, Methods), not at a rate.
	//
	// Quote bends the prices of GET /api/v3/ticker/bookTicker answers and GET /api/v3/depth
	// snapshots: "zero_bid" (an empty bid side: bid 0), "crossed" (a bid above the best
	// ask), "zero" (every price and size 0).
	Quote string `json:"quote"`
	// TrickleMS sends answers slowly: computed at once, their body spread over this many
	// milliseconds (server clock), so they arrive carrying prices as old as the request.
	TrickleMS int `json:"trickle_ms"`
	// RetryAfterRaw, if set, is sent verbatim as the Retry-After of an injected 429 or 418
	// ("999999999", "Fri, 31 Dec 2100 23:59:59 GMT") while the simulator itself enforces
	// only the ordinary wait: an exchange, or a proxy, announcing an absurd one.
	RetryAfterRaw string `json:"retry_after_raw"`
	// BanUntilMS, with error_status 418, makes an injected 418 a ban "until" this instant
	// (ms since the epoch) in its message, as Binance words one, without Retry-After; the
	// simulator itself bans nobody.
	BanUntilMS int64 `json:"ban_until_ms"`
	// UsedWeight, if > 0, replaces the X-MBX-USED-WEIGHT-* usage headers of answers.
	UsedWeight int64 `json:"used_weight"`
	// PadBytes, if > 0, appends that many spaces to successful answers (still valid JSON):
	// an oversized body. At most 64 MiB.
	PadBytes int `json:"pad_bytes"`
	// MalformedRate applies the request and answers 200 with a body no client can read
	// (truncated JSON): one broken endpoint (with Paths) of an exchange that is otherwise up.
	MalformedRate float64 `json:"malformed_rate"`
	// EchoAPIKey makes the injected error and auth answers end their message with the API
	// key the request carried ("(key: ...)"), as some exchanges echo what they refused: a bot
	// must not log it, write it in a kill-switch reason or serve it on /status. Binance
	// dialect (the X-MBX-APIKEY header).
	EchoAPIKey bool `json:"echo_api_key"`
	// RedirectTo, if set, answers every matching request (Paths, Methods) of any dialect
	// with 307 Temporary Redirect to this origin plus the request's path and query, without
	// applying it: a compromised edge or proxy steering a signed request elsewhere. A
	// client must not follow it (its key and signed body would reach that host).
	RedirectTo string `json:"redirect_to"`
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
	if f.RedirectTo != "" {
		if u, err := url.Parse(f.RedirectTo); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("faults: redirect_to: want an http(s) origin, got %q", f.RedirectTo)
		}
	}
	switch {
	case sum > 1:
		return fmt.Errorf("faults: the rates sum to %v, want <= 1", sum)
	case f.LatencyMS < 0 || f.JitterMS < 0 || f.HangMS < 0 || f.RetryAfterS < 0:
		return errors.New("faults: latency_ms, jitter_ms, hang_ms and retry_after_s must be >= 0")
	case f.TimeoutMode != "" && f.TimeoutMode != "drop" && f.TimeoutMode != "hang":
		return fmt.Errorf("faults: timeout_mode: want drop or hang, got %q", f.TimeoutMode)
	case f.Quote != "" && f.Quote != quoteZeroBid && f.Quote != quoteCrossed && f.Quote != quoteZero:
		return fmt.Errorf("faults: quote: want %s, %s or %s, got %q", quoteZeroBid, quoteCrossed, quoteZero, f.Quote)
	case f.TrickleMS < 0 || f.UsedWeight < 0 || f.BanUntilMS < 0:
		return errors.New("faults: trickle_ms, used_weight and ban_until_ms must be >= 0")
	case f.PadBytes < 0 || f.PadBytes > maxPadBytes:
		return fmt.Errorf("faults: pad_bytes: want 0 to %d, got %d", maxPadBytes, f.PadBytes)
	case len(f.RetryAfterRaw) > 200 || strings.ContainsAny(f.RetryAfterRaw, "\r\n"):
		return errors.New("faults: retry_after_raw: want one header value of at most 200 characters")
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

// The values of Faults.Quote.
const (
	quoteZeroBid = "zero_bid"
	quoteCrossed = "crossed"
	quoteZero    = "zero"
)

// maxPadBytes bounds Faults.PadBytes.
const maxPadBytes = 64 << 20

// bendBook applies Faults.Quote to a book's sides (best first), for an answer of path.
func (f Faults) bendBook(path string, bids, asks []bookLevel) ([]bookLevel, []bookLevel) {
	if f.Quote == "" || !f.applies(http.MethodGet, path) {
		return bids, asks
	}
	switch f.Quote {
	case quoteZeroBid:
		return nil, asks
	case quoteZero:
		return nil, nil
	case quoteCrossed:
		if len(asks) == 0 {
			return bids, asks
		}
		// A bid 1% above the best ask: far enough that the price walk's diff updates leave
		// it alone, so a streamed book synced from this snapshot stays crossed.
		ask := decimal.RequireFromString(asks[0][0])
		crossed := bookLevel{fmt8(ask.Add(ask.Div(decimal.NewFromInt(100)))), asks[0][1]}
		return append([]bookLevel{crossed}, bids...), asks
	}
	return bids, asks
}

// bendHeaders applies UsedWeight, and RetryAfterRaw to an injected refusal, to an answer's
// headers.
func (f Faults) bendHeaders(h http.Header, method, path string, injected bool) {
	if !f.applies(method, path) {
		return
	}
	if injected && f.RetryAfterRaw != "" {
		h.Set("Retry-After", f.RetryAfterRaw)
	}
	if f.UsedWeight > 0 {
		for name := range h {
			if strings.HasPrefix(strings.ToUpper(name), "X-MBX-USED-WEIGHT-") {
				h[name] = []string{strconv.FormatInt(f.UsedWeight, 10)}
			}
		}
	}
}

// injectedError is the answer of an injected error (error_rate): ErrorStatus, default 503
// -1008; a 418 with BanUntilMS is a ban until then, as Binance words one.
func (f Faults) injectedError() reply {
	status, code, msg := http.StatusServiceUnavailable, -1008, msgServerBusy
	if f.ErrorStatus == http.StatusTeapot && f.BanUntilMS > 0 {
		e := errBanned(f.BanUntilMS)
		return reply{status: e.status, body: e}
	}
	if f.ErrorStatus != 0 && f.ErrorStatus != status {
		status, code, msg = f.ErrorStatus, -1000, msgUnknown
	}
	return reply{status: status, body: &apiError{status: status, Code: code, Msg: msg}}
}

// writeAnswer writes rep as writeJSON does, padded (PadBytes) and trickled (TrickleMS) when
// the faults say so.
func (s *Server) writeAnswer(w http.ResponseWriter, r *http.Request, rep reply, f Faults) {
	if (f.PadBytes == 0 && f.TrickleMS == 0) || !f.applies(r.Method, r.URL.Path) {
		writeJSON(w, rep)
		return
	}
	b, err := json.Marshal(rep.body)
	if err != nil {
		writeJSON(w, rep)
		return
	}
	if f.PadBytes > 0 && rep.status < 300 {
		b = append(b, bytes.Repeat([]byte{' '}, f.PadBytes)...)
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(rep.status)
	if f.TrickleMS <= 0 {
		_, _ = w.Write(b)
		return
	}
	const parts = 10
	flusher, _ := w.(http.Flusher)
	for i := range parts {
		if !s.wait(r.Context(), time.Duration(f.TrickleMS)*time.Millisecond/parts) {
			return
		}
		if _, err := w.Write(b[i*len(b)/parts : (i+1)*len(b)/parts]); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// inDialect returns the faults as a dialect whose REST paths start with prefix sees them at
// path: the default "every path" (no Paths) means Binance's /api/ paths; in another dialect
// it means every path under its own prefix, and none elsewhere.
func (f Faults) inDialect(prefix, path string) Faults {
	if len(f.Paths) > 0 {
		return f
	}
	if !strings.HasPrefix(path, prefix) {
		return Faults{}
	}
	f.Paths = []string{path}
	return f
}

// holdLatency holds the answer to r for latency when f injects it there; a client that gives
// up meanwhile gets its connection dropped, as a server that never answered.
func (s *Server) holdLatency(r *http.Request, f Faults, latency time.Duration) {
	if latency > 0 && f.applies(r.Method, r.URL.Path) && !s.wait(r.Context(), latency) {
		panic(http.ErrAbortHandler)
	}
}
