package binance

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"strings"

	"github.com/keelbot/keel/adapters/rest"
)

// signer computes the signature parameter of a SIGNED request over Binance's signature
// payload: the percent-encoded query string concatenated, without separator, with the
// percent-encoded request body.
type signer interface {
	sign(payload []byte) string
	// kind names the key type for logs ("hmac", "ed25519"); never the key.
	kind() string
}

// hmacSigner signs with HMAC-SHA256 and encodes the MAC as lower-case hex, as Binance
// documents for HMAC keys.
type hmacSigner struct{ secret []byte }

func newHMACSigner(secret string) *hmacSigner { return &hmacSigner{secret: []byte(secret)} }

func (s *hmacSigner) sign(payload []byte) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write(payload)
	return hex.EncodeToString(m.Sum(nil))
}

func (s *hmacSigner) kind() string      { return "hmac" }
func (s *hmacSigner) String() string    { return "binance.hmacSigner{" + rest.Redacted + "}" }
func (s *hmacSigner) GoString() string  { return s.String() }
func (s *ed25519Signer) String() string { return "binance.ed25519Signer{" + rest.Redacted + "}" }
func (s *ed25519Signer) GoString() string {
	return s.String()
}

// ed25519Signer signs with Ed25519 and encodes the signature as standard base64, as Binance
// documents for Ed25519 keys. Ed25519 signatures are deterministic.
type ed25519Signer struct{ key ed25519.PrivateKey }

func (s *ed25519Signer) sign(payload []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(s.key, payload))
}

func (s *ed25519Signer) kind() string { return "ed25519" }

// errKeyFormat deliberately carries no key material.
var errKeyFormat = errors.New("expected a PKCS#8 PEM Ed25519 private key, or a 32-byte seed in base64 or hex")

// newEd25519Signer reads a PKCS#8 PEM private key ("BEGIN PRIVATE KEY", what
// `openssl genpkey -algorithm ed25519` writes), or a raw 32-byte seed (or 64-byte private
// key) in standard base64 or hex. Errors never quote the input.
func newEd25519Signer(raw []byte) (*ed25519Signer, error) {
	text := strings.TrimSpace(string(raw))
	if strings.Contains(text, "-----BEGIN") {
		block, _ := pem.Decode([]byte(text))
		if block == nil {
			return nil, errKeyFormat
		}
		if block.Type != "PRIVATE KEY" {
			return nil, errors.New("expected a PEM block of type PRIVATE KEY (PKCS#8), got " + pemTypeName(block.Type))
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errKeyFormat
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("the PKCS#8 key is not an Ed25519 key")
		}
		return &ed25519Signer{key: ek}, nil
	}
	var b []byte
	if h, err := hex.DecodeString(text); err == nil {
		b = h
	} else if d, err := base64.StdEncoding.DecodeString(text); err == nil {
		b = d
	} else {
		return nil, errKeyFormat
	}
	switch len(b) {
	case ed25519.SeedSize:
		return &ed25519Signer{key: ed25519.NewKeyFromSeed(b)}, nil
	case ed25519.PrivateKeySize:
		return &ed25519Signer{key: ed25519.PrivateKey(b)}, nil
	}
	return nil, errKeyFormat
}

// pemTypeName quotes a PEM block type only when it looks like one (it is attacker-free
// config, but keep arbitrary bytes out of errors).
func pemTypeName(t string) string {
	for _, r := range t {
		if (r < 'A' || r > 'Z') && r != ' ' {
			return "an unexpected type"
		}
	}
	return `"` + t + `"`
}

// params is an ordered parameter list, percent-encoded as Binance's signature payload
// requires (non-ASCII characters become %XX of their UTF-8 bytes).
type params = rest.Params

// signPayload returns Binance's signature payload: query concatenated with body, no separator.
func signPayload(query, body string) []byte { return []byte(query + body) }

// withSignature appends the signature parameter to an encoded parameter string.
func withSignature(encoded, signature string) string {
	var b strings.Builder
	b.WriteString(encoded)
	if encoded != "" {
		b.WriteByte('&')
	}
	b.WriteString("signature=")
	rest.Escape(&b, signature)
	return b.String()
}
