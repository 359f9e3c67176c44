package bybit_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/bybit"
	"github.com/keelbot/keel/adapters/rest"
)

// An answer larger than its endpoint can return (a hostile or broken ticker of 1 MiB) is
// refused unread past its bound, as malformed, instead of being held and parsed.
func TestOversizedAnswerIsRefused(t *testing.T) {
	ex := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"retCode":0,"retMsg":"OK","result":{"list":[]},"pad":"` + strings.Repeat("x", 1<<20) + `"}`))
	}))
	defer ex.Close()
	c, err := bybit.New(bybit.Config{BaseURL: ex.URL}, newScheduler(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ticker(context.Background(), "BTCUSDT"); !errors.Is(err, rest.ErrMalformedAnswer) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 1 MiB ticker: %v, want a malformed answer over its bound", err)
	}
}
