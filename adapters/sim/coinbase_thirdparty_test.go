package sim_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/sim"
)

// coinbaseNodeDir holds the third-party client's package.json and lockfile; .ci/run installs
// it (npm ci) where npm is present.
const coinbaseNodeDir = "testdata/coinbase-node"

// TestCoinbaseThirdPartyClient drives the coinbase dialect with an unmodified, widely used
// third-party client, coinbase-api (npm; github.com/tiagosiebler/coinbase-api), signing with
// a P-256 PEM as Coinbase issues them: it places an order, finds it by order_id and among the
// open orders, repeats its client_order_id (the original order comes back, none is created),
// cancels it, and gets a refusal inside HTTP 200. The client hard-codes https (it cuts
// "https://" off the URL to make the JWT's uri), so for this test alone the simulator is served
// over TLS with httptest's certificate, which node is told to trust (NODE_EXTRA_CA_CERTS).
// Without node or the installed package the test skips, saying how to install it; in CI
// (CI=true) a missing package fails when node is present, since .ci/run installs it.
func TestCoinbaseThirdPartyClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the third-party Coinbase client (npm coinbase-api) cannot run")
	}
	if _, err := os.Stat(filepath.Join(coinbaseNodeDir, "node_modules", "coinbase-api", "package.json")); err != nil {
		msg := "the third-party Coinbase client is not installed: run `npm ci --prefix adapters/sim/" + coinbaseNodeDir + "`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (.ci/run does)")
		}
		t.Skip(msg)
	}

	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	const keyName = "organizations/3f2a1e0c-0000-4000-8000-000000000001/apiKeys/7d9c6b2e-0000-4000-8000-000000000002"
	s, err := sim.New(sim.Config{Dialect: sim.DialectCoinbase, Seed: 3, Accounts: []sim.Account{{APIKey: keyName, HMACSecret: keyPEM}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "sim-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "trade.js")
	cmd.Dir = coinbaseNodeDir
	cmd.Env = append(os.Environ(), "BASE_URL="+srv.URL, "API_KEY="+keyName, "API_SECRET="+keyPEM, "NODE_EXTRA_CA_CERTS="+ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	steps := map[string]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			steps[m["step"].(string)] = m
		}
	}
	if err != nil || steps["error"] != nil {
		t.Fatalf("the client failed: %v %v\nstdout:\n%s\nstderr:\n%s", err, steps["error"], stdout, stderr.String())
	}
	want := func(step, field string, v any) {
		t.Helper()
		if got := steps[step][field]; got != v {
			t.Errorf("%s.%s = %v, want %v (%v)", step, field, got, v, steps[step])
		}
	}
	want("best_bid_ask", "product_id", "BTC-USDT")
	want("key_permissions", "can_trade", true)
	want("key_permissions", "can_transfer", false)
	want("place", "success", true)
	id, orderID := steps["place"]["client_order_id"], steps["place"]["order_id"]
	want("find", "client_order_id", id)
	want("find", "order_id", orderID)
	want("find", "status", "OPEN")
	if open, _ := steps["list_open"]["client_order_ids"].([]any); len(open) != 1 || open[0] != id {
		t.Errorf("open orders %v, want [%v]", steps["list_open"], id)
	}
	want("repeat", "success", true)
	want("repeat", "order_id", orderID)
	want("cancel", "success", true)
	want("find_cancelled", "status", "CANCELLED")
	want("refused", "success", false)
	if steps["refused"]["error"] == nil || steps["refused"]["error"] == "" {
		t.Errorf("a refused order without its reason: %v", steps["refused"])
	}
	n := 0
	for _, o := range s.Orders() {
		if o.ClientOrderID == id {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d orders under client order id %v, want 1", n, id)
	}
	t.Logf("coinbase-api against the simulator over TLS:\n%s", stdout)
}
