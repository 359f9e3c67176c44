package fleet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/internal/syncbuf"
	"github.com/keelbot/keel/killswitch"
)

// member is one instance's kill switch in fleet mode: its own file kept in step with Redis.
type member struct {
	sw   *killswitch.Switch
	file string
	log  *syncbuf.Buffer

	mu      sync.Mutex
	resumed int // resumes seen by OnChange
}

func newMember(t *testing.T, ctx context.Context, wg *sync.WaitGroup, rdb redis.UniversalClient, prefix, id, file string) *member {
	t.Helper()
	m := &member{file: file, log: &syncbuf.Buffer{}}
	f, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: id, Logger: zerolog.New(m.log)})
	if err != nil {
		t.Fatal(err)
	}
	m.sw = killswitch.NewWithBackend(f.KillSwitchBackend(killswitch.NewFileBackend(file)), killswitch.WithPollInterval(50*time.Millisecond))
	m.sw.OnChange(func(ev killswitch.Event) {
		if !ev.Halted {
			m.mu.Lock()
			m.resumed++
			m.mu.Unlock()
		}
	})
	wg.Go(func() { _ = m.sw.Run(ctx) })
	return m
}

func (m *member) resumes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resumed
}

// TestFleetHaltSurvivesStoreLoss: after `keel halt`, a FLUSHALL (a Redis restarted without
// persistence, a failover to a lagging replica, eviction) lifts nothing: both instances stay
// halted, the halted host's file stays, each logs "store lost" at error, and the halt is
// written back to Redis. Only an explicit resume (`keel resume`, with its record) lifts it,
// on both.
func TestFleetHaltSurvivesStoreLoss(t *testing.T) {
	srv := fleettest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	prefix := fleettest.Prefix()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	dir := t.TempDir()
	a := newMember(t, ctx, &wg, rdb, prefix, "a", filepath.Join(dir, "a", "KILLSWITCH"))
	b := newMember(t, ctx, &wg, rdb, prefix, "b", filepath.Join(dir, "b", "KILLSWITCH"))
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// `keel halt --config` (later `keel resume`) on a's host: each its own process, with its
	// own fleet handle (a fresh one has seen no namespace yet), a's file, the fleet's key.
	// The command exits when done: its fleet handle is closed (a handle left running would
	// keep watching a's file as a third instance).
	operator := func(do func(*killswitch.Switch) error) {
		opFleet, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: "op"})
		if err != nil {
			t.Fatal(err)
		}
		defer opFleet.Close()
		if err := do(killswitch.NewWithBackend(opFleet.KillSwitchBackend(killswitch.NewFileBackend(a.file)))); err != nil {
			t.Fatal(err)
		}
	}
	operator(func(sw *killswitch.Switch) error {
		return sw.Trip(ctx, killswitch.Reason{Who: "alice", Why: "maintenance"})
	})
	for _, m := range []*member{a, b} {
		eventually(t, time.Second, "not halted after keel halt", func() bool { h, _ := m.sw.Halted(); return h })
	}

	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*member{"a": a, "b": b} {
		eventually(t, 2*time.Second, name+" did not log the store lost", func() bool {
			return strings.Contains(m.log.String(), "store lost")
		})
		if !strings.Contains(m.log.String(), `"level":"error"`) {
			t.Errorf("%s: store lost not logged at error: %s", name, m.log.String())
		}
	}
	eventually(t, 2*time.Second, "the halt was not written back to Redis", func() bool {
		return rdb.Exists(ctx, prefix+"killswitch").Val() == 1
	})
	for name, m := range map[string]*member{"a": a, "b": b} {
		if h, _ := m.sw.Halted(); !h || m.resumes() != 0 {
			t.Fatalf("%s resumed after FLUSHALL (halted %v, resumes %d)", name, h, m.resumes())
		}
	}
	if _, err := os.Stat(a.file); err != nil {
		t.Fatalf("a's kill-switch file is gone after FLUSHALL: %v", err)
	}
	if got := string(must(os.ReadFile(a.file))); !strings.Contains(got, "maintenance") {
		t.Errorf("a's file lost its reason: %s", got)
	}

	// An explicit resume lifts it everywhere.
	operator(func(sw *killswitch.Switch) error {
		return sw.ResumeWith(ctx, killswitch.Reason{Who: "alice", Why: "checked the orders"})
	})
	for name, m := range map[string]*member{"a": a, "b": b} {
		eventually(t, time.Second, name+" not resumed by the explicit resume", func() bool { h, _ := m.sw.Halted(); return !h })
		if _, err := os.Stat(m.file); err == nil {
			t.Errorf("%s's file survived the resume", name)
		}
	}
	// The resume is on record: alice's own, or — when instance a, which watches the same
	// file, saw the command delete it first — a's record of that deletion, which lifted
	// alice's halt. Either is an explicit resume of this halt; a vanished key never is.
	rec := rdb.Get(ctx, prefix+"killswitch:resume").Val()
	byAlice := strings.Contains(rec, `"who":"alice"`) && strings.Contains(rec, "checked the orders")
	byFile := strings.Contains(rec, "kill-switch file deleted") && strings.Contains(rec, `"lifted":{"who":"alice"`)
	if !byAlice && !byFile {
		t.Errorf("resume record %s: want alice's resume, or the deletion of her halt's file", rec)
	}
}

// TestFleetHaltKeyDeletedIsNotAResume: a fleet halt whose key is deleted by anything but a
// resume (eviction, a stray DEL) stays in force on an instance halted only through Redis, and
// is written back.
func TestFleetHaltKeyDeletedIsNotAResume(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	dir := t.TempDir()
	a := newMember(t, ctx, &wg, rdb, prefix, "a", filepath.Join(dir, "A"))
	b := newMember(t, ctx, &wg, rdb, prefix, "b", filepath.Join(dir, "B"))
	if err := a.sw.Trip(ctx, killswitch.Reason{Who: "alice", Why: "test"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "b not halted", func() bool { h, _ := b.sw.Halted(); return h })
	if err := rdb.Del(ctx, prefix+"killswitch").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "the halt was not written back", func() bool {
		return rdb.Exists(ctx, prefix+"killswitch").Val() == 1
	})
	if h, _ := b.sw.Halted(); !h || b.resumes() != 0 || a.resumes() != 0 {
		t.Fatalf("a deleted key resumed an instance (b halted %v, resumes a %d b %d)", h, a.resumes(), b.resumes())
	}
	if !strings.Contains(a.log.String()+b.log.String(), "vanished from Redis without a resume") {
		t.Errorf("not logged: %s %s", a.log.String(), b.log.String())
	}
	if err := b.sw.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "a not resumed by b's resume", func() bool { h, _ := a.sw.Halted(); return !h })
	if _, err := os.Stat(a.file); err == nil {
		t.Error("a's file survived the fleet's resume")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
