package bybit_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/bybit"
)

// environment: testnet with base_url on mainnet would trade on mainnet: refused, naming
// base_url. base_url alone, or a host that is not one of Bybit's three, is taken as given.
func TestBaseURLMustMatchTheNamedEnvironment(t *testing.T) {
	bad := bybit.Config{Environment: "testnet", BaseURL: bybit.MainnetURL}
	if err := bad.Validate(); !errors.Is(err, bybit.ErrConfig) || !strings.Contains(err.Error(), ": base_url: ") {
		t.Fatalf("testnet environment with the mainnet URL: %v", err)
	}
	for _, ok := range []bybit.Config{
		{Environment: "testnet"},
		{Environment: "demo", BaseURL: bybit.DemoURL},
		{BaseURL: bybit.TestnetURL},
		{Environment: "testnet", BaseURL: "http://127.0.0.1:8600"},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
