package scheduler

import (
	"regexp"
	"strings"
)

// secretPattern matches what looks like a key, signature or secret: the values of query
// parameters, JSON fields and headers that carry them (an Authorization header's scheme
// included), and long runs of hex/base64 characters (bare keys and signatures).
var secretPattern = regexp.MustCompile(`(?i)((?:signature|api[-_]?key|x-mbx-apikey|secret(?:[-_]?key)?|token|listen[-_]?key|password|passphrase|private[-_]?key|authorization)["']?\s*[=:]\s*["']?)(?:(?:bearer|basic)\s+)?[^&\s"',}]+|[A-Za-z0-9+/_\-]{32,}={0,2}`)

// Redact removes anything that looks like a key, a signature or a secret from s, so that an
// exchange's error message can be logged and returned safely.
func Redact(s string) string {
	if !maySecret(s) {
		return s // most strings; spares every attempt the regexp
	}
	return secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		if sub := secretPattern.FindStringSubmatch(m); sub[1] != "" {
			return sub[1] + "[REDACTED]"
		}
		return "[REDACTED]"
	})
}

// maySecret reports whether secretPattern can match s: a named value needs '=' or ':', a bare
// one a run of 32 of its characters.
func maySecret(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '=' || c == ':':
			return true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '+', c == '/', c == '_', c == '-':
			if run++; run >= 32 {
				return true
			}
		default:
			run = 0
		}
	}
	return false
}

// redactEndpoint redacts a request's endpoint for its log event: the query as Redact does, the
// path one segment at a time, so that a long path ("/sapi/v1/sub-account/universalTransfer")
// keeps its shape while a key or signature an adapter put in it does not survive.
func redactEndpoint(s string) string {
	if !maySecret(s) {
		return s
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
