package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/internal/fleet/fleettest"
)

// TestQueuedScriptUnknownToRedis: a script queued by its SHA that Redis does not know (it lost
// its scripts) answers NOSCRIPT in the pipeline; its reply runs it once by source, which
// loads it, so the next pipeline finds it.
func TestQueuedScriptUnknownToRedis(t *testing.T) {
	rdb, _ := fleettest.Require(t)
	calls := &callCount{}
	rdb.AddHook(calls)
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	s := newScript(`return ARGV[1] .. '` + hex.EncodeToString(nonce[:]) + `'`) // never loaded
	ctx := t.Context()
	want := "x" + hex.EncodeToString(nonce[:])

	p := rdb.Pipeline()
	q := s.queue(ctx, p, nil, "x")
	_, _ = p.Exec(ctx)
	if err := q.cmd.Err(); !redis.HasErrorPrefix(err, "NOSCRIPT") {
		t.Fatalf("queued by SHA before any load: %v, want NOSCRIPT", err)
	}
	before := calls.n.Load()
	if got, err := q.reply(ctx, rdb).Text(); err != nil || got != want {
		t.Fatalf("reply = %q, %v; want %q", got, err, want)
	}
	if n := calls.n.Load() - before; n != 1 {
		t.Errorf("reply made %d calls, want 1 (the script by source)", n)
	}

	p = rdb.Pipeline()
	q = s.queue(ctx, p, nil, "x")
	_, _ = p.Exec(ctx)
	before = calls.n.Load()
	if got, err := q.reply(ctx, rdb).Text(); err != nil || got != want {
		t.Fatalf("queued again: %q, %v; want %q", got, err, want)
	}
	if n := calls.n.Load() - before; n != 0 {
		t.Errorf("reply of a known script made %d calls, want 0", n)
	}
}
