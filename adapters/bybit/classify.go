package bybit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// How a failure is classified depends on whether the call writes: an answer that leaves the
// effect unknown is ClassUnknown for a write (reconcile before resending) and ClassTransient
// for a read (just retry).
type rowClass struct {
	read, write scheduler.Class
}

var (
	rateLimited = rowClass{read: scheduler.ClassRateLimit, write: scheduler.ClassRateLimit}
	authFailure = rowClass{read: scheduler.ClassAuth, write: scheduler.ClassAuth}
	unknownExec = rowClass{read: scheduler.ClassTransient, write: scheduler.ClassUnknown}
	rejected    = rowClass{read: scheduler.ClassValidation, write: scheduler.ClassValidation}
	// refusedBusy is a refusal before anything was done (the service says so): a retry is
	// safe for reads and writes alike.
	refusedBusy = rowClass{read: scheduler.ClassTransient, write: scheduler.ClassTransient}
)

// codeTable maps every retCode of docs/v5/error.mdx that the spot endpoints the adapter uses
// can answer to a failure class. Business and authentication failures arrive in HTTP 200, so
// the retCode decides, never the status.
var codeTable = map[int]rowClass{
	-1:    authFailure, // "request expired": the timestamp, as 10002
	429:   refusedBusy, // "The trading service is experiencing a high server load. Please retry"
	10000: unknownExec, // Server Timeout
	10001: rejected,    // Request parameter error
	10002: authFailure, // timestamp outside [server - recv_window, server + 1000): resync first
	10003: authFailure, // API key is invalid (or of another environment)
	10004: authFailure, // Error sign
	10005: authFailure, // Permission denied (key permissions)
	10006: rateLimited, // Too many visits: the per-UID endpoint limit; wait for the reset
	10007: authFailure, // User authentication failed
	10008: authFailure, // Common banned, please check your account mode
	10009: authFailure, // Service Restricted: region
	10010: authFailure, // Unmatched IP (the key's bound IPs)
	10014: rejected,    // Invalid duplicate request
	10016: unknownExec, // Server error (WS OE: "internal server error; Service is restarting")
	10017: rejected,    // Route not found
	10018: rateLimited, // Exceeded the IP Rate Limit (deprecated 2023-08: now HTTP 403)
	10024: authFailure, // Compliance rules triggered
	// 10027 "Transactions are banned.": the account may not trade, but its key is good and
	// reads go on. Stopping every request as auth would also stop the cancels and queries a
	// halted bot needs, so it is a refusal of the order, as Binance's "This account may not
	// place or cancel orders." is.
	10027:  rejected,
	10029:  rejected,    // The requested symbol is invalid (symbol whitelist)
	-2015:  authFailure, // (Spot) Your api key has expired
	110001: rejected,    // Order does not exist (ErrOrderNotFound on cancel)
	110072: rejected,    // OrderLinkedID is duplicate
	170001: unknownExec, // Internal error
	170005: rateLimited, // Too many new orders; current limit is %s orders per %s
	170007: unknownExec, // Timeout waiting for response from backend server
	170105: rejected,    // Parameter '%s' was empty
	170115: rejected,    // Invalid timeInForce
	170116: rejected,    // Invalid orderType
	170117: rejected,    // Invalid side
	170121: rejected,    // Invalid symbol
	170124: rejected,    // Order amount too large
	170130: rejected,    // Data sent for paramter '%s' is not valid
	170131: rejected,    // Balance insufficient
	170132: rejected,    // Order price too high
	170133: rejected,    // Order price lower than the minimum
	170134: rejected,    // Order price decimal too long (tick)
	170136: rejected,    // Order quantity lower than the minimum
	170137: rejected,    // Order volume decimal too long (basePrecision)
	170139: rejected,    // Order has been filled (ErrOrderNotFound on cancel)
	170140: rejected,    // Order value exceeded lower limit (minOrderAmt)
	170141: rejected,    // Duplicate clientOrderId
	170142: rejected,    // Order has been cancelled (ErrOrderNotFound on cancel)
	170143: rejected,    // Cannot be found on order book (ErrOrderNotFound on cancel)
	170146: unknownExec, // Order creation timeout
	170147: unknownExec, // Order cancellation timeout
	170148: rejected,    // Market order amount decimal too long
	170149: unknownExec, // Create order failed
	170150: unknownExec, // Cancel order failed
	170151: rejected,    // The trading pair is not open yet
	170157: rejected,    // The trading pair is not available for api trading
	170190: rejected,    // Cancel order has been finished (ErrOrderNotFound on cancel)
	170191: refusedBusy, // Can not cancel order, please try again later
	170193: rejected,    // Buy order price cannot be higher than %s
	170194: rejected,    // Sell order price cannot be lower than %s
	170210: rejected,    // New order rejected
	170212: unknownExec, // Cancel order request processing
	170213: rejected,    // Order does not exist (ErrOrderNotFound on cancel)
	170217: rejected,    // Only LIMIT-MAKER order is supported for the current pair
	170218: rejected,    // The LIMIT-MAKER order is rejected due to invalid price (would take)
	170222: rateLimited, // Too many requests in this time frame
	170234: unknownExec, // System Error
	170341: rejected,    // Request order quantity exceeds maximum limit
	170381: rejected,    // Order quantity too large
	170382: rejected,    // Order quantity too large
	170810: rejected,    // Cannot exceed maximum of 500 conditional, TP/SL and active orders
	181000: rejected,    // category is null
	181001: rejected,    // category only support linear or option or spot
	181002: rejected,    // symbol is null
	181003: rejected,    // side is null
	181004: rejected,    // side only support Buy or Sell
}

