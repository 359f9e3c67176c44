package rest

import "strings"

// Params is an ordered parameter list of key, value pairs. Order is kept: exchanges accept any order, and signing
// the exact bytes sent is what matters.
type Params [][2]string

// Add returns p with key=value appended.
func (p Params) Add(key, value string) Params { return append(p, [2]string{key, value}) }

// Encode renders the list as key=value pairs joined by '&', every byte outside RFC 3986's
// unreserved set percent-encoded (so non-ASCII characters become %XX of their UTF-8 bytes).
func (p Params) Encode() string {
	var b strings.Builder
	for i, kv := range p {
		if i > 0 {
			b.WriteByte('&')
		}
		Escape(&b, kv[0])
		b.WriteByte('=')
		Escape(&b, kv[1])
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"

// Escape writes s to b with every byte outside RFC 3986's unreserved set (A-Z a-z 0-9 - _ .
// ~) percent-encoded in upper-case hex.
func Escape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
}
