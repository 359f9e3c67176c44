package coinbase

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
// effect unknown is ClassUnknown for a write and ClassTransient for a read.
type rowClass struct{ read, write scheduler.Class }

var (
	rateLimited = rowClass{scheduler.ClassRateLimit, scheduler.ClassRateLimit}
	authFailure = rowClass{scheduler.ClassAuth, scheduler.ClassAuth}
	unknownExec = rowClass{scheduler.ClassTransient, scheduler.ClassUnknown}
	rejected    = rowClass{scheduler.ClassValidation, scheduler.ClassValidation}
	// refusedBusy: refused before anything was done, a retry is safe for a write too.
	refusedBusy = rowClass{scheduler.ClassTransient, scheduler.ClassTransient}
)

func (r rowClass) pick(write bool) scheduler.Class {
	if write {
		return r.write
	}
	return r.read
}

// reason is one documented failure reason: its class, and the number Keel gives it in
// scheduler.Outcome.Code (Coinbase's reasons are strings; the numbers are Keel's own, stable,
// so that callers can test for one with errors.As).
type reason struct {
	code  int
	class rowClass
}

// Numbers of the reasons the adapter acts on.
const (
	codeUnknownCancelOrder  = 2001
	codeFullyFilled         = 2002
	codeDuplicateCancel     = 2003
	codeRateLimitExceeded   = 1900
	codeMissingScopes       = 4030
	codeNotFound            = 4040
	codeUnauthorized        = 4010
	codeTooManyRequests     = 4290
	codeOrderEntryDisabled  = 1009
	codeUnknownCancelReason = 2000
)

// reasons maps every failure reason the Advanced Trade spec documents for the endpoints the
// adapter uses — NewOrderFailureReason, PreviewFailureReason (error_response of a create that
// answered success:false), CancelOrderFailureReason (a batch_cancel result), and the order
// reject_reason RATE_LIMIT_EXCEEDED — to a class. Every create refusal is a refusal of that
// request (success:false: nothing was created), so a validation failure, except where the
// reason says the limit or the service refused it. Preview reasons not listed are
// validation failures too (classifyReason).
var reasons = map[string]reason{
	// NewOrderFailureReason
	"UNKNOWN_FAILURE_REASON":              {1000, rejected},
	"UNSUPPORTED_ORDER_CONFIGURATION":     {1001, rejected},
	"INVALID_SIDE":                        {1002, rejected},
	"INVALID_PRODUCT_ID":                  {1003, rejected},
	"INVALID_SIZE_PRECISION":              {1004, rejected},
	"INVALID_PRICE_PRECISION":             {1005, rejected},
	"INSUFFICIENT_FUND":                   {1006, rejected},
	"INVALID_LEDGER_BALANCE":              {1007, rejected},
	"ORDER_ENTRY_DISABLED":                {codeOrderEntryDisabled, rejected}, // the account may not trade; its key still works
	"INELIGIBLE_PAIR":                     {1010, rejected},
	"INVALID_LIMIT_PRICE_POST_ONLY":       {1011, rejected},
	"INVALID_LIMIT_PRICE":                 {1012, rejected},
	"INVALID_NO_LIQUIDITY":                {1013, rejected},
	"INVALID_REQUEST":                     {1014, rejected},
	"COMMANDER_REJECTED_NEW_ORDER":        {1015, rejected},
	"INSUFFICIENT_FUNDS":                  {1016, rejected},
	"IN_LIQUIDATION":                      {1017, rejected},
	"INVALID_MARGIN_TYPE":                 {1018, rejected},
	"INVALID_LEVERAGE":                    {1019, rejected},
	"UNTRADABLE_PRODUCT":                  {1020, rejected},
	"INVALID_FCM_TRADING_SESSION":         {1021, rejected},
	"GEOFENCING_RESTRICTION":              {1022, authFailure}, // a region block: the operator's matter, not a retry
	"QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET":  {1023, rejected},
	"INVALID_BRACKET_PRICES":              {1024, rejected},
	"MISSING_MARKET_TRADE_DATA":           {1025, refusedBusy}, // no market data to price it yet: later may work
	"INVALID_BRACKET_LIMIT_PRICE":         {1026, rejected},
	"INVALID_BRACKET_STOP_TRIGGER_PRICE":  {1027, rejected},
	"BRACKET_LIMIT_PRICE_OUT_OF_BOUNDS":   {1028, rejected},
	"STOP_TRIGGER_PRICE_OUT_OF_BOUNDS":    {1029, rejected},
	"BRACKET_ORDER_NOT_SUPPORTED":         {1030, rejected},
	"FOK_DISABLED":                        {1031, rejected},
	"FOK_ONLY_ALLOWED_ON_LIMIT_ORDERS":    {1032, rejected},
	"POST_ONLY_NOT_ALLOWED_WITH_FOK":      {1033, rejected},
	"UBO_HIGH_LEVERAGE_QUANTITY_BREACHED": {1034, rejected},
	"END_TIME_TOO_FAR_IN_FUTURE":          {1035, rejected},
	"LIMIT_PRICE_TOO_FAR_FROM_MARKET":     {1036, rejected},
	"ORDER_SIZE_TOO_LARGE":                {1037, rejected},
	// An accepted order can end FAILED with reject_reason RATE_LIMIT_EXCEEDED: the order
	// rate was over the limit (the changelog's reject reasons).
	"RATE_LIMIT_EXCEEDED": {codeRateLimitExceeded, rateLimited},
	// CancelOrderFailureReason
	"UNKNOWN_CANCEL_FAILURE_REASON":      {codeUnknownCancelReason, unknownExec},
	"INVALID_CANCEL_REQUEST":             {2004, rejected},
	"UNKNOWN_CANCEL_ORDER":               {codeUnknownCancelOrder, rejected},
	"COMMANDER_REJECTED_CANCEL_ORDER":    {2005, rejected},
	"DUPLICATE_CANCEL_REQUEST":           {codeDuplicateCancel, rejected},
	"INVALID_CANCEL_PRODUCT_ID":          {2006, rejected},
	"INVALID_CANCEL_FCM_TRADING_SESSION": {2007, rejected},
	"NOT_ALLOWED_TO_CANCEL":              {2008, rejected},
	"ORDER_IS_FULLY_FILLED":              {codeFullyFilled, rejected},
	"ORDER_IS_BEING_REPLACED":            {2009, refusedBusy},
}

