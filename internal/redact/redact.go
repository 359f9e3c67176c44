package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask is what a secret is replaced with.
const Mask = "[REDACTED]"

// MinLen is the shortest value Add registers. A shorter one ("K", "test") would blank
// ordinary words all over the logs; it is still caught where a pattern names it
// ("password=", "api_key:", a URL's user info).
const MinLen = 6

var (
	mu sync.Mutex // serialises Add
	// forms holds every registered value in each encoding it can appear in (raw, JSON- and
	// URL-escaped), longest first so a value containing another is masked whole.
	forms atomic.Pointer[[]string]
)

// Add registers secret values to be masked literally from now on. Empty values and values
// shorter than MinLen are ignored.
func Add(values ...string) {
	mu.Lock()
	defer mu.Unlock()
	var cur []string
	if p := forms.Load(); p != nil {
		cur = *p
	}
	next := slices.Clone(cur)
	for _, v := range values {
		if len(v) < MinLen {
			continue
		}
		for _, f := range encodings(v) {
			if !slices.Contains(next, f) {
				next = append(next, f)
			}
		}
	}
	if len(next) == len(cur) {
		return
	}
	slices.SortStableFunc(next, func(a, b string) int { return len(b) - len(a) })
	forms.Store(&next)
}

// encodings are the forms in which v can reach text: itself, inside a JSON string (with and
// without HTML escaping), and URL-escaped in a query or a path.
func encodings(v string) []string {
	out := []string{v}
	var b bytes.Buffer
	for _, html := range []bool{true, false} {
		b.Reset()
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(v) == nil {
			out = append(out, strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), `"`)[1:])
		}
	}
	return append(out, url.QueryEscape(v), url.PathEscape(v))
}

func registered() []string {
	if p := forms.Load(); p != nil {
		return *p
	}
	return nil
}

// String masks the registered values and everything that looks like a key, a signature or a
// secret in s. It is the function for text an exchange or a library wrote (error messages).
func String(s string) string {
	return patterns(Values(s))
}

// Values masks only the registered values in s; s itself when it holds none (no allocation).
func Values(s string) string {
	for _, f := range registered() {
		if strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, Mask)
		}
	}
	return s
}

// Bytes is Values for a byte slice: b itself when it holds no registered value, else a
// masked copy.
func Bytes(b []byte) []byte {
	out, _ := maskBytes(b)
	return out
}

// maskBytes is Bytes, reporting whether it masked anything.
func maskBytes(b []byte) ([]byte, bool) {
	masked := false
	for _, f := range registered() {
		if bytes.Contains(b, []byte(f)) {
			b = bytes.ReplaceAll(b, []byte(f), []byte(Mask)) // a copy: the caller's b is kept
			masked = true
		}
	}
	return b, masked
}

// Writer returns w behind a filter that masks the registered values in every write. A log
// line is one write, so a value is never split across two.
func Writer(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

func (w writer) Write(p []byte) (int, error) {
	masked, ok := maskBytes(p)
	if !ok {
		return w.w.Write(p)
	}
	if _, err := w.w.Write(masked); err != nil {
		return 0, err
	}
	return len(p), nil // the caller's bytes were all consumed
}

// URL masks the password of a URL ("redis://user:[REDACTED]@host:6379/0"). A URL that does
// not parse is masked textually: everything between the scheme's "://" (or the start) and
// the last "@" before the host, the user name kept when a ':' separates it.
func URL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "x")
			return strings.Replace(u.String(), ":x@", ":"+Mask+"@", 1)
		}
		return s
	} else if err == nil {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 {
		start = i + 3
	}
	at := strings.LastIndex(s[start:], "@")
	if at < 0 {
		return s
	}
	at += start
	user, _, hasPass := strings.Cut(s[start:at], ":")
	if !hasPass {
		return s[:start] + Mask + s[at:] // no separator: the whole user info may be a token
	}
	return s[:start] + user + ":" + Mask + s[at:]
}

// secretPattern matches what looks like a key, signature or secret: the values of query
// parameters, JSON fields and headers that carry them (an Authorization header's scheme
// included), and long runs of hex/base64 characters (bare keys and signatures).
var secretPattern = regexp.MustCompile(`(?i)((?:signature|api[-_]?key|x-mbx-apikey|secret(?:[-_]?key)?|token|listen[-_]?key|password|passphrase|private[-_]?key|authorization)["']?\s*[=:]\s*["']?)(?:(?:bearer|basic)\s+)?[^&\s"',}]+|[A-Za-z0-9+/_\-]{32,}={0,2}`)

// Patterns masks only what looks like a secret, whatever its value.
func Patterns(s string) string { return patterns(s) }

func patterns(s string) string {
	if !maySecret(s) {
		return s // most strings; spares them the regexp
	}
	return secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		if sub := secretPattern.FindStringSubmatch(m); sub[1] != "" {
			return sub[1] + Mask
		}
		return Mask
	})
}

// MaySecret reports whether Patterns can change s: a named value needs '=' or ':', a bare one
// a run of 32 of its characters.
func MaySecret(s string) bool { return maySecret(s) }

func maySecret(s string) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		switch secretChars[s[i]] {
		case nameSeparator:
			return true
		case valueChar:
			if run++; run >= 32 {
				return true
			}
		default:
			run = 0
		}
	}
	return false
}

// secretChars sorts bytes for maySecret by a table, not a chain of comparisons: it runs on
// every request's endpoint (the scheduler's attempt event).
var secretChars = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == '=' || c == ':':
			t[c] = nameSeparator
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '+', c == '/', c == '_', c == '-':
			t[c] = valueChar
		}
	}
	return t
}()

const (
	otherChar     = iota
	nameSeparator // '=' or ':' after a name
	valueChar     // may be part of a bare secret
)
