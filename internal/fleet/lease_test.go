package fleet_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/internal/fleet"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/scheduler"
)

// TestFleetKilledInstanceFreesSlots: an instance SIGKILLed while it holds every slot of a
// bucket frees them when their lease ends, and another instance then gets them.
func TestFleetKilledInstanceFreesSlots(t *testing.T) {
	if os.Getenv("KEEL_FLEET_HELPER") == "hold" {
		holdSlotsForever()
		return
	}
	rdb, prefix := fleettest.Require(t)
	const lease = time.Second
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetKilledInstanceFreesSlots$")
	cmd.Env = append(os.Environ(), "KEEL_FLEET_HELPER=hold", "KEEL_FLEET_PREFIX="+prefix, "KEEL_FLEET_READY="+ready,
		"KEEL_FLEET_LEASE="+lease.String())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, 10*time.Second, "the helper did not take the slots", func() bool {
		_, err := os.Stat(ready)
		return err == nil
	})

	f, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: "b", SlotLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	defer f.Close()
	s, err := scheduler.New(scheduler.Config{Windows: []scheduler.WindowConfig{{Name: "W", Limit: 1000, Interval: time.Minute}},
		Buckets: []scheduler.BucketConfig{{Name: "orders", MaxConcurrency: 2}}}, f.SchedulerOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	do := func(ctx context.Context) error {
		_, err := s.Do(ctx, &scheduler.Request{Bucket: "orders", Priority: scheduler.PriorityOrders,
			Costs:   []scheduler.Cost{{Window: "W", Amount: 1}},
			Attempt: func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }})
		return err
	}
	// While the helper lives (renewing its leases), the bucket stays full.
	ctx, cancel := context.WithTimeout(context.Background(), 2*lease)
	if err := do(ctx); err == nil {
		t.Fatal("got a slot while a live instance held them all")
	}
	cancel()

	killed := time.Now()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	ctx, cancel = context.WithTimeout(context.Background(), 3*lease)
	defer cancel()
	if err := do(ctx); err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	if waited := time.Since(killed); waited > lease+500*time.Millisecond {
		t.Errorf("slots freed %v after the kill, want within the %v lease", waited, lease)
	}
}

// holdSlotsForever is the helper process: it takes both slots of the orders bucket, says so,
// and blocks (renewing its leases) until it is killed.
func holdSlotsForever() {
	lease, _ := time.ParseDuration(os.Getenv("KEEL_FLEET_LEASE"))
	rdb := redis.NewClient(&redis.Options{Addr: fleettest.Addr})
	f, err := fleet.New(rdb, fleet.Options{Prefix: os.Getenv("KEEL_FLEET_PREFIX"), InstanceID: "a", SlotLease: lease})
	if err != nil {
		panic(err)
	}
	f.Start()
	s, err := scheduler.New(scheduler.Config{Windows: []scheduler.WindowConfig{{Name: "W", Limit: 1000, Interval: time.Minute}},
		Buckets: []scheduler.BucketConfig{{Name: "orders", MaxConcurrency: 2}}, AIMD: scheduler.AIMDConfig{SuccessRun: 1}},
		f.SchedulerOptions()...)
	if err != nil {
		panic(err)
	}
	block := make(chan struct{})
	held := make(chan struct{}, 2)
	// AIMD starts at 1 slot: one success raises it to the cap of 2.
	_, _ = s.Do(context.Background(), &scheduler.Request{Bucket: "orders", Priority: scheduler.PriorityOrders,
		Attempt: func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }})
	for range 2 {
		go s.Do(context.Background(), &scheduler.Request{Bucket: "orders", Priority: scheduler.PriorityOrders, Budget: time.Hour,
			Attempt: func(context.Context, int) scheduler.Outcome {
				held <- struct{}{}
				<-block
				return scheduler.Outcome{Status: 200}
			}})
	}
	<-held
	<-held
	if err := os.WriteFile(os.Getenv("KEEL_FLEET_READY"), []byte(fmt.Sprint(os.Getpid())), 0o600); err != nil {
		panic(err)
	}
	<-block
}

// TestFleetDepartingInstanceHandsOverItsSlots: an instance that closes while it holds every
// slot of a bucket (its requests still in flight) hands them to the instance waiting, which
// goes at once instead of waiting out the leases (10 s here).
func TestFleetDepartingInstanceHandsOverItsSlots(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	cfg := scheduler.Config{Windows: []scheduler.WindowConfig{{Name: "W", Limit: 1000, Interval: time.Minute}},
		Buckets: []scheduler.BucketConfig{{Name: "orders", MaxConcurrency: 2}}, AIMD: scheduler.AIMDConfig{SuccessRun: 1}}
	member := func(id string) (*fleet.Fleet, *scheduler.Scheduler) {
		f, err := fleet.New(rdb, fleet.Options{Prefix: prefix, InstanceID: id, SlotLease: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		f.Start()
		s, err := scheduler.New(cfg, f.SchedulerOptions()...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close(); f.Close() })
		return f, s
	}
	ok := func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }
	fa, sa := member("a")
	if _, err := sa.Do(t.Context(), &scheduler.Request{Bucket: "orders", Priority: scheduler.PriorityOrders, Attempt: ok}); err != nil {
		t.Fatal(err) // AIMD starts at 1 slot: one success raises it to the cap of 2
	}
	block := make(chan struct{})
	held := make(chan struct{}, 2)
	done := make(chan struct{}, 2)
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			_, _ = sa.Do(context.Background(), &scheduler.Request{Bucket: "orders", Priority: scheduler.PriorityOrders, Budget: time.Minute,
				Attempt: func(context.Context, int) scheduler.Outcome {
					held <- struct{}{}
					<-block
					return scheduler.Outcome{Status: 200}
				}})
		}()
	}
	<-held
	<-held
	defer func() { close(block); <-done; <-done }()

	_, sb := member("b")
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := sb.Do(ctx, &scheduler.Request{Bucket: "orders", Priority: scheduler.PriorityOrders, Budget: 3 * time.Second, Attempt: ok})
		got <- err
	}()
	eventually(t, 2*time.Second, "b did not queue for a slot", func() bool {
		return rdb.ZCard(context.Background(), prefix+"q:orders").Val() == 1
	})
	select {
	case err := <-got:
		t.Fatalf("b got a slot while a held both: %v", err)
	default:
	}
	left := time.Now()
	if err := fa.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("b after a left: %v", err)
	}
	if waited := time.Since(left); waited > time.Second {
		t.Errorf("b got a's slot %v after a left, want at once (the lease is 10 s)", waited)
	}
}
