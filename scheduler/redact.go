package scheduler

import (
	"strings"

	"github.com/keelbot/keel/internal/redact"
)

// Redact removes the secrets this process was configured with (internal/redact's registry)
// and anything that looks like a key, a signature or a secret from s, so that an exchange's
// error message can be logged and returned safely.
func Redact(s string) string { return redact.String(s) }

// redactEndpoint redacts a request's endpoint for its log event: the query as Redact does, the
// path one segment at a time, so that a long path ("/sapi/v1/sub-account/universalTransfer")
// keeps its shape while a key or signature an adapter put in it does not survive.
func redactEndpoint(s string) string {
	if !redact.MaySecret(s) {
		return redact.Values(s)
	}
	path, query, hasQuery := strings.Cut(s, "?")
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i] = Redact(seg)
	}
	out := strings.Join(segs, "/")
	if hasQuery {
		out += "?" + Redact(query)
	}
	return out
}

// redactRequestID redacts a request id for its log event. A canonical UUID is kept whole:
// it is what exchanges send as a request id (Binance's X-MBX-UUID), and it has the length of
// a bare key, so Redact would blank every one of them.
func redactRequestID(s string) string {
	if isUUID(s) {
		return s
	}
	return Redact(s)
}

// isUUID reports whether s is a UUID in its canonical 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
