package sim

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"time"
)

// Coinbase's API key authentication (docs.cdp.coinbase.com, "API Key Authentication"), as
// the coinbase dialect verifies it. Every private request carries Authorization: Bearer
// <JWT>, a fresh one per request:
//
//   - header: alg ES256 (ECDSA P-256 with SHA-256, the signature the 64 bytes r‖s) or EdDSA
//     (Ed25519); kid the key name; nonce random. typ is optional.
//   - claims: sub the key name (kid, when both are present, must equal it); iss "cdp" (or
//     "coinbase-cloud", what clients sent before 2024); nbf <= now < exp, in Unix seconds,
//     with no leeway (none is documented) and exp at most 120 s after nbf (the docs sign
//     exp = nbf + 120; a longer-lived token is refused — a guess); uri "METHOD host/path":
//     the request's method, the host it was sent to (Host, port included) and its path,
//     without scheme or query. A token with "uris" (the CDP SDK's list) is read by its first.
//
// The account's key: Account.HMACSecret holds the private key as Coinbase issues it — a PEM
// (SEC1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY", P-256 or Ed25519) or an Ed25519 secret
// (base64 of the 64-byte private key, or of its 32-byte seed) — and the simulator verifies
// with its public half; an Account.Ed25519PublicKey is accepted too. Any other secret (the
// simulator's default "keel-sim-secret", a --api-secret that is not a key) stands for the
// Ed25519 key whose seed is SHA-256 of it (CoinbaseSimSeed), a convention of the simulator's
// own so that `keel sim --dialect coinbase` works with its defaults.
//
// Every refusal is 401 "Unauthorized". Refusals of a known key count towards the modelled
// lockout (coinbase_limits.go).

// CoinbaseSimSeed is the Ed25519 seed a secret that is not a key stands for: SHA-256 of it.
func CoinbaseSimSeed(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// coinbaseKey is an account's public key, in one form or both, and the secret it was read
// from.
type coinbaseKey struct {
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	secret string
}

// coinbasePublicKey reads an account's key as the package doc says.
func coinbasePublicKey(acct Account) coinbaseKey {
	var k coinbaseKey
	secret := strings.TrimSpace(strings.ReplaceAll(acct.HMACSecret, `\n`, "\n"))
	switch {
	case strings.HasPrefix(secret, "-----BEGIN"):
		if blk, _ := pem.Decode([]byte(secret)); blk != nil {
			if ec, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
				k.ec = &ec.PublicKey
			} else if pk, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
				switch p := pk.(type) {
				case *ecdsa.PrivateKey:
					k.ec = &p.PublicKey
				case ed25519.PrivateKey:
					k.ed = p.Public().(ed25519.PublicKey)
				}
			}
		}
	case secret != "":
		if raw, err := base64.StdEncoding.DecodeString(secret); err == nil && (len(raw) == ed25519.PrivateKeySize || len(raw) == ed25519.SeedSize) {
			k.ed = ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize]).Public().(ed25519.PublicKey)
		} else {
			k.ed = ed25519.NewKeyFromSeed(CoinbaseSimSeed(acct.HMACSecret)).Public().(ed25519.PublicKey)
		}
	}
	if k.ed == nil && acct.Ed25519PublicKey != nil {
		k.ed = acct.Ed25519PublicKey
	}
	return k
}

// key returns the public key of a, read once per secret (RotateSecret changes it).
// requires that s.mu is held.
func (cb *coinbaseState) key(a *account) *coinbaseKey {
	k, ok := cb.keys[a]
	if !ok || k.secret != a.cfg.HMACSecret {
		kk := coinbasePublicKey(a.cfg)
		kk.secret = a.cfg.HMACSecret
		k = &kk
		cb.keys[a] = k
	}
	return k
}

type coinbaseJWTHeader struct {
	Alg   string `json:"alg"`
	Kid   string `json:"kid"`
	Nonce string `json:"nonce"`
}

type coinbaseJWTClaims struct {
	Sub  string   `json:"sub"`
	Iss  string   `json:"iss"`
	Nbf  *int64   `json:"nbf"`
	Exp  *int64   `json:"exp"`
	URI  string   `json:"uri"`
	URIs []string `json:"uris"`
}

// cbAuthenticate verifies a private request's JWT and returns its account.
// requires that s.mu is held.
func (s *Server) cbAuthenticate(cb *coinbaseState, q *coinbaseRequest, method string, now time.Time) (*account, bool) {
	tok, ok := strings.CutPrefix(q.auth, "Bearer ")
	if !ok {
		return nil, false
	}
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return nil, false
	}
	var hdr coinbaseJWTHeader
	var cl coinbaseJWTClaims
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cbb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cbb, &cl) != nil {
		return nil, false
	}
	name := cl.Sub
	if name == "" || (hdr.Kid != "" && hdr.Kid != name) {
		return nil, false
	}
	a, known := s.accounts[name]
	if !known || a.revoked || a.key.disabled {
		return nil, false
	}
	if cb.lockedOut(a, now) {
		return nil, false
	}
	if !cbVerify(cb.key(a), hdr.Alg, parts[0]+"."+parts[1], sig) || !cbClaimsValid(cl, method, q.host, q.path, now) {
		s.cbAuthRefused(cb, a, now)
		return nil, false
	}
	return a, true
}

// cbVerify checks a JWS signature over input with k.
func cbVerify(k *coinbaseKey, alg, input string, sig []byte) bool {
	switch alg {
	case "ES256":
		if k.ec == nil || len(sig) != 64 {
			return false
		}
		h := sha256.Sum256([]byte(input))
		r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return k.ec.Curve == elliptic.P256() && ecdsa.Verify(k.ec, h[:], r, ss)
	case "EdDSA":
		return k.ed != nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, []byte(input), sig)
	}
	return false
}

// cbMaxLifetime is the longest exp - nbf accepted: what the docs sign.
const cbMaxLifetime = 120

// cbClaimsValid checks issuer, time window and uri.
func cbClaimsValid(cl coinbaseJWTClaims, method, host, path string, now time.Time) bool {
	if !cbClaimsTimely(cl, now) {
		return false
	}
	uri := cl.URI
	if uri == "" && len(cl.URIs) > 0 {
		uri = cl.URIs[0]
	}
	return uri == method+" "+host+path
}

// cbClaimsTimely checks issuer and time window: all a WebSocket message's JWT, which names no
// uri, is checked for besides its signature.
func cbClaimsTimely(cl coinbaseJWTClaims, now time.Time) bool {
	if cl.Iss != "cdp" && cl.Iss != "coinbase-cloud" {
		return false
	}
	if cl.Nbf == nil || cl.Exp == nil {
		return false
	}
	sec := now.Unix()
	return *cl.Nbf <= sec && *cl.Exp > sec && *cl.Exp-*cl.Nbf <= cbMaxLifetime
}
