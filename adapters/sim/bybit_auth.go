package sim

import (
	"crypto/hmac"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bybit's request security (docs/v5/guide.mdx "Authentication"), as the dialect checks it:
//
//   - X-BAPI-API-KEY names the key: missing, unknown, revoked or disabled is retCode 10003;
//   - X-BAPI-SIGN is lower-case hex HMAC-SHA256 of timestamp + api_key + recv_window +
//     (the raw query string of a GET | the raw JSON body of a POST), exactly the bytes
//     received; a wrong one is 10004. (RSA keys are not simulated.)
//   - X-BAPI-TIMESTAMP in milliseconds, X-BAPI-RECV-WINDOW (default 5000): the request is
//     served when server_time - recv_window <= timestamp < server_time + 1000, else 10002 with
//     the server's text as clients have reported it;
//   - X-BAPI-SIGN-TYPE (the SDKs send "2") is accepted and ignored.
//
// Bad signatures and timestamps of a known key count towards disabling it
// (Abuse.AuthFailures), as in the Binance dialect.

const bybitMaxRecvWindow = 60000 // guess: the docs give no maximum; Binance's is the same

// bybitMsgBadKey is 10003's text (error.mdx).
const bybitMsgBadKey = "API key is invalid. Check whether the key and domain are matched, there are 4 env: mainnet, testnet, mainnet-demo, testnet-demo"

// bybitAuthenticate checks key, signature and timing of a signed request.
// requires that s.mu is held.
func (s *Server) bybitAuthenticate(q *bybitRequest, now time.Time) (*account, *bybitReply) {
	fail := func(code int, msg string) (*account, *bybitReply) {
		r := bybitErr(code, msg)
		return nil, &r
	}
	a, ok := s.accounts[q.apiKey]
	if q.apiKey == "" || !ok || a.revoked || a.key.disabled {
		return fail(10003, bybitMsgBadKey)
	}
	ts, err := strconv.ParseInt(q.timestamp, 10, 64)
	if err != nil || ts <= 0 {
		return fail(10002, "invalid request, please check your server timestamp or recv_window param. req_timestamp["+q.timestamp+"]")
	}
	recv := int64(5000)
	if q.recv != "" {
		recv, err = strconv.ParseInt(q.recv, 10, 64)
		if err != nil || recv <= 0 || recv > bybitMaxRecvWindow {
			return fail(10001, "Request parameter error.")
		}
	}
	payload := q.timestamp + q.apiKey + q.recv + q.rawQuery
	if q.method != "GET" {
		payload = q.timestamp + q.apiKey + q.recv + q.rawBody
	}
	// Without X-BAPI-RECV-WINDOW (default 5000) the signed string has no recv_window part:
	// a client signs what it sends.
	want := SignHMAC(a.cfg.HMACSecret, payload)
	if a.cfg.HMACSecret == "" || !hmac.Equal([]byte(want), []byte(strings.ToLower(q.sign))) {
		s.authFailed(a, now)
		// The text clients have reported (sieblyio/bybit-api#448): it echoes the string the
		// server expected to be signed, the API key in it.
		return fail(10004, "error sign! origin_string["+payload+"]")
	}
	server := now.UnixMilli()
	if ts < server-recv || ts >= server+1000 {
		s.authFailed(a, now)
		return fail(10002, fmt.Sprintf("invalid request, please check your server timestamp or recv_window param. req_timestamp[%d],server_timestamp[%d],recv_window[%d]", ts, server, recv))
	}
	return a, nil
}

// SignBybit is Bybit's v5 HMAC-SHA256 signature: lower-case hex of
// timestamp + apiKey + recvWindow + payload (the query string of a GET, the JSON body of a
// POST).
func SignBybit(secret, timestamp, apiKey, recvWindow, payload string) string {
	return SignHMAC(secret, timestamp+apiKey+recvWindow+payload)
}
