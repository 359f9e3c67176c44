package sim

import "net/http"

// statusFilter reads symbolStatus (rest-api.md, on depth and the tickers): "Filters for
// symbols that have this tradingStatus. For a single symbol, a status mismatch returns error
// -1220 SYMBOL_DOES_NOT_MATCH_STATUS. For multiple or all symbols, non-matching ones are simply
// excluded from the response." Every simulated symbol is TRADING, so the filter keeps all or
// none. A value other than TRADING, HALT or BREAK is -1130 (the docs do not say which error).
func statusFilter(q *request, single bool) (keep bool, aerr *apiError) {
	v, ok := q.str("symbolStatus")
	switch {
	case !ok || v == "TRADING":
		return true, nil
	case v == "HALT" || v == "BREAK":
		if single {
			return false, errf(http.StatusBadRequest, -1220, "The symbol's status does not match the requested symbolStatus.")
		}
		return false, nil
	}
	return false, errInvalidParam("symbolStatus")
}
