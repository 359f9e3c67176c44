package coinbase_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/coinbase"
	"github.com/keelbot/keel/adapters/sim"
)

// TestSecretsNeverPrinted: the PEM and the key name appear in no print of the config or the
// client, in no validation error, and the runtime finds both for redaction.
func TestSecretsNeverPrinted(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	cfg := &coinbase.Config{APIKey: testKey, APISecret: coinbase.Secret(testPEM)}
	bad := &coinbase.Config{APIKey: testKey, APISecret: "-----BEGIN EC PRIVATE KEY-----\nSECRETBODY\n-----END EC PRIVATE KEY-----"}
	pemBody := strings.Split(testPEM, "\n")[1]
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(f.client),
		fmt.Sprintf("%#v", f.client), fmt.Sprint(bad.Validate())} {
		if strings.Contains(s, pemBody) || strings.Contains(s, "SECRETBODY") || strings.Contains(s, "keel-test-key") {
			t.Fatalf("a secret printed: %s", s)
		}
	}
	got := adapters.Secrets(cfg)
	if len(got) != 2 {
		t.Fatalf("adapters.Secrets found %d credentials, want 2", len(got))
	}
}
