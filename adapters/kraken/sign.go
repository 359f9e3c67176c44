package kraken

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
)

// Sign computes API-Sign (docs.kraken.com guides spot-rest-auth): HMAC-SHA512 of the URI path
// followed by SHA256(nonce + POST body), keyed with the base64-decoded private key, in
// base64. body is the exact body sent, nonce the nonce as it appears in it.
func Sign(key []byte, path, nonce, body string) string {
	sum := sha256.Sum256([]byte(nonce + body))
	mac := hmac.New(sha512.New, key)
	mac.Write([]byte(path))
	mac.Write(sum[:])
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