// notFoundCodes answer a cancel of an order the exchange does not have open: never placed
// (170213 spot, 110001 UTA), or already closed. They make the error match
// adapters.ErrOrderNotFound; query the order to learn which.
var notFoundCodes = map[int]bool{170213: true, 110001: true, 170139: true, 170142: true, 170143: true, 170190: true}

// ipBanMarker is what Bybit's 403 says when the IP broke its limit ("403, access too
// frequent", rate-limit.mdx); any other 403 is a block of another kind.
const ipBanMarker = "access too frequent"

// IPBanPause is how long an IP ban lasts at least: "terminate all HTTP sessions and wait for
// at least 10 minutes. The ban will be lifted automatically." The 403 carries no reset time.
const IPBanPause = 10 * time.Minute

// maxLimitWait bounds the wait a 10006's reset timestamp may impose: the per-UID windows are
// one second long, so a reset further away than this is not believed.
const maxLimitWait = 15 * time.Minute

// envelope is every answer's shape (guide.mdx "Common response parameters").
type envelope struct {
	RetCode *int            `json:"retCode"`
	RetMsg  string          `json:"retMsg"`
	Result  json.RawMessage `json:"result"`
	Time    int64           `json:"time"`
}

// ErrMalformedAnswer is rest.ErrMalformedAnswer, for errors.Is.
var ErrMalformedAnswer = rest.ErrMalformedAnswer

func malformed(format string, args ...any) error {
	return fmt.Errorf("bybit: %w: %s", rest.ErrMalformedAnswer, fmt.Sprintf(format, args...))
}

// parseEnvelope reads an answer's envelope.
func parseEnvelope(body []byte) (envelope, error) {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return e, malformed("not a v5 envelope: %v", err)
	}
	if e.RetCode == nil {
		return e, malformed("no retCode in the answer")
	}
	return e, nil
}

