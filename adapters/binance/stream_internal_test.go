package binance

import (
	"errors"
	"testing"

	"github.com/keelbot/keel/adapters/stream"
)

// TestWSAPIErrorClasses: the WebSocket API answers that retrying cannot change stop the
// stream; others are retried.
func TestWSAPIErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		status, code int
		stop, logon  bool
	}{
		{400, -4056, true, true}, // "HMAC_SHA256 API key is not supported."
		{400, -1022, true, false},
		{401, -1002, true, false},
		{401, -2015, true, false},
		{400, -2014, true, false},
		{403, 0, true, false},
		{400, -1021, false, false}, // a timestamp: the next connect resyncs the clock
		{400, -2035, false, false},
		{503, -1008, false, false},
	} {
		err := (&wsAPIError{Code: tc.code, Msg: "m\x00"}).err("session.logon", tc.status)
		if errors.Is(err, stream.ErrStop) != tc.stop || errors.Is(err, ErrStreamAuth) != tc.stop ||
			errors.Is(err, ErrLogonNeedsEd25519) != tc.logon {
			t.Errorf("status %d code %d: %v", tc.status, tc.code, err)
		}
	}
	if err := (*wsAPIError)(nil).err("userDataStream.subscribe", 500); errors.Is(err, stream.ErrStop) {
		t.Errorf("a bodiless 500 stops: %v", err)
	}
}
