package kraken_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keelbot/keel/adapters/kraken"
	"github.com/keelbot/keel/clock"
)

// TestLocalNonceConcurrent: nonces from many goroutines are unique and, per goroutine,
// increasing, even when the clock stands still.
func TestLocalNonceConcurrent(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	n, err := kraken.NewLocalNonce(clk, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for range 500 {
				v, err := n.Next(context.Background())
				if err != nil || v <= last {
					t.Errorf("nonce %d after %d (%v)", v, last, err)
					return
				}
				last = v
				mu.Lock()
				if seen[v] {
					t.Errorf("nonce %d twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if v, _ := n.Next(context.Background()); v < uint64(clk.Now().UnixMicro()) {
		t.Fatalf("nonce %d below the clock in microseconds", v)
	}
}

// TestLocalNonceSurvivesClockStepBack: with a high-water file, a restarted process whose
// clock stepped back still continues above every nonce handed out before.
func TestLocalNonceSurvivesClockStepBack(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nonce")
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	a, err := kraken.NewLocalNonce(clk, file)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for range 100 {
		if last, err = a.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Restart an hour earlier.
	b, err := kraken.NewLocalNonce(clock.NewFake(clk.Now().Add(-time.Hour)), file)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Next(context.Background()); v <= last {
		t.Fatalf("after the restart: %d, last before it %d", v, last)
	}
	// Without the file the clock alone would have gone back.
	c, _ := kraken.NewLocalNonce(clock.NewFake(clk.Now().Add(-time.Hour)), "")
	if v, _ := c.Next(context.Background()); v > last {
		t.Fatalf("the test does not step the clock back: %d > %d", v, last)
	}
	raw, _ := os.ReadFile(file)
	if mark, _ := strconv.ParseUint(strings.TrimSpace(string(raw)), 10, 64); mark <= last {
		t.Fatalf("high-water mark %d not above the last nonce %d", mark, last)
	}
}

func TestLocalNonceBadFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nonce")
	if err := os.WriteFile(file, []byte("not a number"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kraken.NewLocalNonce(clock.Real{}, file); err == nil {
		t.Fatal("a corrupt high-water file was accepted")
	}
}

// TestNoncesInOrderOnTheWire: many goroutines' private calls on one key all pass the
// simulator's nonce check: the send lock keeps a later nonce from overtaking an earlier one.
func TestNoncesInOrderOnTheWire(t *testing.T) {
	s := startSim(t, func(c *simConfig) { c.TimeScale = 1000 })
	f := newFixture(t, s, fixtureOpts{cfg: func(c *kraken.Config) { c.TimeScale = 1000 }})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := f.client.OpenOrders(ctx, ""); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := s.Stats(); st.Total.AuthFailures != 0 {
		t.Fatalf("%d auth failures (invalid nonces)", st.Total.AuthFailures)
	}
}

// pinnedUUID is ClientOrderUUID("kl-a-1").
const pinnedUUID = "59eca485-0cd3-52d1-bfdc-89a33a21e37c"

// TestClientOrderUUID: the mapping is a valid Kraken cl_ord_id, stable, and distinct for
// distinct ids.
func TestClientOrderUUID(t *testing.T) {
	a := kraken.ClientOrderUUID("kl-mm1-0UmrNXbk000lhTBw7y")
	if a != kraken.ClientOrderUUID("kl-mm1-0UmrNXbk000lhTBw7y") || a == kraken.ClientOrderUUID("kl-mm1-0UmrNXbk000lhTBw7z") {
		t.Fatal("not deterministic or not distinct")
	}
	if !simValidClOrdID(a) || len(a) != 36 || a[14] != '5' {
		t.Fatalf("%s is not a version-5 long UUID Kraken accepts", a)
	}
	// Pinned: changing the namespace would lose every open order's mapping.
	if got := kraken.ClientOrderUUID("kl-a-1"); got != pinnedUUID {
		t.Fatalf("ClientOrderUUID(kl-a-1) = %s, was %s", got, pinnedUUID)
	}
}
