package binance_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/sim"
)

// Secrets print redacted wherever a Config goes: logs, errors, %v, JSON.
func ExampleConfig_String() {
	cfg := binance.Config{APIKey: "my-api-key", APISecret: "my-secret"}
	fmt.Println(cfg.APISecret)
	fmt.Printf("%v\n", cfg)
	// Output:
	// [REDACTED]
	// binance.Config{BaseURL:"" APIKey:[REDACTED] APISecret:[REDACTED] Ed25519PrivateKey: Ed25519PrivateKeyFile:"" RecvWindow:0 Timeout:0s}
}

// The scheduler of a Binance account is configured with the adapter's windows and buckets;
// ExchangeInfo then teaches it the account's announced limits.
func ExampleSchedulerWindows() {
	for _, w := range binance.SchedulerWindows() {
		fmt.Println(w.Name, w.Limit, w.Interval, w.Kind)
	}
	for _, b := range binance.SchedulerBuckets() {
		fmt.Println(b.Name, b.Public)
	}
	// Output:
	// REQUEST_WEIGHT_1M 6000 1m0s fixed
	// RAW_REQUESTS_5M 300000 5m0s fixed
	// ORDERS_10S 50 10s fixed
	// ORDERS_1D 160000 24h0m0s fixed
	// orders false
	// account false
	// market true
}

// TestEd25519KeyFile: a PKCS#8 PEM file, as `openssl genpkey -algorithm ed25519` writes it.
func TestEd25519KeyFile(t *testing.T) {
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(edSeed))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ed25519.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, sim.Config{}, fixtureOpts{ed25519: true, cfg: func(c *binance.Config) {
		c.Ed25519PrivateKey, c.Ed25519PrivateKeyFile = "", path
	}})
	if _, err := f.client.Balances(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}
