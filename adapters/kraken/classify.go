package kraken

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/scheduler"
)

// rowClass is a failure's class for a read and for a write: an answer that leaves a write's
// effect unknown is ClassUnknown for it (reconcile before resending), ClassTransient for a
// read (retry).
type rowClass struct {
	read, write scheduler.Class
}

var (
	authFailure = rowClass{scheduler.ClassAuth, scheduler.ClassAuth}
	rateLimited = rowClass{scheduler.ClassRateLimit, scheduler.ClassRateLimit}
	unknownExec = rowClass{scheduler.ClassTransient, scheduler.ClassUnknown}
	transient   = rowClass{scheduler.ClassTransient, scheduler.ClassTransient}
	rejected    = rowClass{scheduler.ClassValidation, scheduler.ClassValidation}
)

// errorRow is one documented error: its string up to the first variable part (Kraken's
// format is <severity><category>:<message>[:<extra>]), and its class.
type errorRow struct {
	prefix string
	class  rowClass
	// orderLimit marks the trading-engine counter: it holds new orders only.
	orderLimit bool
}

// errorTable classifies every error of docs.kraken.com guides spot-errors, the rate-limit
// guides, and those client libraries see that the table lacks (EOrder:Unknown order,
// EService:Busy). Matched by prefix, first match wins; anything else is a validation failure
// (the exchange refused the request, it did not fail to process it).
var errorTable = []errorRow{
	// Authentication: never retried; the auth breaker stops private calls. Invalid nonces
	// and keys count toward a temporary lockout, so they are never blindly resent.
	{prefix: "EAPI:Invalid key", class: authFailure},
	{prefix: "EAPI:Invalid signature", class: authFailure},
	{prefix: "EAPI:Invalid nonce", class: authFailure},
	{prefix: "EAPI:Bad request", class: authFailure},
	{prefix: "EGeneral:Temporary lockout", class: authFailure},
	{prefix: "EGeneral:Permission denied", class: authFailure},
	{prefix: "EAccount:Invalid permissions", class: authFailure},
	{prefix: "EAuth:Account temporary disabled", class: authFailure},
	{prefix: "EAuth:Account unconfirmed", class: authFailure},
	// Rate limits.
	{prefix: "EAPI:Rate limit exceeded", class: rateLimited},
	{prefix: "EOrder:Rate limit exceeded", class: rateLimited, orderLimit: true},
	{prefix: "EOrder:Domain rate limit exceeded", class: rateLimited, orderLimit: true},
	{prefix: "EService:Throttled", class: rateLimited},
	{prefix: "EService: Throttled", class: rateLimited},
	{prefix: "EGeneral:Too many requests", class: rateLimited},
	{prefix: "EAuth:Rate limit exceeded", class: rateLimited},
	{prefix: "EAuth:Too many requests", class: rateLimited},
	// The exchange's own trouble: a write may have landed.
	{prefix: "EService:Unavailable", class: unknownExec},
	{prefix: "EService:Busy", class: unknownExec},
	{prefix: "EService:Deadline elapsed", class: unknownExec},
	{prefix: "EGeneral:Internal error", class: unknownExec},
	// A market that only takes some orders now: refused for sure, fine later.
	{prefix: "EService:Market in cancel_only mode", class: transient},
	{prefix: "EService:Market in post_only mode", class: transient},
	{prefix: "EService:Market in limit_only mode", class: transient},
	// Refusals of the request itself.
	{prefix: "EOrder:Unknown order", class: rejected},
	{prefix: "EOrder:Invalid order", class: rejected},
	{prefix: "EOrder:Orders limit exceeded", class: rejected},
	{prefix: "EOrder:Insufficient funds", class: rejected},
	{prefix: "EOrder:Order minimum not met", class: rejected},
	{prefix: "EOrder:Cost minimum not met", class: rejected},
	{prefix: "EOrder:Tick size check failed", class: rejected},
	{prefix: "EOrder:Invalid price", class: rejected},
	{prefix: "EOrder:Post only order", class: rejected},
	{prefix: "EOrder:Duplicate order", class: rejected},
	{prefix: "EGeneral:Invalid arguments", class: rejected},
	{prefix: "EGeneral:Unknown method", class: rejected},
	{prefix: "EQuery:Unknown asset pair", class: rejected},
	{prefix: "EQuery:Unknown asset", class: rejected},
}

// classifyError returns the row of one Kraken error string.
func classifyError(msg string) errorRow {
	for _, r := range errorTable {
		if strings.HasPrefix(msg, r.prefix) {
			return r
		}
	}
	return errorRow{prefix: msg, class: rejected}
}

// maxRetryAfter bounds the waits an answer may impose.
const maxRetryAfter = time.Hour

// classify reads an answer into out (rest.Config.Classify). Kraken reports its failures in
// HTTP 200 bodies ({"error":["EAPI:Invalid key"]}); another status is trouble reaching it
// (Cloudflare): 429 a rate limit with its Retry-After, 5xx unknown for a write, 401/403 a
// refusal to stop on, other 4xx validation, 3xx transient.
// restMax is the REST counter's maximum, which an EAPI:Rate limit exceeded reports as the
// key's usage.
func classify(a rest.Answer, out *scheduler.Outcome, restMax int64) {
	errs := envelopeErrors(a.Body)
	if len(errs) > 0 {
		out.Message = strings.Join(errs, "; ")
	}
	pick := func(r rowClass) scheduler.Class {
		if a.Write {
			return r.write
		}
		return r.read
	}
	if a.Status != http.StatusOK {
		switch {
		case a.Status == http.StatusTooManyRequests:
			out.Class = scheduler.ClassRateLimit
		case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden:
			out.Class = scheduler.ClassAuth
		case a.Status >= 500 || a.Status < 400:
			out.Class = pick(unknownExec)
		default:
			out.Class = scheduler.ClassValidation
		}
		return
	}
	if len(errs) == 0 {
		return
	}
	row := classifyError(errs[0])
	out.Class = pick(row.class)
	out.OrderLimit = row.orderLimit
	if row.class == rateLimited {
		if d := throttledFor(errs[0], a.Now); d > 0 {
			out.RetryAfter = d
		}
		if row.prefix == "EAPI:Rate limit exceeded" {
			// The key's counter is at its maximum, whatever the scheduler counted.
			out.Usage = []scheduler.Usage{{Window: WindowREST, Used: restMax}}
		}
	}
}

// envelopeErrors returns the error strings of a Kraken envelope that are errors (severity E;
// W is a warning), nil if the body is not an envelope.
func envelopeErrors(body []byte) []string {
	var env struct {
		Error []string `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil
	}
	var out []string
	for _, e := range env.Error {
		if !strings.HasPrefix(e, "W") {
			out = append(out, e)
		}
	}
	return out
}

// throttledFor reads "EService:Throttled: 1688669448" (too many concurrent requests: try
// again after that Unix time) into a wait from now, in whole seconds rounded up; 0 if the
// message carries no sensible time.
func throttledFor(msg string, now time.Time) time.Duration {
	i := strings.LastIndexByte(msg, ':')
	if i < 0 || !strings.Contains(msg, "Throttled") {
		return 0
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(msg[i+1:]), 10, 64)
	if err != nil {
		return 0
	}
	d := rest.Until(time.Unix(ts, 0), now, maxRetryAfter)
	if d <= 0 {
		return 0
	}
	if r := d % time.Second; r > 0 {
		d += time.Second - r
	}
	return d
}
