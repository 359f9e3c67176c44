// Package fleettest gives tests a real Redis: the machine's shared one (127.0.0.1:6379, under a
// key prefix of their own that is deleted afterwards) or a private redis-server they can stop
// and restart. A test that needs Redis fails when CI=true and Redis is absent, and skips with
// a clear message otherwise.
package fleettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr is the shared Redis the tests use.
const Addr = "127.0.0.1:6379"

// Require returns a client of the shared Redis and a fresh key prefix ("keeltest:<random>:"),
// and deletes every key under the prefix when the test ends. Without Redis it fails the test
// when CI=true and skips it otherwise.
func Require(t testing.TB) (*redis.Client, string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr, DialTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		Missing(t, fmt.Sprintf("no Redis at %s (%v)", Addr, err))
	}
	prefix := Prefix()
	t.Cleanup(func() {
		Clean(rdb, prefix)
		_ = rdb.Close()
	})
	return rdb, prefix
}

// OptionalURL returns the shared Redis's URL (db 0) for a test that runs without it, only
// less: "" (and a log line saying so) when none answers, a failure when CI=true.
func OptionalURL(t testing.TB, without string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", Addr, time.Second)
	if err == nil {
		c.Close()
		return "redis://" + Addr + "/0"
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no Redis at %s (%v); .ci/run starts one", Addr, err)
	}
	t.Logf("no Redis at %s: %s", Addr, without)
	return ""
}

// Missing fails (CI=true) or skips the test because Redis is not available.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("fleet tests need Redis: %s; .ci/run starts one", why)
	}
	t.Skipf("skipping: fleet tests need Redis: %s (start one with `redis-server --port 6379`; with CI=true this fails)", why)
}

// Prefix returns a new random key prefix, "keeltest:<16 hex>:".
func Prefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "keeltest:" + hex.EncodeToString(b[:]) + ":"
}

// Clean deletes every key under prefix.
func Clean(rdb redis.UniversalClient, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		_ = rdb.Del(ctx, keys[:n]...).Err()
		keys = keys[n:]
	}
}

// Server is a private redis-server on a free loopback port, for tests that stop Redis. It
// keeps an append-only file fsynced on every write in a temporary directory, so a restart
// finds what was written before a kill, as an operator's AOF-enabled Redis would.
type Server struct {
	t    testing.TB
	Addr string
	// Password is what the server requires (requirepass), "" for none.
	Password string
	dir      string
	cmd      *exec.Cmd
}

// StartServer starts a private redis-server; it is killed when the test ends. Without the
// redis-server binary it fails (CI=true) or skips the test.
func StartServer(t testing.TB) *Server {
	t.Helper()
	return StartServerWithPassword(t, "")
}

// StartServerWithPassword is StartServer for a server that requires password (none if "").
func StartServerWithPassword(t testing.TB, password string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Missing(t, "no redis-server binary in PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &Server{t: t, Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password, dir: t.TempDir()}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Start (re)starts the server on its port and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if s.Password != "" {
		s.cmd.Args = append(s.cmd.Args, "--requirepass", s.Password)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.Password, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline, not waiting a fixed time
	}
}

// Kill stops the server with SIGKILL (by its PID) and waits for it to exit. Killing a stopped
// server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}
