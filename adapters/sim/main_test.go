package sim_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-binance's WebSocket API client (TestWebSocketAPIThirdPartyClient) exposes no way to
	// close it: its reader and reconnect loop outlive the test by design.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/adshao/go-binance/v2/common/websocket.(*client).read"),
		goleak.IgnoreAnyFunction("github.com/adshao/go-binance/v2/common/websocket.(*client).handleReconnect"))
}
