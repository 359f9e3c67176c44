package coinbase_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/coinbase"
)

// TestStreamURLsFollowBaseURL: left empty, ws_url and ws_user_url are production's with
// production's REST root and the REST root's own host otherwise (the simulator's /ws and
// /ws/user); production's streams behind another REST root are refused naming the key, and so
// is a URL that is not ws:// or wss://.
func TestStreamURLsFollowBaseURL(t *testing.T) {
	c := coinbase.NewConfig()
	if c.WSURL != coinbase.ProductionWSURL || c.WSUserURL != coinbase.ProductionWSUserURL {
		t.Fatalf("production: %q %q", c.WSURL, c.WSUserURL)
	}
	got := coinbase.NewConfig()
	got.BaseURL, got.WSURL, got.WSUserURL = "http://127.0.0.1:8600", "", ""
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if s := got.String(); !strings.Contains(s, `WSURL:"ws://127.0.0.1:8600/ws"`) || !strings.Contains(s, `WSUserURL:"ws://127.0.0.1:8600/ws/user"`) {
		t.Fatalf("streams of a test root: %s", s)
	}
	for _, tc := range []struct {
		cfg coinbase.Config
		key string
	}{
		{coinbase.Config{BaseURL: "http://127.0.0.1:8600", WSURL: coinbase.ProductionWSURL}, "ws_url"},
		{coinbase.Config{WSURL: "https://advanced-trade-ws.coinbase.com"}, "ws_url"},
		{coinbase.Config{WSUserURL: "ws://"}, "ws_user_url"},
	} {
		err := tc.cfg.Validate()
		if !errors.Is(err, coinbase.ErrConfig) || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%+v: %v, want an error naming %s", tc.cfg, err, tc.key)
		}
	}
}
