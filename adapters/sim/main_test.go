package sim_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go-binance v2.8.7's WebSocket API client has no way to stop its reader and its
		// reconnect loop (TestWSAPIThirdPartyClient).
		goleak.IgnoreAnyFunction("github.com/adshao/go-binance/v2/common/websocket.(*client).read"),
		goleak.IgnoreAnyFunction("github.com/adshao/go-binance/v2/common/websocket.(*client).handleReconnect"))
}
