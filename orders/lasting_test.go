package orders_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/adapters/sim"
	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

// TestRestartResendsCreateOnCoinbase runs restart reconciliation end to end against the
// simulator's coinbase dialect, whose client_order_id is a lasting key. A bot places an order
// whose create the exchange applies but whose answer never comes back, nor do the lookups
// (the simulator drops them): the placement ends unknown in a file journal, and the process
// is gone. A new process on the same journal reconciles:
//
//   - within the entry's send deadline, it resends the identical create, which Coinbase
//     answers with the original order: one create at the restart, no lookup needed;
//   - past the deadline, it sends no create and looks the order up.
//
// Either way the simulator holds exactly one order under the client order id, and the journal
// holds that order, acked.
func TestRestartResendsCreateOnCoinbase(t *testing.T) {
	d, ok := crashDialectNamed(sim.DialectCoinbase)
	if !ok {
		t.Fatal("no coinbase crash dialect")
	}
	const sendTimeout = time.Minute
	const createKey = "POST /api/v3/brokerage/orders"
	for _, tc := range []struct {
		name   string
		late   bool // the restart comes after the entry's send deadline
		resend bool
	}{
		{name: "within the send deadline: identical create", resend: true},
		{name: "past the send deadline: lookup", late: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := d.simConfig()
			cfg.Seed = 11
			s, err := sim.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Listen("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			path := filepath.Join(t.TempDir(), "journal.db")
			life := func(clk clock.Clock) (*crashStack, *orders.Manager) {
				t.Helper()
				st, err := openCrashStack(ctx, d, s.URL(), path, "h1", false)
				if err != nil {
					t.Fatal(err)
				}
				keys, err := idempotency.NewKeyGenerator("kc", "h1")
				if err != nil {
					t.Fatal(err)
				}
				m, err := orders.New(orders.Params{Exchange: st.client, Store: st.store, Keys: keys, Clock: clk, Log: zerolog.Nop(),
					Config: orders.Config{SettleTime: d.settle(), SendTimeout: sendTimeout, RecvWindow: d.recvWindow, ClockSkew: crashSkew}})
				if err != nil {
					st.close()
					t.Fatal(err)
				}
				return st, m
			}

			// The first life: the create lands, its answer and every lookup are dropped.
			st, m := life(nil)
			s.SetFaults(sim.Faults{TimeoutRate: 1, Paths: []string{d.placeEndpoint, "/api/v3/brokerage/orders/historical/batch"}})
			o, err := m.Place(ctx, orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit,
				Quantity: crashQuantity(3), Price: crashPrice(3), Strategy: "crash"})
			if !errors.Is(err, scheduler.ErrUnknownOutcome) {
				st.close()
				t.Fatalf("Place: %v, want the unknown outcome", err)
			}
			key := o.ClientOrderID
			e, err := st.store.Get(ctx, key)
			if err != nil || e.State != idempotency.StateUnknown {
				st.close()
				t.Fatalf("journal %+v, %v; want the entry unknown", e, err)
			}
			st.close() // the process is gone
			s.SetFaults(sim.Faults{})

			var clk clock.Clock // real: the restart comes seconds after the placement
			if tc.late {
				clk = clock.NewFake(e.SendBy.Add(sendTimeout))
			}
			creates := s.Stats().Endpoints[createKey].Requests
			st, m = life(clk)
			defer st.close()
			sum, err := m.Reconcile(ctx)
			if err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			sent := s.Stats().Endpoints[createKey].Requests - creates
			if tc.resend && (sent != 1 || sum.Resent != 1) || !tc.resend && (sent != 0 || sum.Resent != 0) {
				t.Fatalf("%d creates at the restart, Reconcile %+v; want a resend: %v", sent, sum, tc.resend)
			}
			var held []sim.OrderRecord
			for _, rec := range s.Orders() {
				if rec.ClientOrderID == key {
					held = append(held, rec)
				}
			}
			if len(held) != 1 {
				t.Fatalf("%d orders at the simulator under %s, want 1", len(held), key)
			}
			e, err = st.store.Get(ctx, key)
			if err != nil || e.State != idempotency.StateAcked || e.ExchangeOrderID != d.exchangeID(held[0]) || sum.Found != 1 {
				t.Fatalf("journal %+v, %v (Reconcile %+v); want acked as order %s", e, err, sum, d.exchangeID(held[0]))
			}
			if open := m.Open("crash"); len(open) != 1 || open[0].ClientOrderID != key {
				t.Fatalf("open after the restart: %+v", open)
			}
		})
	}
}
