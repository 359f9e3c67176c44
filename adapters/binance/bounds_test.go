package binance_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keelbot/keel/adapters/binance"
	"github.com/keelbot/keel/adapters/rest"
	"github.com/keelbot/keel/adapters/sim"
)

// TestAbsurdUsageClampedToTheAnnouncedLimit: a usage header of 999,999,999 reads as the
// window's announced limit (full), no more; the scheduler's window holds that too.
func TestAbsurdUsageClampedToTheAnnouncedLimit(t *testing.T) {
	f := newFixture(t, sim.Config{Limits: sim.Limits{RequestWeight: 1200}}, fixtureOpts{})
	ctx := testCtx(t)
	if _, err := f.client.ExchangeInfo(ctx); err != nil { // learns the limit: 1200
		t.Fatal(err)
	}
	f.sim.SetFaults(sim.Faults{UsedWeight: 999_999_999, Paths: []string{"/api/v3/ping"}})
	if err := f.client.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var reported int64 = -1
	for _, u := range f.sched.Usage() {
		if u.Window == binance.WindowRequestWeight {
			reported = u.Used
		}
	}
	if reported != 1200 {
		t.Fatalf("usage read as %d, want the announced limit 1200", reported)
	}
	for _, w := range f.sched.Snapshot().Windows {
		if w.Name == binance.WindowRequestWeight && w.Used > w.Limit {
			t.Fatalf("scheduler window used %d over its limit %d", w.Used, w.Limit)
		}
	}
}

// TestBodyBoundPerEndpoint: a 1 MiB answer is refused on the book ticker (a few hundred
// bytes at most) and accepted from exchangeInfo (megabytes for every symbol).
func TestBodyBoundPerEndpoint(t *testing.T) {
	f := newFixture(t, sim.Config{}, fixtureOpts{})
	ctx := testCtx(t)
	f.sim.SetFaults(sim.Faults{PadBytes: 1 << 20, Paths: []string{"/api/v3/ticker/bookTicker", "/api/v3/exchangeInfo"}})
	_, err := f.client.BookTicker(ctx, "BTCUSDT")
	if !errors.Is(err, rest.ErrMalformedAnswer) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 1 MiB book ticker: %v, want refused for its size", err)
	}
	if _, err := f.client.ExchangeInfo(ctx); err != nil {
		t.Fatalf("a 1 MiB exchangeInfo: %v", err)
	}
}