// notFoundCodes are the cancel reasons that say the order is not open: never known, filled,
// or already cancelled. They make CancelOrder's error match adapters.ErrOrderNotFound.
var notFoundCodes = map[int]bool{codeUnknownCancelOrder: true, codeFullyFilled: true, codeDuplicateCancel: true, codeNotFound: true}

// classifyReason returns a reason's number and class; an unlisted PREVIEW_ reason is a
// validation failure (the preview found the order wrong), anything else unlisted too (the
// exchange answered, and said no).
func classifyReason(r string, write bool) (int, scheduler.Class) {
	if row, ok := reasons[r]; ok {
		return row.code, row.class.pick(write)
	}
	return 1999, rejected.pick(write)
}

// createAnswer is POST /orders' answer (CreateOrderResponse).
type createAnswer struct {
	Success         *bool  `json:"success"`
	FailureReason   string `json:"failure_reason"`
	OrderID         string `json:"order_id"`
	SuccessResponse *struct {
		OrderID       string `json:"order_id"`
		ProductID     string `json:"product_id"`
		Side          string `json:"side"`
		ClientOrderID string `json:"client_order_id"`
	} `json:"success_response"`
	ErrorResponse *struct {
		Error                 string `json:"error"`
		Message               string `json:"message"`
		ErrorDetails          string `json:"error_details"`
		PreviewFailureReason  string `json:"preview_failure_reason"`
		NewOrderFailureReason string `json:"new_order_failure_reason"`
	} `json:"error_response"`
}

