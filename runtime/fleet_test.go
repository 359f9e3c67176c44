package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/runtime"
	"github.com/keelbot/keel/strategy"
)

// TestFleetConfig: store.url (KEEL_STORE_URL) and fleet.size are read and checked, and a bad
// value names its key without echoing a password.
func TestFleetConfig(t *testing.T) {
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: []string{"KEEL_STORE_URL=redis://127.0.0.1:6379/0", "KEEL_FLEET_SIZE=5"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.URL != "redis://127.0.0.1:6379/0" || c.Fleet.Size != 5 || c.Store.Prefix != "keel:sim:" {
		t.Fatalf("store %+v fleet %+v", c.Store, c.Fleet)
	}
	for _, tc := range []struct {
		env []string
		key string
	}{
		{[]string{"KEEL_STORE_URL=http://u:hunter2@host/0"}, "store.url"},
		{[]string{"KEEL_FLEET_SIZE=-1"}, "fleet.size"},
	} {
		_, _, err := runtime.LoadConfig(runtime.LoadOptions{Environ: tc.env})
		var ce *runtime.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: err = %v, want a ConfigError for %s", tc.env, err, tc.key)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error carries the password: %v", err)
		}
	}
}

// TestFleetRedisAbsentAtStart: a fleet instance whose Redis is down when it starts does not
// exit: it reads from the exchange on its local share at once (exchange info), holds orders,
// waits to reconcile its journal, and starts its strategies, which can place orders, as soon
// as Redis answers.
func TestFleetRedisAbsentAtStart(t *testing.T) {
	srv := fleettest.StartServer(t)
	srv.Kill()
	dir := t.TempDir()
	env := botEnv(dir, "KEEL_STORE_URL=redis://"+srv.Addr+"/0", "KEEL_FLEET_SIZE=2")
	started := make(chan *probe, 1)
	p := &probe{events: make(chan strategy.Event, 1024)}
	logs := &syncBuffer{}
	app := fxtest.New(t, runtime.Module, fx.Invoke(func(*runtime.Loop, *runtime.AdminServer) {}),
		strategy.Module("probe", func(env strategy.Env, _ struct{}) (strategy.Strategy, error) {
			p.env = env
			env.Market.Subscribe("BTCUSDT")
			started <- p
			return p, nil
		}),
		runtime.WithLoadOptions(runtime.LoadOptions{Environ: env}), runtime.WithLogOutput(logs))
	app.RequireStart()
	defer app.RequireStop()

	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "reconciliation waits for it") {
		if time.Now().After(deadline) {
			t.Fatalf("no wait for Redis within 5s; logs:\n%s", logs.String())
		}
		select {
		case <-app.Wait():
			t.Fatalf("the bot stopped while Redis was down; logs:\n%s", logs.String())
		case <-time.After(10 * time.Millisecond): // polling the log with a deadline
		}
	}
	if !strings.Contains(logs.String(), `"endpoint":"/api/v3/exchangeInfo","method":"GET","status":200`) {
		t.Errorf("exchange info was not read on the local share at once; logs:\n%s", logs.String())
	}
	select {
	case <-started:
		t.Fatal("a strategy started before the journal could be reconciled")
	default:
	}

	srv.Start()
	select {
	case <-started:
	case <-time.After(15 * time.Second):
		t.Fatalf("strategies did not start after Redis came back; logs:\n%s", logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := p.env.Orders.Place(ctx, buyIntent())
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no order placed after Redis came back: %v", err)
		}
		p.waitFor(t, "a tick", ticks(1))
	}
}

// TestFleetWrongRedisPassword: a Redis that refuses store.url's password stops start-up with
// one line on stderr naming store.url, without the password, and exit code 1.
func TestFleetWrongRedisPassword(t *testing.T) {
	if os.Getenv("RUNTIME_TEST_MAIN_HELPER") == "1" {
		os.Args = os.Args[:1]
		runtime.Main()
		return
	}
	srv := fleettest.StartServerWithPassword(t, "right-password")
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetWrongRedisPassword$")
	cmd.Env = append(os.Environ(), append(botEnv(dir, "KEEL_STORE_URL=redis://:hunter2-wrong@"+srv.Addr+"/0"), "RUNTIME_TEST_MAIN_HELPER=1")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1; stderr:\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "keel: config: store.url: ") || !strings.Contains(lines[0], "refused the credentials") {
		t.Errorf("stderr is not one line naming store.url and the refusal:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "hunter2-wrong") {
		t.Errorf("stderr carries the password:\n%s", stderr.String())
	}
}
