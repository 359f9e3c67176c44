package sim

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// maxBody bounds a request body; Binance's own limit is not documented, this one is generous.
const maxBody = 64 << 10

// request is one parsed API request: its parameters (query string first, then the form body:
// rest-api.md "If a parameter sent in both the query string and request body, the query string
// parameter will be used"), and the raw strings the signature covers.
type request struct {
	method, path string
	rawQuery     string
	rawBody      string
	headerKey    string // X-MBX-APIKEY
	// micro: X-MBX-TIME-UNIT: MICROSECOND asked for times in microseconds (rest-api.md
	// "General API Information"); endpoints that print times honour it through timeUnit.
	micro  bool
	values map[string]string
	read   map[string]bool // parameters the handler looked at
}

// parseRequest reads the parameters of r. GET endpoints take the query string only (rest-api.md
// "For GET endpoints, parameters must be sent as a query string"); POST, PUT and DELETE also
// take an application/x-www-form-urlencoded body. Hostile input answers -1100/-1101, never a
// panic.
func parseRequest(r *http.Request) (*request, *apiError) {
	req := &request{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery,
		headerKey: r.Header.Get("X-MBX-APIKEY"), values: map[string]string{}, read: map[string]bool{},
		micro: strings.EqualFold(r.Header.Get("X-MBX-TIME-UNIT"), "MICROSECOND")}
	if r.Method != http.MethodGet && r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return req, errIllegalCharsAny()
		}
		if len(b) > maxBody {
			return req, errTooManyParams()
		}
		req.rawBody = string(b)
	}
	q, aerr := parsePairs(req.rawQuery)
	if aerr != nil {
		return req, aerr
	}
	body, aerr := parsePairs(req.rawBody)
	if aerr != nil {
		return req, aerr
	}
	for k, v := range body {
		req.values[k] = v
	}
	for k, v := range q {
		req.values[k] = v
	}
	return req, nil
}

// parsePairs decodes a=b&c=d; a parameter repeated within one source is -1101.
func parsePairs(raw string) (map[string]string, *apiError) {
	out := map[string]string{}
	if raw == "" {
		return out, nil
	}
	for _, pair := range strings.Split(raw, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, errIllegalCharsAny()
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, errIllegalCharsAny()
		}
		if _, dup := out[key]; dup {
			return nil, errDuplicateParam()
		}
		out[key] = val
	}
	return out, nil
}

// payload is the signed payload: the query string concatenated with the body, without the
// signature parameter and without a separator (rest-api.md "SIGNED Endpoint Examples": "The
// signature payload of your request is the query string concatenated without separator to the
// HTTP body"). The raw, still percent-encoded strings are used: since 2026-01-15 Binance
// verifies signatures over the percent-encoded payload (CHANGELOG 2025-12-17).
func (q *request) payload() string {
	return stripSignature(q.rawQuery) + stripSignature(q.rawBody)
}