// failure is the reason of a create that answered success:false: new_order_failure_reason
// when it says more than UNKNOWN_FAILURE_REASON, else preview_failure_reason, else
// error_response.error.
func (a createAnswer) failure() (string, string) {
	if a.ErrorResponse == nil {
		return a.FailureReason, ""
	}
	e := a.ErrorResponse
	r := e.NewOrderFailureReason
	if r == "" || r == "UNKNOWN_FAILURE_REASON" {
		switch p := e.PreviewFailureReason; {
		case p != "" && p != "UNKNOWN_PREVIEW_FAILURE_REASON":
			r = p
		case e.Error != "":
			r = e.Error
		}
	}
	if r == "" {
		r = a.FailureReason
	}
	return r, e.Message
}

// cancelAnswer is POST /orders/batch_cancel's answer.
type cancelAnswer struct {
	Results []struct {
		Success       bool   `json:"success"`
		FailureReason string `json:"failure_reason"`
		OrderID       string `json:"order_id"`
	} `json:"results"`
}

// gatewayError is grpc-gateway's error body: {error, code, message, details}.
type gatewayError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func parseCreate(body []byte) (createAnswer, error) {
	var a createAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return a, malformed("order create: %v", err)
	}
	if a.Success == nil {
		return a, malformed("order create: no success field")
	}
	return a, nil
}

func parseCancel(body []byte) (cancelAnswer, error) {
	var a cancelAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return a, malformed("batch cancel: %v", err)
	}
	if len(a.Results) == 0 {
		return a, malformed("batch cancel: no results")
	}
	return a, nil
}

// classifyAnswer reads an answer for the scheduler. The status decides only for what comes
// without a body of Coinbase's (401, 429's HTML, 5xx); a 200 is read for success:false.
func (c *Client) classifyAnswer(a rest.Answer, out *scheduler.Outcome) {
	ep, _ := endpointAt(a.Method, a.Endpoint)
	out.Usage = usage(ep, a.Header)
	switch {
	case a.Status == http.StatusOK && ep == epCreate:
		ans, err := parseCreate(a.Body)
		if err != nil {
			out.Class, out.Err = rest.TransportClass(true, a.Write), err
			return
		}
		if !*ans.Success {
			r, msg := ans.failure()
			out.Code, out.Class = classifyReason(r, a.Write)
			out.Message = snippet([]byte(r + ": " + msg))
			out.OrderLimit = out.Class == scheduler.ClassRateLimit
		}
	case a.Status == http.StatusOK && ep == epCancel:
		ans, err := parseCancel(a.Body)
		if err != nil {
			out.Class, out.Err = rest.TransportClass(true, a.Write), err
			return
		}
		if r := ans.Results[0]; !r.Success {
			out.Code, out.Class = classifyReason(r.FailureReason, a.Write)
			out.Message = snippet([]byte(r.FailureReason))
		}
	case a.Status == http.StatusOK && ep.path == epGetOrder.path && ep.method == http.MethodGet:
		// An order read back right after its create that already ended FAILED for the order
		// rate: the create was one too many. The first such answer is the rate-limit signal
		// (the read-back runs in the orders bucket, which the scheduler then holds); its retry
		// reads the order as it is.
		var r struct {
			Order struct {
				OrderID      string `json:"order_id"`
				Status       string `json:"status"`
				RejectReason string `json:"reject_reason"`
			} `json:"order"`
		}
		if json.Unmarshal(a.Body, &r) == nil && r.Order.Status == "FAILED" && r.Order.RejectReason == "RATE_LIMIT_EXCEEDED" {
			if _, first := c.readBacks.LoadAndDelete(r.Order.OrderID); first {
				out.Class, out.Code, out.OrderLimit = scheduler.ClassRateLimit, codeRateLimitExceeded, true
				out.RetryAfter = max(out.RetryAfter, time.Second)
				out.Message = "order accepted, then FAILED with RATE_LIMIT_EXCEEDED: over Coinbase's order rate"
			}
		}
	case a.Status >= 200 && a.Status < 300:
	case a.Status == http.StatusTooManyRequests:
		// The body is an HTML page: never parsed, never quoted.
		out.Class, out.Code = scheduler.ClassRateLimit, codeTooManyRequests
		if out.RetryAfter == 0 {
			out.RetryAfter = resetWait(a.Header, a.Now.Add(c.time.Offset(a.Now)))
		}
		out.OrderLimit = ep == epCreate
		out.Message = "HTTP 429: over Coinbase's request rate (the answer's HTML body is not read)"
	case a.Status == http.StatusUnauthorized:
		// The JWT was refused twice (the transport re-signs once): the key, its secret, the
		// clock or the uri is wrong. The clock is measured again before the next signature.
		c.time.MarkStale()
		out.Class, out.Code = scheduler.ClassAuth, codeUnauthorized
		out.Message = "HTTP 401 Unauthorized: Coinbase refused the JWT (unknown or revoked key, wrong secret, clock or uri)"
	case a.Status == http.StatusForbidden:
		out.Class, out.Code = scheduler.ClassAuth, codeMissingScopes
		out.Message = "HTTP 403: " + gatewayMessage(a.Body)
		if bytes.Contains(bytes.ToLower(a.Body), []byte("missing required scopes")) {
			out.Message = "HTTP 403 Missing required scopes: the API key lacks a permission this call needs (a permission stop, not a retry)"
		}
	case a.Status == http.StatusNotFound:
		out.Class, out.Code = scheduler.ClassValidation, codeNotFound
		out.Message = "HTTP 404: " + gatewayMessage(a.Body)
	case a.Status == http.StatusBadRequest:
		out.Class, out.Code = scheduler.ClassValidation, http.StatusBadRequest
		out.Message = "HTTP 400: " + gatewayMessage(a.Body)
	default:
		out.Class = unknownExec.pick(a.Write)
		out.Message = fmt.Sprintf("HTTP %d: %s", a.Status, gatewayMessage(a.Body))
	}
}