// classifyStatus reads the HTTP statuses Bybit answers outside the envelope (error.mdx "HTTP
// Code"): bodies that are not envelopes, so only the status and, for 403, the text decide.
func classifyStatus(status int, body []byte, write bool, out *scheduler.Outcome) {
	row := rejected
	switch {
	case status == http.StatusForbidden && bytes.Contains(bytes.ToLower(body), []byte(ipBanMarker)):
		// The IP limit (600 per 5 s): a rate limit that bans the IP for 10 minutes. Not an auth
		// failure: the key is fine, and the kill switch must not trip for it.
		out.Class, out.Ban = scheduler.ClassRateLimit, true
		out.RetryAfter = max(out.RetryAfter, IPBanPause)
		out.Message = "HTTP 403 access too frequent: the IP broke Bybit's limit of 600 requests per 5 s and is banned for at least 10 minutes"
		return
	case status == http.StatusForbidden:
		// A US or Mainland China IP, a GET with a body, an edge rule: retrying does not help
		// and it is not the key's fault; stop and escalate, as the auth class does.
		out.Class = scheduler.ClassAuth
		out.Message = "HTTP 403 without \"access too frequent\": Bybit's edge refused the request (region-restricted IP, GET with a body, or a CDN rule); not an API key problem"
		return
	case status == http.StatusUnauthorized:
		row = authFailure
	case status == http.StatusTooManyRequests:
		row = rateLimited // "System level frequency protection. Please retry"
	case status >= 500, status < 200, status >= 300 && status < 400:
		row = unknownExec
	}
	out.Class = pick(row, write)
	out.Message = fmt.Sprintf("HTTP %d %s", status, snippet(body))
}

func pick(row rowClass, write bool) scheduler.Class {
	if write {
		return row.write
	}
	return row.read
}

// classifyCode returns the class of a retCode; unknown codes are refusals (the exchange
// answered, and said no), as the 1xxxxx business ranges are.
func classifyCode(code int, write bool) scheduler.Class {
	row, ok := codeTable[code]
	if !ok {
		row = rejected
	}
	return pick(row, write)
}

// limitWait is how long a 10006 says to wait: X-Bapi-Limit-Reset-Timestamp minus the
// envelope's time, both read off the exchange's clock, so the local clock's offset does not
// enter. Without the envelope's time the local estimate of the exchange's clock stands in.
func limitWait(h http.Header, envTime int64, exchangeNow time.Time) (time.Duration, error) {
	v := strings.TrimSpace(h.Get("X-Bapi-Limit-Reset-Timestamp"))
	if v == "" {
		return 0, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return 0, fmt.Errorf("X-Bapi-Limit-Reset-Timestamp %q is not milliseconds", snippet([]byte(v)))
	}
	now := exchangeNow.UnixMilli()
	if envTime > 0 {
		now = envTime
	}
	d := time.Duration(ms-now) * time.Millisecond
	if d > maxLimitWait {
		return maxLimitWait, fmt.Errorf("X-Bapi-Limit-Reset-Timestamp %d is %s away, more than a per-second limit can mean; waiting %s", ms, d, maxLimitWait)
	}
	return max(d, 0), nil
}

// usage reads X-Bapi-Limit and X-Bapi-Limit-Status (what remains) of a private answer into
// the endpoint's window: used = limit - remaining. limit is the account's own limit of the
// endpoint (0 when the headers are missing or make no sense).
func usage(ep endpoint, h http.Header) (u []scheduler.Usage, limit int64) {
	if ep.window == "" {
		return nil, 0
	}
	limit, err1 := strconv.ParseInt(strings.TrimSpace(h.Get("X-Bapi-Limit")), 10, 64)
	left, err2 := strconv.ParseInt(strings.TrimSpace(h.Get("X-Bapi-Limit-Status")), 10, 64)
	if err1 != nil || err2 != nil || limit <= 0 || limit > maxEndpointLimit || left < 0 || left > limit {
		return nil, 0
	}
	return []scheduler.Usage{{Window: ep.window, Used: limit - left}}, limit
}

// maxEndpointLimit bounds a per-second limit believed from X-Bapi-Limit (PRO6's order limit is
// 1200/s).
const maxEndpointLimit = 100_000

// withoutOrigin drops what a 10004 echoes of the string the server expected to be signed
// ("error sign! origin_string[<timestamp><api key><recv_window><payload>]"): it carries the
// API key, which must not reach a log.
func withoutOrigin(msg string) string {
	i := strings.Index(msg, "origin_string[")
	if i < 0 {
		return msg
	}
	rest := msg[i+len("origin_string["):]
	end := strings.LastIndex(rest, "]")
	if end < 0 {
		return msg[:i] + "origin_string[REDACTED]"
	}
	return msg[:i] + "origin_string[REDACTED]" + rest[end+1:]
}

// snippet bounds text from an answer quoted in a message.
func snippet(b []byte) string {
	const n = 120
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.TrimSpace(s)
}
