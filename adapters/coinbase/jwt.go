package coinbase

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrBadKey is wrapped when api_secret is not a key Coinbase issues. Its messages never
// quote the secret.
var ErrBadKey = errors.New("coinbase: api_secret is not a P-256 PEM private key or an Ed25519 secret")

// Issuer is the iss claim the docs sign ("cdp").
const Issuer = "cdp"

// MaxJWTLifetime is the docs' exp - nbf: 120 seconds.
const MaxJWTLifetime = 120 * time.Second

// MaxNbfSlack is how far before the signing instant nbf is set (less when jwt_lifetime leaves
// less room under MaxJWTLifetime).
const MaxNbfSlack = 30 * time.Second

// signer makes the JWT of one request (docs.cdp.coinbase.com, "API Key Authentication").
type signer struct {
	name string
	ec   *ecdsa.PrivateKey
	ed   ed25519.PrivateKey
	rand io.Reader
}

// Algorithm is the JWS alg the key signs with: "ES256" or "EdDSA".
func (s *signer) alg() string {
	if s.ec != nil {
		return "ES256"
	}
	return "EdDSA"
}

// parseKey reads api_secret as Coinbase issues it: a PEM private key (SEC1 "EC PRIVATE KEY"
// or PKCS#8 "PRIVATE KEY"; P-256, or Ed25519 in PKCS#8), or an Ed25519 secret, the base64 of
// the 64-byte private key (seed and public key) or of its 32-byte seed. Newlines written as
// the two characters \n (how a PEM sits in a JSON key file or an environment variable) are
// read as newlines.
func parseKey(name, secret string) (*signer, error) {
	s := &signer{name: name, rand: rand.Reader}
	secret = strings.TrimSpace(strings.ReplaceAll(secret, `\n`, "\n"))
	if strings.HasPrefix(secret, "-----BEGIN") {
		blk, _ := pem.Decode([]byte(secret))
		if blk == nil {
			return nil, fmt.Errorf("%w: the PEM block cannot be read", ErrBadKey)
		}
		if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
			if k.Curve != elliptic.P256() {
				return nil, fmt.Errorf("%w: an EC key on %s, want P-256", ErrBadKey, k.Curve.Params().Name)
			}
			s.ec = k
			return s, nil
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: the PEM block holds no EC or PKCS#8 private key", ErrBadKey)
		}
		switch p := k.(type) {
		case *ecdsa.PrivateKey:
			if p.Curve != elliptic.P256() {
				return nil, fmt.Errorf("%w: an EC key on %s, want P-256", ErrBadKey, p.Curve.Params().Name)
			}
			s.ec = p
		case ed25519.PrivateKey:
			s.ed = p
		default:
			return nil, fmt.Errorf("%w: a %T key", ErrBadKey, k)
		}
		return s, nil
	}
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: neither a PEM block nor base64", ErrBadKey)
	}
	switch len(raw) {
	case ed25519.PrivateKeySize, ed25519.SeedSize:
		s.ed = ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if len(raw) == ed25519.PrivateKeySize && !s.ed.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(raw[32:])) {
			return nil, fmt.Errorf("%w: the Ed25519 secret's public half does not match its seed", ErrBadKey)
		}
		return s, nil
	}
	return nil, fmt.Errorf("%w: %d bytes of base64, want an Ed25519 key of 64 (or a 32-byte seed)", ErrBadKey, len(raw))
}

// jwtHeader and jwtClaims are the docs' fields, in their order.
type jwtHeader struct {
	Alg   string `json:"alg"`
	Kid   string `json:"kid"`
	Nonce string `json:"nonce"`
	Typ   string `json:"typ"`
}

type jwtClaims struct {
	Sub string `json:"sub"`
	Iss string `json:"iss"`
	Nbf int64  `json:"nbf"`
	Exp int64  `json:"exp"`
	URI string `json:"uri,omitempty"`
}

// FormatURI is the uri claim: "METHOD host/path", no scheme, no query.
func FormatURI(method, host, path string) string { return method + " " + host + path }

// sign returns the JWT of a request to uri (empty for a WebSocket message's JWT, which has
// none) signed at now, the exchange's time, living lifetime.
func (s *signer) sign(uri string, now time.Time, lifetime time.Duration) (string, error) {
	var nonce [16]byte
	if _, err := io.ReadFull(s.rand, nonce[:]); err != nil {
		return "", fmt.Errorf("coinbase: JWT nonce: %w", err)
	}
	h, _ := json.Marshal(jwtHeader{Alg: s.alg(), Kid: s.name, Nonce: hex.EncodeToString(nonce[:]), Typ: "JWT"})
	// nbf is backdated by up to MaxNbfSlack (never past the docs' 120 s of exp - nbf): a JWT
	// may be used from any time before it is sent (RFC 7519 4.1.5), and a step of Coinbase's
	// clock (or ours) between two measurements then costs nothing, where an nbf a little
	// ahead of Coinbase's clock is a 401 — an auth failure that halts trading. exp is not
	// moved: it is what bounds how late the request can land.
	// exp is rounded up to the second, so the JWT lives at least lifetime (a truncated exp
	// could leave a 1 s JWT a millisecond); exp - nbf stays within the docs' 120 s.
	slack := int64(max(min(MaxNbfSlack, MaxJWTLifetime-lifetime-time.Second), 0) / time.Second)
	nbf, end := now.Unix()-slack, now.Add(lifetime)
	exp := end.Unix()
	if end.Nanosecond() > 0 {
		exp++
	}
	exp = min(exp, nbf+int64(MaxJWTLifetime/time.Second))
	c, _ := json.Marshal(jwtClaims{Sub: s.name, Iss: Issuer, Nbf: nbf, Exp: exp, URI: uri})
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	if s.ec != nil {
		d := sha256.Sum256([]byte(input))
		r, ss, err := ecdsa.Sign(s.rand, s.ec, d[:])
		if err != nil {
			return "", errors.New("coinbase: ES256 signing failed")
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	} else {
		sig = ed25519.Sign(s.ed, []byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