// gatewayMessage is the error and message of a grpc-gateway body, or a bounded snippet of a
// body that is not one (never an HTML page).
func gatewayMessage(body []byte) string {
	var g gatewayError
	if json.Unmarshal(body, &g) == nil && (g.Error != "" || g.Message != "") {
		return snippet([]byte(strings.TrimSpace(g.Error + " " + g.Message)))
	}
	if bytes.Contains(bytes.ToLower(body), []byte("<html")) {
		return "(an HTML page)"
	}
	return snippet(body)
}

// maxResetWait bounds the wait x-ratelimit-reset may impose: the windows are one second
// long, so a reset further away is not believed.
const maxResetWait = time.Minute

// resetWait is how long x-ratelimit-reset says to wait, read against the exchange's clock.
// Its format is undocumented (a guess): a Unix time in seconds; a small number is taken as
// seconds from now.
func resetWait(h http.Header, exchangeNow time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("X-Ratelimit-Reset"))
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f != f {
		return 0
	}
	var d time.Duration
	if f < 1e9 {
		d = time.Duration(f * float64(time.Second))
	} else {
		d = time.Unix(0, int64(f*1e9)).Sub(exchangeNow)
	}
	return min(max(d, 0), maxResetWait)
}

// maxLimit bounds a limit believed from x-ratelimit-limit.
const maxLimit = 100_000

// usage reads x-ratelimit-limit and -remaining into the endpoint's window: used = limit -
// remaining. Headers that are missing or make no sense are ignored.
func usage(ep endpoint, h http.Header) []scheduler.Usage {
	if ep.path == "" {
		return nil
	}
	limit, err1 := strconv.ParseInt(strings.TrimSpace(h.Get("X-Ratelimit-Limit")), 10, 64)
	left, err2 := strconv.ParseInt(strings.TrimSpace(h.Get("X-Ratelimit-Remaining")), 10, 64)
	if err1 != nil || err2 != nil || limit <= 0 || limit > maxLimit || left < 0 || left > limit {
		return nil
	}
	return []scheduler.Usage{{Window: ep.window(), Used: limit - left}}
}

// snippet bounds text from an answer quoted in a message.
func snippet(b []byte) string {
	const n = 160
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

func malformed(format string, args ...any) error {
	return fmt.Errorf("coinbase: %w: %s", rest.ErrMalformedAnswer, fmt.Sprintf(format, args...))
}
