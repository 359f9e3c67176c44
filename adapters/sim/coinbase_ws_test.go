package sim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/keelbot/keel/adapters/sim"
)

// cbWSJWT is a subscribe message's JWT for the default account (its Ed25519 key is seeded by
// SHA-256 of the default secret), signed at now.
func cbWSJWT(now time.Time, iss string) string {
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	in := enc(map[string]string{"alg": "EdDSA", "kid": sim.DefaultAPIKey, "nonce": "n" + now.String()}) + "." +
		enc(map[string]any{"sub": sim.DefaultAPIKey, "iss": iss, "nbf": now.Unix(), "exp": now.Unix() + 60})
	key := ed25519.NewKeyFromSeed(sim.CoinbaseSimSeed(sim.DefaultAPISecret))
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(in)))
}

func cbDial(t *testing.T, s *sim.Server, path string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, "ws://"+s.Addr().String()+path, nil)
}

// cbRead reads messages until one satisfies ok, or the connection ends (nil).
func cbRead(t *testing.T, c *websocket.Conn, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("not JSON: %s", b)
		}
		if ok(m) {
			return m
		}
	}
}

// TestCoinbaseWebSocketRules: the coinbase dialect's feeds keep Coinbase's rules. The user
// channel needs a valid JWT (a bad one is an error message and no subscription); a valid
// subscription confirms and snapshots, with sequence numbers counting from 0; a connection
// with no subscription within SubscribeWithin is closed; a quiet connection without heartbeats
// is closed after QuietClose; past WSConnectionsPerSecond the upgrade is a 429.
func TestCoinbaseWebSocketRules(t *testing.T) {
	s := listen(t, sim.Config{Dialect: sim.DialectCoinbase, Seed: 1, WalkInterval: 1000 * time.Hour,
		Streams:       sim.StreamConfig{Interval: 10 * time.Millisecond},
		DialectConfig: sim.CoinbaseConfig{SubscribeWithin: 200 * time.Millisecond, QuietClose: 300 * time.Millisecond}})
	ctx := context.Background()

	c, _, err := cbDial(t, s, "/ws/user")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	send := func(v any) {
		b, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "subscribe", "channel": "user"})
	if m := cbRead(t, c, func(m map[string]any) bool { return m["type"] == "error" }); m == nil || !strings.Contains(m["message"].(string), "authentication") {
		t.Fatalf("user without a JWT: %v", m)
	}
	send(map[string]any{"type": "subscribe", "channel": "user", "jwt": cbWSJWT(time.Now(), "someone")})
	if m := cbRead(t, c, func(m map[string]any) bool { return m["type"] == "error" }); m == nil {
		t.Fatal("a JWT with a wrong iss: no error")
	}
	send(map[string]any{"type": "subscribe", "channel": "heartbeats", "jwt": cbWSJWT(time.Now(), "cdp")})
	send(map[string]any{"type": "subscribe", "channel": "user", "jwt": cbWSJWT(time.Now(), "cdp")})
	var seqs []float64
	snap := cbRead(t, c, func(m map[string]any) bool {
		if n, ok := m["sequence_num"].(float64); ok {
			seqs = append(seqs, n)
		}
		return m["channel"] == "user"
	})
	if snap == nil {
		t.Fatal("no user snapshot")
	}
	for i, n := range seqs {
		if n != float64(i) {
			t.Fatalf("sequence numbers %v", seqs)
		}
	}
	beat := cbRead(t, c, func(m map[string]any) bool { return m["channel"] == "heartbeats" })
	if beat == nil {
		t.Fatal("no heartbeat")
	}

	// No subscription: closed after SubscribeWithin.
	idle, _, err := cbDial(t, s, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer idle.CloseNow()
	began := time.Now()
	if m := cbRead(t, idle, func(m map[string]any) bool { return false }); m != nil || time.Since(began) > 5*time.Second {
		t.Fatalf("an idle connection was not closed: %v after %s", m, time.Since(began))
	}

	// Subscribed to a quiet channel without heartbeats: closed after QuietClose.
	quiet, _, err := cbDial(t, s, "/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.CloseNow()
	b, _ := json.Marshal(map[string]any{"type": "subscribe", "channel": "candles", "product_ids": []string{"BTC-USDT"}})
	if err := quiet.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if m := cbRead(t, quiet, func(m map[string]any) bool { return false }); m != nil {
		t.Fatalf("a quiet connection was not closed: %v", m)
	}

	// The connection limit, on a simulator of its own: attempts past 4 within a second are
	// refused 429.
	s = listen(t, sim.Config{Dialect: sim.DialectCoinbase, Seed: 1, DialectConfig: sim.CoinbaseConfig{WSConnectionsPerSecond: 4}})
	refused := 0
	for range 6 {
		c, resp, err := cbDial(t, s, "/ws")
		if err != nil {
			if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
				refused++
			}
			continue
		}
		c.CloseNow()
	}
	if refused != 2 {
		t.Fatalf("%d of 6 connection attempts within a second refused, want 2", refused)
	}
	if st := s.Stats().Streams; st.Refused != 2 {
		t.Fatalf("stats: refused %d", st.Refused)
	}
}

// TestCoinbaseRotatedSecretIsRefused: after RotateSecret, JWTs signed with the old key are
// refused (401), on REST and on a WebSocket subscription.
func TestCoinbaseRotatedSecretIsRefused(t *testing.T) {
	s := listen(t, sim.Config{Dialect: sim.DialectCoinbase, Seed: 1})
	c, _, err := cbDial(t, s, "/ws/user")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	sub := func() map[string]any {
		b, _ := json.Marshal(map[string]any{"type": "subscribe", "channel": "user", "jwt": cbWSJWT(time.Now(), "cdp")})
		if err := c.Write(context.Background(), websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		return cbRead(t, c, func(m map[string]any) bool { return m["type"] == "error" || m["channel"] == "user" })
	}
	if m := sub(); m == nil || m["channel"] != "user" {
		t.Fatalf("the default key's subscription: %v", m)
	}
	if err := s.RotateSecret(sim.DefaultAPIKey, "a-new-secret"); err != nil {
		t.Fatal(err)
	}
	if m := sub(); m == nil || m["type"] != "error" {
		t.Fatalf("a JWT of the rotated-out key: %v", m)
	}
}
