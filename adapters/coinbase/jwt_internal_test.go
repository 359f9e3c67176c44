package coinbase

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func decodeJWT(t *testing.T, tok string) (hdr, claims map[string]any, input string, sig []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, into := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatal(err)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	return hdr, claims, parts[0] + "." + parts[1], sig
}

// TestJWTClaimsAsDocumented decodes a signed JWT field by field against the docs' claims and
// verifies its signature with the public key, for both key kinds.
func TestJWTClaimsAsDocumented(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(ec)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	edSecret := base64.StdEncoding.EncodeToString(ed)
	const name = "organizations/org-1/apiKeys/key-1"
	now := time.Unix(1_700_000_000, 900_000_000)
	for _, tc := range []struct {
		alg, secret string
		verify      func(input string, sig []byte) bool
	}{
		{"ES256", ecPEM, func(input string, sig []byte) bool {
			h := sha256.Sum256([]byte(input))
			return len(sig) == 64 && ecdsa.Verify(&ec.PublicKey, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		}},
		// A PEM pasted from a JSON key file carries "\n" as two characters.
		{"ES256", strings.ReplaceAll(ecPEM, "\n", `\n`), func(input string, sig []byte) bool {
			h := sha256.Sum256([]byte(input))
			return ecdsa.Verify(&ec.PublicKey, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
		}},
		{"EdDSA", edSecret, func(input string, sig []byte) bool {
			return ed25519.Verify(ed.Public().(ed25519.PublicKey), []byte(input), sig)
		}},
	} {
		s, err := parseKey(name, tc.secret)
		if err != nil {
			t.Fatal(err)
		}
		uri := FormatURI("GET", "api.coinbase.com", "/api/v3/brokerage/accounts")
		tok, err := s.sign(uri, now, 120*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		hdr, cl, input, sig := decodeJWT(t, tok)
		if !tc.verify(input, sig) {
			t.Fatalf("%s: the signature does not verify with the public key", tc.alg)
		}
		if hdr["alg"] != tc.alg || hdr["kid"] != name || hdr["typ"] != "JWT" || len(hdr["nonce"].(string)) != 32 {
			t.Fatalf("header %v", hdr)
		}
		want := map[string]any{"sub": name, "iss": "cdp", "nbf": float64(1_700_000_000), "exp": float64(1_700_000_120),
			"uri": "GET api.coinbase.com/api/v3/brokerage/accounts"}
		if len(cl) != len(want) {
			t.Fatalf("claims %v, want %v", cl, want)
		}
		for k, v := range want {
			if cl[k] != v {
				t.Fatalf("claim %s = %v, want %v", k, cl[k], v)
			}
		}
		tok2, _ := s.sign(uri, now, 120*time.Second)
		if h2, _, _, _ := decodeJWT(t, tok2); h2["nonce"] == hdr["nonce"] {
			t.Fatal("two JWTs with one nonce")
		}
	}
}

// TestParseKeyRefusesWithoutQuotingTheSecret: keys Coinbase does not issue are refused, and
// the error never carries the secret.
func TestParseKeyRefusesWithoutQuotingTheSecret(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(p384)
	for _, secret := range []string{
		"not-a-key-SECRETVALUE",
		"-----BEGIN EC PRIVATE KEY-----\nSECRETVALUE\n-----END EC PRIVATE KEY-----\n",
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
		base64.StdEncoding.EncodeToString([]byte("SECRETVALUE-too-short")),
	} {
		_, err := parseKey("k", secret)
		if err == nil {
			t.Fatalf("accepted %q", secret)
		}
		if strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), "BEGIN") {
			t.Fatalf("the error quotes the secret: %v", err)
		}
	}
}
