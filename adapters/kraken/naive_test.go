package kraken_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/adapters/sim"
)

// naive is a plain HTTP client of the simulator's Kraken dialect: no scheduler, no send
// lock, retries at once.
type naive struct {
	t     testing.TB
	base  string
	key   string
	priv  []byte
	nonce atomic.Uint64
	hc    *http.Client
}

func newNaive(t testing.TB, s *sim.Server, key string) *naive {
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	n := &naive{t: t, base: s.URL(), key: key, priv: []byte(testSecret), hc: &http.Client{Transport: tr}}
	n.nonce.Store(1)
	return n
}

// body signs a private call's body with nonce and returns it with its signature.
func (n *naive) body(path string, params url.Values, nonce uint64) (string, string) {
	nn := strconv.FormatUint(nonce, 10)
	body := "nonce=" + nn
	if enc := params.Encode(); enc != "" {
		body += "&" + enc
	}
	return body, kraken.Sign(n.priv, path, nn, body)
}

// send posts a signed body and returns the first error string ("" on success).
func (n *naive) send(path, body, sig string) string {
	req, _ := http.NewRequest(http.MethodPost, n.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("API-Key", n.key)
	req.Header.Set("API-Sign", sig)
	resp, err := n.hc.Do(req)
	if err != nil {
		n.t.Error(err)
		return "transport"
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct{ Error []string }
	if json.Unmarshal(raw, &env) != nil {
		return "malformed"
	}
	if len(env.Error) > 0 {
		return env.Error[0]
	}
	return ""
}

// call signs and sends one private call with the next nonce.
func (n *naive) call(method string, params url.Values) string {
	path := "/0/private/" + method
	body, sig := n.body(path, params, n.nonce.Add(1))
	return n.send(path, body, sig)
}
