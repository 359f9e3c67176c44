package sim

import (
	"fmt"
	"net/http"
)

// apiError is an answer in Binance's error shape: {"code":-1121,"msg":"Invalid symbol."}. The
// codes and messages are those of errors.md in binance/binance-spot-api-docs; the HTTP statuses
// are those rest-api.md ("HTTP Return Codes") gives for each family.
type apiError struct {
	status int
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
}

func (e *apiError) Error() string { return fmt.Sprintf("sim: %d %s", e.Code, e.Msg) }

func errf(status, code int, format string, a ...any) *apiError {
	return &apiError{status: status, Code: code, Msg: fmt.Sprintf(format, a...)}
}

// Messages, verbatim from errors.md.
const (
	msgTooManyRequests   = "Too many requests queued."
	msgWeightExceeded    = "Too much request weight used; current limit is %d request weight per %s. Please use WebSocket Streams for live updates to avoid polling the API."
	msgBanned            = "Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans."
	msgTooManyOrders     = "Too many new orders; current limit is %d orders per %s."
	msgTimeout           = "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
	msgUnknown           = "An unknown error occurred while processing the request."
	msgServerBusy        = "Server is currently overloaded with other requests. Please try again in a few minutes."
	msgUnsupportedOp     = "This operation is not supported."
	msgOutsideRecvWindow = "Timestamp for this request is outside of the recvWindow."
	msgAheadOfServer     = "Timestamp for this request was 1000ms ahead of the server's time."
	msgBadSignature      = "Signature for this request is not valid."
	msgBadKeyFormat      = "API-key format invalid."
	msgRejectedKey       = "Invalid API-key, IP, or permissions for action."
	msgInvalidSymbol     = "Invalid symbol."
	msgUnknownOrder      = "Unknown order sent."
	msgDuplicateOrder    = "Duplicate order sent."
	msgNoSuchOrder       = "Order does not exist."
	msgInsufficient      = "Account has insufficient balance for requested action."
	msgWouldTake         = "Order would immediately match and take."
	msgUnsupportedCombo  = "Unsupported order combination"
	msgClientIDMismatch  = "Client order ID is not correct for this order ID."
	msgTradingDisabled   = "This account may not place or cancel orders."
)

// Constructors for the errors the simulator answers. Each names its code as errors.md does.

func errTooManyRequests() *apiError {
	return errf(http.StatusTooManyRequests, -1003, msgTooManyRequests)
}
func errWeightExceeded(limit int64, per string) *apiError {
	return errf(http.StatusTooManyRequests, -1003, msgWeightExceeded, limit, per)
}
func errBanned(untilMs int64) *apiError {
	return errf(http.StatusTeapot, -1003, msgBanned, untilMs)
}
func errTooManyOrders(limit int64, per string) *apiError {
	return errf(http.StatusTooManyRequests, -1015, msgTooManyOrders, limit, per)
}
func errIllegalChars(param, legal string) *apiError {
	return errf(http.StatusBadRequest, -1100, "Illegal characters found in parameter '%s'; legal range is '%s'.", param, legal)
}
func errIllegalCharsAny() *apiError {
	return errf(http.StatusBadRequest, -1100, "Illegal characters found in a parameter.")
}
func errDuplicateParam() *apiError {
	return errf(http.StatusBadRequest, -1101, "Duplicate values for a parameter detected.")
}
func errTooManyParams() *apiError {
	return errf(http.StatusBadRequest, -1101, "Too many parameters sent for this endpoint.")
}
func errMandatory(param string) *apiError {
	return errf(http.StatusBadRequest, -1102, "Mandatory parameter '%s' was not sent, was empty/null, or malformed.", param)
}
func errEitherParam(a, b string) *apiError {
	return errf(http.StatusBadRequest, -1102, "Param '%s' or '%s' must be sent, but both were empty/null!", a, b)
}
func errUnread(read, sent int) *apiError {
	return errf(http.StatusBadRequest, -1104, "Not all sent parameters were read; read '%d' parameter(s) but was sent '%d'.", read, sent)
}
func errParamEmpty(param string) *apiError {
	return errf(http.StatusBadRequest, -1105, "Parameter '%s' was empty.", param)
}
func errNotRequired(param string) *apiError {
	return errf(http.StatusBadRequest, -1106, "Parameter '%s' sent when not required.", param)
}
func errOverflow(param string) *apiError {
	return errf(http.StatusBadRequest, -1108, "Parameter '%s' overflowed.", param)
}
func errPrecision(param string) *apiError {
	return errf(http.StatusBadRequest, -1111, "Parameter '%s' has too much precision.", param)
}
func errInvalidTIF() *apiError  { return errf(http.StatusBadRequest, -1115, "Invalid timeInForce.") }
func errInvalidType() *apiError { return errf(http.StatusBadRequest, -1116, "Invalid orderType.") }
func errInvalidSide() *apiError { return errf(http.StatusBadRequest, -1117, "Invalid side.") }
func errEmptyNewClID() *apiError {
	return errf(http.StatusBadRequest, -1118, "New client order ID was empty.")
}
func errEmptyOrigClID() *apiError {
	return errf(http.StatusBadRequest, -1119, "Original client order ID was empty.")
}
func errInvalidSymbol() *apiError { return errf(http.StatusBadRequest, -1121, msgInvalidSymbol) }
func errBadCombo() *apiError {
	return errf(http.StatusBadRequest, -1128, "Combination of optional parameters invalid.")
}
func errInvalidParam(param string) *apiError {
	return errf(http.StatusBadRequest, -1130, "Data sent for parameter '%s' is not valid.", param)
}
func errFilter(name string) *apiError {
	return errf(http.StatusBadRequest, -1013, "Filter failure: %s", name)
}
func errOrderRejected(msg string) *apiError { return errf(http.StatusBadRequest, -2010, "%s", msg) }
func errCancelRejected(msg string) *apiError {
	return errf(http.StatusBadRequest, -2011, "%s", msg)
}
func errNoSuchOrder() *apiError { return errf(http.StatusBadRequest, -2013, msgNoSuchOrder) }
func errClientIDMismatch() *apiError {
	return errf(http.StatusBadRequest, -2039, msgClientIDMismatch)
}
func errOutsideRecvWindow() *apiError {
	return errf(http.StatusBadRequest, -1021, msgOutsideRecvWindow)
}
func errAheadOfServer() *apiError { return errf(http.StatusBadRequest, -1021, msgAheadOfServer) }
func errBadSignature() *apiError  { return errf(http.StatusBadRequest, -1022, msgBadSignature) }
func errBadKeyFormat() *apiError  { return errf(http.StatusUnauthorized, -2014, msgBadKeyFormat) }
func errRejectedKey() *apiError   { return errf(http.StatusUnauthorized, -2015, msgRejectedKey) }
func errTimeout() *apiError       { return errf(http.StatusServiceUnavailable, -1007, msgTimeout) }
func errUnsupportedOp() *apiError { return errf(http.StatusNotFound, -1020, msgUnsupportedOp) }
