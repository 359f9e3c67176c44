package binance_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/scheduler"
)

// Stream URLs left empty follow base_url's environment: a testnet bot must not watch the
// production market (issue 11: changing base_url to the testnet left the streams on production).
func TestStreamURLsFollowTheBaseURLsEnvironment(t *testing.T) {
	sched, err := scheduler.New(scheduler.Config{Windows: binance.SchedulerWindows(), Buckets: binance.SchedulerBuckets()})
	if err != nil {
		t.Fatal(err)
	}
	defer sched.Close()
	for base, want := range map[string][2]string{
		"https://api.binance.com":        {"wss://stream.binance.com:9443", "wss://ws-api.binance.com:443/ws-api/v3"},
		"https://testnet.binance.vision": {"wss://stream.testnet.binance.vision:9443", "wss://ws-api.testnet.binance.vision/ws-api/v3"},
		"https://demo-api.binance.com":   {"wss://demo-stream.binance.com:9443", "wss://demo-ws-api.binance.com/ws-api/v3"},
	} {
		c, err := binance.New(binance.Config{BaseURL: base}, sched)
		if err != nil {
			t.Fatal(err)
		}
		if s, ws := c.StreamURLs(); s != want[0] || ws != want[1] {
			t.Errorf("base_url %s: streams %s and %s, want %s and %s", base, s, ws, want[0], want[1])
		}
	}
}

// A stream URL of another Binance environment than base_url's is refused, naming the key.
func TestStreamURLOfAnotherEnvironmentIsRefused(t *testing.T) {
	for _, tt := range []struct {
		cfg binance.Config
		key string
	}{
		{binance.Config{BaseURL: "https://testnet.binance.vision", StreamURL: "wss://stream.binance.com:9443"}, "stream_url"},
		{binance.Config{BaseURL: "https://api.binance.com", WSAPIURL: "wss://ws-api.testnet.binance.vision/ws-api/v3"}, "ws_api_url"},
		{binance.Config{BaseURL: "https://demo-api.binance.com", StreamURL: "wss://stream.testnet.binance.vision:9443"}, "stream_url"},
	} {
		err := tt.cfg.Validate()
		if !errors.Is(err, binance.ErrConfig) || !strings.Contains(err.Error(), ": "+tt.key+": ") {
			t.Errorf("%+v: %v, want a config error on %s", tt.cfg, err, tt.key)
		}
	}
	// The simulator or a proxy is no Binance environment: nothing to compare.
	if err := (binance.Config{BaseURL: "http://127.0.0.1:8600", StreamURL: "ws://127.0.0.1:8600"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