func stripSignature(raw string) string {
	if !strings.Contains(raw, "signature=") {
		return raw
	}
	parts := strings.Split(raw, "&")
	kept := parts[:0]
	for _, p := range parts {
		if k, _, _ := strings.Cut(p, "="); k == "signature" {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, "&")
}

func (q *request) has(name string) bool {
	_, ok := q.values[name]
	return ok
}

// str returns a parameter, marking it read.
func (q *request) str(name string) (string, bool) {
	q.read[name] = true
	v, ok := q.values[name]
	return v, ok
}

// mandatory returns a parameter that must be present and non-empty (-1102).
func (q *request) mandatory(name string) (string, *apiError) {
	v, ok := q.str(name)
	if !ok || v == "" {
		return "", errMandatory(name)
	}
	return v, nil
}

var (
	reDecimal = regexp.MustCompile(`^([0-9]{1,20})(\.[0-9]{1,20})?$`)
	reLong    = regexp.MustCompile(`^-?[0-9]{1,20}$`)
	reClOrdID = regexp.MustCompile(`^[a-zA-Z0-9-_]{1,36}$`)
)

const (
	legalDecimal = `^([0-9]{1,20})(\.[0-9]{1,20})?$`
	legalLong    = `^[0-9]{1,20}$`
	legalClOrdID = `^[a-zA-Z0-9-_]{1,36}$`
	legalSymbol  = `^.{1,64}$`
)

// decimalParam parses an optional DECIMAL parameter with at most maxScale decimals.
func (q *request) decimalParam(name string, maxScale int32) (decimal.Decimal, bool, *apiError) {
	v, ok := q.str(name)
	if !ok {
		return decimal.Decimal{}, false, nil
	}
	if v == "" {
		return decimal.Decimal{}, false, errParamEmpty(name)
	}
	if !reDecimal.MatchString(v) {
		return decimal.Decimal{}, false, errIllegalChars(name, legalDecimal)
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		return decimal.Decimal{}, false, errIllegalChars(name, legalDecimal)
	}
	if _, frac, found := strings.Cut(v, "."); found && int32(len(strings.TrimRight(frac, "0"))) > maxScale {
		return decimal.Decimal{}, false, errPrecision(name)
	}
	return d, true, nil
}

// longParam parses an optional LONG parameter.
func (q *request) longParam(name string) (int64, bool, *apiError) {
	v, ok := q.str(name)
	if !ok {
		return 0, false, nil
	}
	if v == "" {
		return 0, false, errParamEmpty(name)
	}
	if !reLong.MatchString(v) {
		return 0, false, errIllegalChars(name, legalLong)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, errOverflow(name)
	}
	return n, true, nil
}

// intParam parses an optional INT parameter that must lie in [min, max] (-1130 otherwise).
func (q *request) intParam(name string, min, max int64) (int64, bool, *apiError) {
	n, ok, err := q.longParam(name)
	if err != nil || !ok {
		return n, ok, err
	}
	if n < min || n > max {
		return 0, false, errInvalidParam(name)
	}
	return n, true, nil
}

// limitParam parses the trade lists' limit: 1..1000 (-1130 otherwise), 500 when not given.
func (q *request) limitParam() (int, *apiError) {
	n, given, aerr := q.intParam("limit", 1, 1000)
	if !given || aerr != nil {
		return 500, aerr
	}
	return int(n), nil
}

// symbolParam parses a symbol parameter: malformed is -1100, unknown is -1121.
func (s *Server) symbolParam(q *request, name string, required bool) (*market, *apiError) {
	v, ok := q.str(name)
	if !ok || v == "" {
		if required {
			return nil, errMandatory(name)
		}
		return nil, nil
	}
	if len(v) > 64 || strings.ContainsAny(v, "\x00\r\n\t ") {
		return nil, errIllegalChars(name, legalSymbol)
	}
	m, ok := s.markets[v]
	if !ok {
		return nil, errInvalidSymbol()
	}
	return m, nil
}

// unread answers -1104 when a parameter was sent that the endpoint does not read.
func (q *request) unread() *apiError {
	n := 0
	for k := range q.values {
		if q.read[k] {
			n++
		}
	}
	if n != len(q.values) {
		return errUnread(n, len(q.values))
	}
	return nil
}

// symbolOnly reads the one parameter of a signed endpoint that takes a mandatory symbol and
// nothing else.
func (s *Server) symbolOnly(q *request) (*market, *apiError) {
	m, aerr := s.symbolParam(q, "symbol", true)
	if aerr != nil {
		return nil, aerr
	}
	return m, q.signedDone()
}

// signedDone accepts a signed request's own parameters (timestamp, recvWindow, signature,
// which authentication already checked) and answers -1104 if any other was not read.
func (q *request) signedDone() *apiError {
	q.accept("timestamp", "recvWindow", "signature")
	return q.unread()
}

// timeUnit prints t in the request's time unit: milliseconds, or microseconds when
// X-MBX-TIME-UNIT asked for them.
func (q *request) timeUnit(t time.Time) int64 {
	if q.micro {
		return t.UnixMicro()
	}
	return t.UnixMilli()
}

// timeParam parses an optional LONG time parameter in the request's time unit.
func (q *request) timeParam(name string) (time.Time, bool, *apiError) {
	n, ok, aerr := q.longParam(name)
	if aerr != nil || !ok {
		return time.Time{}, false, aerr
	}
	if q.micro {
		return time.UnixMicro(n).UTC(), true, nil
	}
	return time.UnixMilli(n).UTC(), true, nil
}

// accept marks parameters as read that the endpoint takes but the simulator ignores.
func (q *request) accept(names ...string) {
	for _, n := range names {
		q.read[n] = true
	}
}
