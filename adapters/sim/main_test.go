package sim_test

import (
	"testing"

	gobinance "github.com/adshao/go-binance/v2"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// go-binance's keep-alive goroutine outlives a stream by its timeout; the server's pings
	// are answered without it. Set once here: go-binance's reconnect loops read it.
	gobinance.WebsocketKeepalive = false
	// go-binance's WebSocket API client (TestWebSocketAPIThirdPartyClient) exposes no way to
	// close it: its reader and reconnect loop outlive the test by design.
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/adshao/go-binance/v2/common/websocket.(*client).read"),
		goleak.IgnoreAnyFunction("github.com/adshao/go-binance/v2/common/websocket.(*client).handleReconnect"))
}
