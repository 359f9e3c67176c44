package redact_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keelbot/keel/internal/redact"
)

// The registry is process-wide: every test registers values of its own, fresh for each run
// (go test -count).
var run atomic.Int64

func TestStringMasksRegisteredValuesShorterThanPatterns(t *testing.T) {
	key := fmt.Sprintf("shortKey24chars-%08d", run.Add(1)) // 24 characters: no pattern catches it bare
	if got := redact.String("Invalid API-key " + key + " for action"); got != "Invalid API-key "+key+" for action" {
		t.Fatalf("before Add: %q (a bare 24-character value should pass: it is only masked once registered)", got)
	}
	redact.Add(key, "", "tiny")
	for _, in := range []string{
		"Invalid API-key " + key + " for action",
		`{"msg":"key ` + key + `"}`,
		"path /x/" + url.PathEscape(key) + "/y",
	} {
		if got := redact.String(in); strings.Contains(got, key) || !strings.Contains(got, redact.Mask) {
			t.Errorf("String(%q) = %q, want the key masked", in, got)
		}
	}
	if got := redact.String("a tiny word"); got != "a tiny word" {
		t.Errorf("a value shorter than MinLen was registered: %q", got)
	}
}

func TestEscapedFormsMasked(t *testing.T) {
	secret := `p"a\ss<w>&rd+ /x`
	redact.Add(secret)
	js, _ := json.Marshal(map[string]string{"why": "echo " + secret})
	if got := redact.Values(string(js)); strings.Contains(got, `a\\ss`) {
		t.Errorf("JSON-escaped form survived: %s", got)
	}
	if got := redact.Values("q=" + url.QueryEscape(secret)); strings.Contains(got, url.QueryEscape(secret)) {
		t.Errorf("query-escaped form survived: %s", got)
	}
}

func TestValuesLeavesOtherTextAlone(t *testing.T) {
	redact.Add("registered-value-1")
	in := "req 0123456789abcdef0123456789abcdef01 ok" // a 34-character id: only the patterns would blank it
	if got := redact.Values(in); got != in {
		t.Errorf("Values(%q) = %q", in, got)
	}
}

func TestWriter(t *testing.T) {
	secret := "writer-secret-99"
	redact.Add(secret)
	var buf bytes.Buffer
	w := redact.Writer(&buf)
	line := []byte(`{"level":"error","error":"exchange said: bad key writer-secret-99"}` + "\n")
	n, err := w.Write(line)
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if strings.Contains(buf.String(), secret) || !strings.Contains(buf.String(), "bad key "+redact.Mask) {
		t.Fatalf("written: %s", buf.String())
	}
	if !bytes.Contains(line, []byte(secret)) {
		t.Fatal("the caller's buffer was modified")
	}
}

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://:hunter22@127.0.0.1:6379/0", "redis://:[REDACTED]@127.0.0.1:6379/0"},
		{"redis://bob:hunter22@127.0.0.1:6379/0", "redis://bob:[REDACTED]@127.0.0.1:6379/0"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		// Unparsable (a bad escape, a space, a control character): masked textually.
		{"redis://:pa%zzss@127.0.0.1:6379/0", "redis://:[REDACTED]@127.0.0.1:6379/0"},
		{"redis://bob:p@ss w0rd@host:6379", "redis://bob:[REDACTED]@host:6379"},
		{"redis://tokenonly%zz@host:6379", "redis://[REDACTED]@host:6379"},
		{"::bob:pw%zz@host", ":[REDACTED]@host"},
	}
	for _, tt := range tests {
		if got := redact.URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	redact.Add("bench-secret-aaaaaaaa", "bench-secret-bbbbbbbb", "bench-redis-pass")
	line := []byte(`{"ts":"2026-01-01T00:00:00.000Z","bot_instance_id":"t1","exchange":"binance","endpoint":"/api/v3/order","method":"POST","status":200,"error_code":0,"error_message":"","request_id":"","attempt":1,"latency_ms":1.2,"rate_limit_bucket":"orders","concurrency_inflight":1,"retry_reason":"","delay_ms":0,"idempotency_key":"kl-t1-abc"}` + "\n")
	b.Run("redacting", func(b *testing.B) {
		w := redact.Writer(discard{})
		b.ReportAllocs()
		for b.Loop() {
			_, _ = w.Write(line)
		}
	})
	b.Run("baseline", func(b *testing.B) {
		var w discard
		b.ReportAllocs()
		for b.Loop() {
			_, _ = w.Write(line)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
