package runtime_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/runtime"
)

// TestEchoedKeyNeverLeaves: the exchange refuses an order with 401 -2015 and echoes the API
// key in its message (a key of 22 and of 12 characters, both shorter than the 32 the
// patterns catch bare). The auth failure trips the kill switch with the exchange's message in
// its reason; the key reaches neither the log, nor the KILLSWITCH file, nor /status, nor the
// error the strategy gets. Two set-ups: Binance's adapter with its key from the environment
// (a rest.Secret field), and the embedded simulator (its config's Secrets method).
func TestEchoedKeyNeverLeaves(t *testing.T) {
	const key = "ShortKey-0123456789xyz" // 22 characters
	for _, tc := range []struct {
		name string
		key  string
		env  func(t *testing.T) ([]string, *sim.Server)
	}{
		{"binance adapter, key from the environment", key, func(t *testing.T) ([]string, *sim.Server) {
			srv := externalSim(t, sim.Config{Seed: 5, APIKey: key, APISecret: "a-secret-of-the-test"})
			ws := "ws://" + srv.Addr().String()
			return []string{"KEEL_EXCHANGE_NAME=binance", "KEEL_EXCHANGE_BASE_URL=" + srv.URL(), "KEEL_EXCHANGE_STREAM_URL=" + ws,
				"KEEL_EXCHANGE_WS_API_URL=" + ws + "/ws-api/v3", "KEEL_EXCHANGE_API_KEY=" + key,
				"KEEL_EXCHANGE_API_SECRET=a-secret-of-the-test"}, srv
		}},
		{"embedded simulator", sim.DefaultAPIKey, func(*testing.T) ([]string, *sim.Server) { return nil, nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			extra, srv := tc.env(t)
			var admin *runtime.AdminServer
			b := startBotWith(t, dir, botEnv(dir, append(extra, "KEEL_LOG_LEVEL=debug")...), []fx.Option{fx.Populate(&admin)}, "probe")
			defer b.app.RequireStop()
			if srv == nil {
				srv = b.sim
			}
			srv.SetFaults(sim.Faults{AuthErrorRate: 1, EchoAPIKey: true, Paths: []string{"/api/v3/order"}, Methods: []string{http.MethodPost}})
			_, err := b.probes["probe"].env.Orders.Place(context.Background(), buyIntent())
			if err == nil {
				t.Fatal("a placement refused with -2015 succeeded")
			}
			if strings.Contains(err.Error(), tc.key) {
				t.Errorf("the strategy's error holds the key: %v", err)
			}
			waitHalted(t, b.sw, true)

			file, rerr := os.ReadFile(filepath.Join(dir, "KILLSWITCH"))
			if rerr != nil {
				t.Fatal(rerr)
			}
			// The echo happened (the reason quotes the exchange's message, key masked) ...
			if !strings.Contains(string(file), "-2015") || !strings.Contains(string(file), "(key: [REDACTED])") {
				t.Fatalf("KILLSWITCH does not quote the exchange's masked echo: %s", file)
			}
			resp, herr := http.Get("http://" + admin.Addr() + "/status")
			if herr != nil {
				t.Fatal(herr)
			}
			status, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(status), "[REDACTED]") {
				t.Fatalf("/status does not carry the masked reason: %s", status)
			}
			// ... and the key itself is nowhere.
			for what, text := range map[string]string{"KILLSWITCH": string(file), "/status": string(status), "the log": b.logs.String()} {
				if strings.Contains(text, tc.key) {
					t.Errorf("%s holds the API key %q:\n%s", what, tc.key, text)
				}
			}
			if !strings.Contains(b.logs.String(), `"error_message":"Invalid API-key, IP, or permissions for action. (key: [REDACTED])"`) {
				t.Errorf("the attempt event does not carry the masked message; logs:\n%s", b.logs.String())
			}
		})
	}
}
