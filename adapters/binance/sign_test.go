package binance

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
)

// The worked example of rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order".
const (
	docAPIKey    = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
	docSecretKey = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
)

func docParams(symbol string) params {
	return params{
		{"symbol", symbol}, {"side", "BUY"}, {"type", "LIMIT"}, {"timeInForce", "GTC"},
		{"quantity", "1"}, {"price", "0.1"}, {"recvWindow", "5000"}, {"timestamp", "1499827319559"},
	}
}

func TestHMACDocumentedExamples(t *testing.T) {
	s := newHMACSigner(docSecretKey)
	tests := []struct {
		name, query, body, wantPayload, wantSig string
	}{
		{
			name:        "ascii symbol",
			query:       docParams("LTCBTC").Encode(),
			wantPayload: "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
			wantSig:     "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
		},
		{
			name:        "request body",
			body:        docParams("LTCBTC").Encode(),
			wantPayload: "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
			wantSig:     "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
		},
		{
			name:        "non-ascii symbol percent-encoded",
			query:       docParams("１２３４５６").Encode(),
			wantPayload: "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
			wantSig:     "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
		},
		{
			// Example 3 of the same section: query string and body concatenated without '&'.
			name:        "mixed query and body",
			query:       docParams("LTCBTC")[:4].Encode(),
			body:        docParams("LTCBTC")[4:].Encode(),
			wantPayload: "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559",
			wantSig:     "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := signPayload(tt.query, tt.body)
			if string(payload) != tt.wantPayload {
				t.Fatalf("payload\n got %s\nwant %s", payload, tt.wantPayload)
			}
			if got := s.sign(payload); got != tt.wantSig {
				t.Fatalf("signature %s, want %s", got, tt.wantSig)
			}
		})
	}
}

// Binance's Ed25519 example (rest-api.md "Ed25519 Keys") does not publish its private key,
// and the signatures it prints are those of the RSA example above it, so it cannot be
// reproduced. RFC 8032's test vector pins the primitive and the base64 encoding instead,
// and the payload rules are the same as HMAC's.
func TestEd25519Signer(t *testing.T) {
	const seedHex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	const sigHex = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
	seed, _ := hex.DecodeString(seedHex)
	key := ed25519.NewKeyFromSeed(seed)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	sigRaw, _ := hex.DecodeString(sigHex)
	want := base64.StdEncoding.EncodeToString(sigRaw)

	for name, in := range map[string][]byte{
		"hex seed":    []byte(seedHex),
		"base64 seed": []byte(base64.StdEncoding.EncodeToString(seed)),
		"pkcs8 pem":   pemKey,
		"64-byte key": []byte(base64.StdEncoding.EncodeToString(key)),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := newEd25519Signer(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.sign(nil); got != want {
				t.Fatalf("RFC 8032 vector 1: got %s, want %s", got, want)
			}
			payload := signPayload(docParams("１２３４５６").Encode(), "")
			sig, err := base64.StdEncoding.DecodeString(s.sign(payload))
			if err != nil || !ed25519.Verify(key.Public().(ed25519.PublicKey), payload, sig) {
				t.Fatal("signature over the documented payload does not verify")
			}
		})
	}
}

func TestEd25519SignerRejectsWithoutLeaking(t *testing.T) {
	const secretish = "not-a-key-but-secret-looking-SECRETVALUE1234567890"
	for name, in := range map[string]string{
		"garbage":     secretish,
		"short seed":  base64.StdEncoding.EncodeToString([]byte("short")),
		"bad pem":     "-----BEGIN PRIVATE KEY-----\n" + secretish + "\n-----END PRIVATE KEY-----\n",
		"rsa pem tag": "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newEd25519Signer([]byte(in))
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), "AAAA") {
				t.Fatalf("error leaks the input: %v", err)
			}
		})
	}
}

func TestParamsEncode(t *testing.T) {
	tests := []struct {
		in   params
		want string
	}{
		{nil, ""},
		{params{{"a", "b c"}}, "a=b%20c"},
		{params{{"id", "x-_.~Z9"}}, "id=x-_.~Z9"},
		{params{{"q", "a&b=c+d/%"}}, "q=a%26b%3Dc%2Bd%2F%25"},
		{params{{"s", "é"}}, "s=%C3%A9"},
	}
	for _, tt := range tests {
		if got := tt.in.Encode(); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := withSignature("a=1", "ab+/="); got != "a=1&signature=ab%2B%2F%3D" {
		t.Errorf("withSignature: %q", got)
	}
}
