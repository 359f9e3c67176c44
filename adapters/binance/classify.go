package binance

import (
	"net/http"

	"github.com/keelbot/keel/scheduler"
)

// How a failure is classified depends on whether the call writes: an answer that leaves the
// execution status unknown is ClassUnknown for a write (it may have landed; reconcile before
// resending) and ClassTransient for a read (just retry).
type rowClass struct {
	read, write scheduler.Class
	ban         bool
}

var (
	rateLimited = rowClass{read: scheduler.ClassRateLimit, write: scheduler.ClassRateLimit}
	banned      = rowClass{read: scheduler.ClassRateLimit, write: scheduler.ClassRateLimit, ban: true}
	authFailure = rowClass{read: scheduler.ClassAuth, write: scheduler.ClassAuth}
	unknownExec = rowClass{read: scheduler.ClassTransient, write: scheduler.ClassUnknown}
	rejected    = rowClass{read: scheduler.ClassValidation, write: scheduler.ClassValidation}
)

// codeTable maps every error code in Binance's errors.md that the REST API can answer to a
// failure class. The message of -1010/-2010/-2011/-2038 varies (errors.md "Messages for
// -1010 ...") but never changes the class: the matching engine rejected the request.
var codeTable = map[int]rowClass{
	// 10xx: general server or network issues.
	-1000: unknownExec, // UNKNOWN: an unknown error occurred while processing the request
	-1001: unknownExec, // DISCONNECTED: internal error; unable to process your request
	-1002: authFailure, // UNAUTHORIZED
	-1003: rateLimited, // TOO_MANY_REQUESTS (with HTTP 418 the ban row wins, see classify)
	-1006: unknownExec, // UNEXPECTED_RESP: execution status unknown
	-1007: unknownExec, // TIMEOUT: send status unknown; execution status unknown
	-1008: unknownExec, // SERVER_BUSY: overloaded, try again in a few minutes
	-1013: rejected,    // INVALID_MESSAGE: filter failures, rejected before the engine
	-1014: rejected,    // UNKNOWN_ORDER_COMPOSITION
	-1015: rateLimited, // TOO_MANY_ORDERS
	-1016: unknownExec, // SERVICE_SHUTTING_DOWN
	-1020: rejected,    // UNSUPPORTED_OPERATION
	-1021: authFailure, // INVALID_TIMESTAMP: outside recvWindow / ahead of server time
	-1022: authFailure, // INVALID_SIGNATURE
	-1034: rateLimited, // TOO_MANY_CONNECTIONS
	// 11xx: request issues. -1100 ... -1130 and the rest of the 11xx range are validation.
	-1100: rejected, -1101: rejected, -1102: rejected, -1103: rejected, -1104: rejected,
	-1105: rejected, -1106: rejected, -1108: rejected, -1111: rejected, -1112: rejected,
	-1114: rejected, -1115: rejected, -1116: rejected, -1117: rejected, -1118: rejected,
	-1119: rejected, -1120: rejected, -1121: rejected, -1122: rejected, -1125: rejected,
	-1127: rejected, -1128: rejected, -1130: rejected, -1134: rejected, -1135: rejected,
	-1139: rejected, -1145: rejected, -1151: rejected, -1158: rejected, -1160: rejected,
	-1165: rejected, -1166: rejected, -1168: rejected, -1194: rejected, -1196: rejected,
	-1197: rejected, -1198: rejected, -1199: rejected, -1210: rejected, -1211: rejected,
	-1220: rejected, -1222: rejected, -1223: rejected, -1224: rejected, -1225: rejected,
	// 20xx: order and key issues.
	-1010: rejected,    // ERROR_MSG_RECEIVED (matching engine message)
	-2010: rejected,    // NEW_ORDER_REJECTED (e.g. "Duplicate order sent.", insufficient balance)
	-2011: rejected,    // CANCEL_REJECTED ("Unknown order sent." maps to ErrOrderNotFound)
	-2013: rejected,    // NO_SUCH_ORDER "Order does not exist." (ErrOrderNotFound on query)
	-2014: authFailure, // BAD_API_KEY_FMT
	-2015: authFailure, // REJECTED_MBX_KEY: invalid API-key, IP, or permissions
	-2016: rejected,    // NO_TRADING_WINDOW
	-2026: rejected,    // ORDER_ARCHIVED
	-2038: rejected,    // ORDER_AMEND_REJECTED
	-2039: rejected,    // CLIENT_ORDER_ID_INVALID
}

// statusClass classifies by HTTP status alone (rest-api.md "HTTP Return Codes").
func statusClass(status int) rowClass {
	switch {
	case status == http.StatusTeapot: // 418: IP auto-banned after ignoring 429s
		return banned
	case status == http.StatusTooManyRequests:
		return rateLimited
	case status == http.StatusUnauthorized:
		return authFailure
	case status == http.StatusForbidden:
		// 403: "a WAF (Web Application Firewall) rule has been violated. This can indicate a
		// rate limit violation or a security block." The edge blocks the IP, not the key:
		// hold every request of the IP as for a ban of unknown length (the scheduler's
		// backoff.ban_pause, doubled on repeats) and resume slowly, rather than trip the kill
		// switch over a block that lifts on its own. Auth failures are 401s and -1022/-2015.
		return banned
	case status >= 500:
		// 5XX: "the execution status is UNKNOWN and could have been a success".
		return unknownExec
	case status >= 400:
		return rejected
	}
	return rowClass{}
}

// classify returns the failure class of an answer with HTTP status and Binance error code
// (0 when the body had none), and whether it is an IP ban. The status decides first for
// 418/429/401/403/5xx (a code cannot make a ban or a WAF block milder, nor a 5xx's outcome
// known); otherwise a known code decides; otherwise the status does.
func classify(status, code int, write bool) (scheduler.Class, bool) {
	row, ok := codeTable[code]
	switch {
	case status == http.StatusTeapot, status == http.StatusTooManyRequests,
		status == http.StatusUnauthorized, status == http.StatusForbidden:
		row = statusClass(status)
	case status >= 500:
		// A 5xx keeps its "unknown" meaning unless the code says the request was refused
		// for a reason that is certain (rate limit, auth, validation).
		if !ok || row == unknownExec {
			row = unknownExec
		}
	case !ok && code <= -1100 && code >= -1199:
		// The rest of the 11xx range: request issues (errors.md "11xx - Request issues").
		row = rejected
	case !ok:
		if code != 0 && status < 400 {
			// An error code on a 2xx/3xx answer: the exchange refused something we cannot
			// place; treat like a 4xx.
			row = rejected
		} else {
			row = statusClass(status)
		}
	}
	if row == (rowClass{}) {
		return scheduler.ClassNone, false
	}
	if write {
		return row.write, row.ban
	}
	return row.read, row.ban
}

// transportClass classifies an attempt that got no answer. When the request may have reached
// the exchange (it was written, or we cannot tell), a write's outcome is unknown.
func transportClass(written, write bool) scheduler.Class {
	if write && written {
		return scheduler.ClassUnknown
	}
	return scheduler.ClassTransient
}
