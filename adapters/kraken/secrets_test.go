package kraken_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/adapters/rest"
)

// TestSecretsNeverPrinted: the key and private key reach no formatted config or client, no
// JSON, and no error — neither a config error nor a failed call's.
func TestSecretsNeverPrinted(t *testing.T) {
	const key, secret = "SECRETKEYabcdef", "c2VjcmV0LXByaXZhdGUta2V5LWJ5dGVz" // base64
	cfg := kraken.Config{APIKey: key, APISecret: secret}
	s := startSim(t, nil)
	f := newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.APIKey, c.APISecret = key, secret }})
	_, callErr := f.client.Balances(testCtx(t)) // EAPI:Invalid key
	bad := kraken.Config{APIKey: key, APISecret: rest.Secret(secret + "!")}
	js, _ := json.Marshal(cfg)
	for name, text := range map[string]string{
		"%v config": fmt.Sprintf("%v", cfg), "%+v config": fmt.Sprintf("%+v", cfg), "%#v config": fmt.Sprintf("%#v", cfg),
		"json config": string(js), "%v client": fmt.Sprintf("%v", f.client), "%#v client": fmt.Sprintf("%#v", f.client),
		"call error": fmt.Sprint(callErr), "validate error": fmt.Sprint(bad.Validate()),
	} {
		if strings.Contains(text, key) || strings.Contains(text, secret) || strings.Contains(text, "secret-private") {
			t.Errorf("%s leaks a secret: %s", name, text)
		}
	}
	if callErr == nil {
		t.Fatal("a call with an unknown key succeeded")
	}
}
