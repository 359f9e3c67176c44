package sim

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Signed-endpoint security, as rest-api.md "Request Security" describes it:
//
//   - the API key travels in the X-MBX-APIKEY header (missing or malformed: 401 -2014; unknown,
//     revoked or disabled: 401 -2015);
//   - signature is computed over the query string concatenated without separator with the
//     body, percent-encoded; HMAC-SHA256 as hex (case-insensitive) or Ed25519 as base64
//     (case-sensitive); a wrong one is 400 -1022;
//   - timestamp is in milliseconds or microseconds; recvWindow defaults to 5000 ms, may carry
//     up to three decimals (microseconds) and cannot exceed 60000; the request is processed when
//     timestamp < serverTime + 1 second and serverTime - timestamp <= recvWindow, else 400 -1021.
//
// rest-api.md "Timing security" checks twice: both conditions on arrival, and serverTime -
// timestamp <= recvWindow again just before forwarding to the Matching Engine. The simulator
// checks once, after the latency fault (handle runs after it), so a request delayed past its
// recvWindow is refused as the second check refuses it; the price is that a timestamp which
// was ahead on arrival but no longer is after the delay passes.
//
// Bad signatures and timestamps of a known key count towards disabling it (Abuse.AuthFailures).

const (
	defaultRecvWindow = 5000 * time.Millisecond
	maxRecvWindow     = 60000 * time.Millisecond
	// Timestamps at or above this are microseconds (ms timestamps stay below it until 5138).
	microThreshold = 100_000_000_000_000
)

// authenticate checks key, signature and timing of a signed request.
// requires that s.mu is held.
func (s *Server) authenticate(q *request, now time.Time) (*account, *apiError) {
	key := q.headerKey
	if !validKeyFormat(key) {
		return nil, errBadKeyFormat()
	}
	a, ok := s.accounts[key]
	if !ok || a.revoked || a.key.disabled {
		return nil, errRejectedKey()
	}
	sig, aerr := q.mandatory("signature")
	if aerr != nil {
		return nil, aerr
	}
	tsRaw, aerr := q.mandatory("timestamp")
	if aerr != nil {
		return nil, aerr
	}
	if !reLong.MatchString(tsRaw) || strings.HasPrefix(tsRaw, "-") {
		return nil, errIllegalChars("timestamp", legalLong)
	}
	ts, aerr2 := parseTimestamp(tsRaw)
	if aerr2 != nil {
		return nil, aerr2
	}
	recv := defaultRecvWindow
	if d, ok, aerr := q.decimalParam("recvWindow", 3); aerr != nil {
		return nil, aerr
	} else if ok {
		if recv, aerr = recvWindow(d); aerr != nil {
			return nil, aerr
		}
	}
	if aerr := s.checkSigned(a, a.cfg, q.payload(), sig, ts, recv, now); aerr != nil {
		return nil, aerr
	}
	return a, nil
}

// recvWindow reads a recvWindow in milliseconds (up to three decimals): positive, at most
// 60000.
func recvWindow(d decimal.Decimal) (time.Duration, *apiError) {
	if d.GreaterThan(decimal.NewFromInt(60000)) || !d.IsPositive() {
		return 0, errInvalidParam("recvWindow")
	}
	return time.Duration(d.Mul(decimal.NewFromInt(int64(time.Millisecond))).IntPart()), nil
}

// checkSigned applies the signature and timing rules to a request of account a, signed
// over payload with one of keys (REST and the WebSocket API alike). Every refusal counts
// towards disabling the key.
// requires that s.mu is held.
func (s *Server) checkSigned(a *account, keys Account, payload, sig string, ts time.Time, recv time.Duration, now time.Time) *apiError {
	var aerr *apiError
	switch {
	case !verify(keys, payload, sig):
		aerr = errBadSignature()
	case !ts.Before(now.Add(time.Second)):
		aerr = errAheadOfServer()
	case now.Sub(ts) > recv:
		aerr = errOutsideRecvWindow()
	default:
		return nil
	}
	s.authFailed(a, now)
	return aerr
}

// parseTimestamp reads a millisecond or microsecond timestamp.
func parseTimestamp(raw string) (time.Time, *apiError) {
	n, _, err := (&request{values: map[string]string{"timestamp": raw}, read: map[string]bool{}}).longParam("timestamp")
	if err != nil {
		return time.Time{}, err
	}
	if n >= microThreshold {
		return time.UnixMicro(n), nil
	}
	return time.UnixMilli(n), nil
}

// verify checks sig over payload with the account's HMAC secret or Ed25519 key.
func verify(a Account, payload, sig string) bool {
	if a.HMACSecret != "" && len(sig) == hex.EncodedLen(sha256.Size) {
		want := SignHMAC(a.HMACSecret, payload)
		if hmac.Equal([]byte(want), []byte(strings.ToLower(sig))) { // case-insensitive, constant time
			return true
		}
	}
	if a.Ed25519PublicKey != nil {
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && len(raw) == ed25519.SignatureSize && ed25519.Verify(a.Ed25519PublicKey, []byte(payload), raw) {
			return true
		}
	}
	return false
}

// SignHMAC is Binance's HMAC-SHA256 signature of payload: lower-case hex.
func SignHMAC(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// SignEd25519 is Binance's Ed25519 signature of payload: standard base64 (percent-encode it
// before putting it in a query string or body).
func SignEd25519(key ed25519.PrivateKey, payload string) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(payload)))
}
