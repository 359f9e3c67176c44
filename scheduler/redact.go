package scheduler

import "regexp"

// secretPattern matches what looks like a key, signature or secret: the values of query
// parameters, JSON fields and headers that carry them (an Authorization header's scheme
// included), and long runs of hex/base64 characters (bare keys and signatures).
var secretPattern = regexp.MustCompile(`(?i)((?:signature|api[-_]?key|x-mbx-apikey|secret(?:[-_]?key)?|token|listen[-_]?key|password|passphrase|private[-_]?key|authorization)["']?\s*[=:]\s*["']?)(?:(?:bearer|basic)\s+)?[^&\s"',}]+|[A-Za-z0-9+/_\-]{32,}={0,2}`)

// Redact removes anything that looks like a key, a signature or a secret from s, so that an
// exchange's error message can be logged and returned safely.
func Redact(s string) string {
	return secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		if sub := secretPattern.FindStringSubmatch(m); sub[1] != "" {
			return sub[1] + "[REDACTED]"
		}
		return "[REDACTED]"
	})
}
