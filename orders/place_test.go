package orders_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
	"github.com/keelbot/keel/scheduler"
)

func TestPlaceAcknowledged(t *testing.T) {
	h := newHarness(t, orders.Config{})
	o, err := h.m.Place(t.Context(), limitBuy("0.0012345", "65000.004"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != adapters.StatusNew || o.ExchangeOrderID == "" || o.Quantity.String() != "0.00123" || o.Price.String() != "65000" {
		t.Fatalf("order %+v", o)
	}
	if !h.keys.Owns(o.ClientOrderID) {
		t.Fatalf("client order id %q is not this bot's key", o.ClientOrderID)
	}
	e := h.entry(o.ClientOrderID)
	if e.State != idempotency.StateAcked || e.ExchangeOrderID != o.ExchangeOrderID || e.Attempts != 1 ||
		e.Intent.Quantity != "0.00123" || e.Intent.Price != "65000" || e.Intent.Strategy != "mm" || e.Intent.TimeInForce != "GTC" {
		t.Fatalf("journal entry %+v", e)
	}
	evs := h.takeEvents()
	if got := statuses(evs); len(got) != 1 || got[0] != ">NEW" || evs[0].Strategy != "mm" || evs[0].Source != orders.SourcePlace {
		t.Fatalf("events %v", evs)
	}
	if p := h.ex.priorities["place"]; len(p) != 1 || p[0] != scheduler.PriorityOrders {
		t.Fatalf("place priorities %v", p)
	}
	if got := h.m.Open("mm"); len(got) != 1 || len(h.m.Open("other")) != 0 {
		t.Fatalf("open %v", got)
	}
	if h.metrics.get("placed") != 1 {
		t.Fatal("placed metric not counted")
	}
}

// TestPlaceSendsNothingInvalid: hostile intents are refused before a key is journalled or a
// byte is sent.
func TestPlaceSendsNothingInvalid(t *testing.T) {
	h := newHarness(t, orders.Config{})
	with := func(qty, price decimal.Decimal) orders.Intent {
		return orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit, Quantity: qty, Price: price, Strategy: "mm"}
	}
	tests := map[string]orders.Intent{
		"unknown symbol":                   {Symbol: "NOPEUSDT", Side: adapters.Buy, Type: adapters.Limit, Quantity: dec("1"), Price: dec("1")},
		"symbol not trading":               {Symbol: "HALTUSDT", Side: adapters.Buy, Type: adapters.Limit, Quantity: dec("1"), Price: dec("10")},
		"negative quantity":                limitBuy("-0.001", "65000"),
		"zero quantity":                    limitBuy("0", "65000"),
		"below min notional":               limitBuy("0.00001", "65000"),
		"zero-valued decimal":              {Symbol: "BTCUSDT", Side: adapters.Buy, Type: adapters.Limit},
		"price 1e-30 off the grid":         with(dec("0.001"), dec("65000.01").Add(decimal.New(1, -30))),
		"quantity 1e-30 off the step":      with(dec("0.00123").Sub(decimal.New(1, -30)), dec("65000")),
		"price with an absurd exponent":    with(dec("0.001"), decimal.New(1, -1000)),
		"quantity with an absurd exponent": with(decimal.New(1, 1000), dec("65000")),
	}
	// Amounts as text, through the ways a strategy gets them: Decimal's UnmarshalText (how
	// the runtime decodes a strategy's config, and what decimal.NewFromString does) and
	// ParseAmount. ParseAmount refuses every one; what UnmarshalText lets through, Place does.
	for _, text := range []string{"NaN", "nan", "Inf", "+Inf", "-Infinity", "0x10", "-0.001",
		"1e-30", "65000.01e-30", "65000010000000000000000000000000001e-30", "1E-1000", "1e1000"} {
		if d, err := orders.ParseAmount(text); !errors.Is(err, orders.ErrInvalidIntent) {
			t.Errorf("ParseAmount(%q) = %s, %v; want a validation error", text, d, err)
		}
		var d decimal.Decimal
		if err := d.UnmarshalText([]byte(text)); err != nil {
			continue // never becomes an amount
		}
		tests["price "+text] = with(dec("0.001"), d)
		tests["quantity "+text] = with(d, dec("65000"))
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := h.m.Place(t.Context(), in)
			if !errors.Is(err, orders.ErrInvalidIntent) || scheduler.ClassOf(err) != scheduler.ClassValidation {
				t.Fatalf("err %v (class %s), want a validation error", err, scheduler.ClassOf(err))
			}
		})
	}
	if n := h.ex.numAttempts(); n != 0 {
		t.Fatalf("%d placements sent", n)
	}
	if all, _ := h.store.List(t.Context()); len(all) != 0 {
		t.Fatalf("journal holds %d entries", len(all))
	}
	if evs := h.takeEvents(); len(evs) != 0 {
		t.Fatalf("events %v", statuses(evs))
	}
}

// TestPlaceUnknownOutcome walks every way an unknown outcome is settled.
func TestPlaceUnknownOutcome(t *testing.T) {
	tests := []struct {
		name     string
		faults   []fault
		qerrs    []error // query failures before the fake answers truthfully
		cfg      orders.Config
		wantErr  bool // an *UnknownOutcomeError
		status   adapters.OrderStatus
		state    idempotency.State
		attempts int // placement attempts that reached the exchange
		orders   int // orders booked
		resent   int
		journal  int // Entry.Attempts
		waits    int // times Place waited out the acceptance window
	}{
		{name: "found by the scheduler's retry probe",
			faults: []fault{{land: true, err: errUnknown}},
			status: adapters.StatusNew, state: idempotency.StateAcked, attempts: 1, orders: 1, journal: 1},
		{name: "not found by the probe nor the query at once: resent with the same key after the window",
			faults: []fault{{land: false, err: errUnknown}}, waits: 1,
			status: adapters.StatusNew, state: idempotency.StateAcked, attempts: 2, orders: 1, resent: 1, journal: 2},
		{name: "probe undecidable, then found by the manager's query",
			faults: []fault{{land: true, err: errUnknown}}, qerrs: []error{errReadFail},
			status: adapters.StatusNew, state: idempotency.StateAcked, attempts: 1, orders: 1, journal: 1},
		{name: "probe undecidable, manager's query proves absent after the window: resent by the manager",
			faults: []fault{{land: false, err: errUnknown}}, qerrs: []error{errReadFail}, waits: 1,
			status: adapters.StatusNew, state: idempotency.StateAcked, attempts: 2, orders: 1, resent: 1, journal: 2},
		{name: "undecidable: stays unknown and is reported",
			faults: []fault{{land: true, err: errUnknown}}, qerrs: []error{errReadFail, errReadFail, errReadFail, errReadFail},
			wantErr: true, status: adapters.StatusUnknown, state: idempotency.StateUnknown, attempts: 1, orders: 1, journal: 1},
		{name: "absent after every resend: stays unknown, never placed twice",
			faults:  []fault{{err: errUnknown}, {err: errUnknown}, {err: errUnknown}, {err: errUnknown}, {err: errUnknown}, {err: errUnknown}},
			waits:   2,
			wantErr: true, status: adapters.StatusUnknown, state: idempotency.StateUnknown, attempts: 2, orders: 0, resent: 1, journal: 2},
		{name: "no resend when disabled",
			faults: []fault{{err: errUnknown}, {err: errUnknown}, {err: errUnknown}}, cfg: orders.Config{MaxResends: -1}, waits: 1,
			wantErr: true, status: adapters.StatusUnknown, state: idempotency.StateUnknown, attempts: 1, orders: 0, resent: 0, journal: 1},
		{name: "resend answered with an error although it landed: the query finds it",
			faults: []fault{{land: false, err: errUnknown}, {land: true, err: errRejected}}, waits: 1,
			status: adapters.StatusNew, state: idempotency.StateAcked, attempts: 2, orders: 1, resent: 1, journal: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			h.ex.script(tt.faults...)
			h.ex.failQueries(tt.qerrs...)
			var (
				o   adapters.Order
				err error
			)
			start := h.clock.Now()
			waits := h.driveClock(func() { o, err = h.m.Place(t.Context(), limitBuy("0.001", "65000")) })
			if waits != tt.waits {
				t.Fatalf("Place waited %d times on its clock, want %d", waits, tt.waits)
			}
			if want := start.Add(time.Duration(tt.waits) * (orders.DefaultRecvWindow + orders.DefaultClockSkew)); !h.clock.Now().Equal(want) {
				t.Fatalf("Place returned at %v, want %v", h.clock.Now().Sub(start), want.Sub(start))
			}
			var uerr *orders.UnknownOutcomeError
			if tt.wantErr != errors.As(err, &uerr) {
				t.Fatalf("err %v, want unknown outcome %v", err, tt.wantErr)
			}
			if !tt.wantErr && err != nil {
				t.Fatalf("err %v", err)
			}
			if tt.wantErr && (!errors.Is(err, scheduler.ErrUnknownOutcome) || scheduler.ClassOf(err) != scheduler.ClassUnknown) {
				t.Fatalf("err %v does not read as an unknown outcome", err)
			}
			if o.Status != tt.status || o.ClientOrderID == "" {
				t.Fatalf("order %+v, want status %s", o, tt.status)
			}
			e := h.entry(o.ClientOrderID)
			if e.State != tt.state || e.Attempts != tt.journal {
				t.Fatalf("journal %s (attempts %d), want %s (%d)", e.State, e.Attempts, tt.state, tt.journal)
			}
			if n := h.ex.numAttempts(); n != tt.attempts {
				t.Fatalf("%d attempts, want %d", n, tt.attempts)
			}
			for _, a := range h.ex.attempts {
				if a.ClientOrderID != o.ClientOrderID {
					t.Fatalf("a retry used key %s, not %s", a.ClientOrderID, o.ClientOrderID)
				}
			}
			if n := h.ex.numOrders(); n != tt.orders {
				t.Fatalf("%d orders booked, want %d", n, tt.orders)
			}
			if got := h.metrics.get("resent"); got != tt.resent {
				t.Fatalf("resent %d, want %d", got, tt.resent)
			}
			for _, p := range h.ex.priorities["query"] {
				if p != scheduler.PriorityCritical {
					t.Fatalf("settling query at %s, want critical", p)
				}
			}
			evs := h.takeEvents()
			if len(evs) != 1 || evs[0].Order.Status != tt.status {
				t.Fatalf("events %v", statuses(evs))
			}
			if tt.wantErr {
				if h.metrics.get("unknown") != 1 || !errors.As(evs[0].Err, &uerr) ||
					!strings.Contains(h.logText(), "outcome unknown") || !strings.Contains(h.logText(), o.ClientOrderID) {
					t.Fatalf("unknown outcome not reported: metric %d, event err %v, log %s", h.metrics.get("unknown"), evs[0].Err, h.logText())
				}
				if open := h.m.Open("mm"); len(open) != 1 || open[0].Status != adapters.StatusUnknown {
					t.Fatalf("open %+v, want the unknown order", open)
				}
			}
		})
	}
}

// TestPlaceWaitsOutAcceptanceWindow: after an unknown outcome, "not found" is believed only
// once the exchange can no longer accept the first try (RecvWindow + ClockSkew after it left,
// on the manager's clock). Before that, nothing is sent again; a try that lands late is found
// by the query after the window; one that never lands is resent with the same key. The
// exchange never holds two orders for the intent.
func TestPlaceWaitsOutAcceptanceWindow(t *testing.T) {
	const recv, skew = 3 * time.Second, 500 * time.Millisecond
	for _, lateLanding := range []bool{true, false} {
		name := map[bool]string{true: "first try lands late: found, not resent", false: "first try never lands: resent with its key"}[lateLanding]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, orders.Config{RecvWindow: recv, ClockSkew: skew})
			h.ex.script(fault{land: false, err: errUnknown})
			sent := h.clock.Now()
			type result struct {
				o   adapters.Order
				err error
			}
			var r result
			done := make(chan struct{})
			go func() {
				defer close(done)
				r.o, r.err = h.m.Place(t.Context(), limitBuy("0.001", "65000"))
			}()

			// Parked: both queries said "not found" too early to mean it.
			if !h.parked(done) {
				t.Fatalf("Place returned without waiting out the window (%d attempts): %+v, %v", h.ex.numAttempts(), r.o, r.err)
			}
			if at, _ := h.clock.NextDeadline(); !at.Equal(sent.Add(recv + skew)) {
				t.Fatalf("waits until %v after the try, want %v", at.Sub(sent), recv+skew)
			}
			if n := h.ex.numAttempts(); n != 1 {
				t.Fatalf("%d placement attempts before the window passed, want 1", n)
			}
			key := h.ex.attempts[0].ClientOrderID
			h.clock.Advance(recv + skew - time.Millisecond)
			if n := h.ex.numAttempts(); n != 1 || h.clock.Pending() != 1 {
				t.Fatalf("resent %d times a millisecond before the window ends", n-1)
			}
			if lateLanding {
				h.ex.book("BTCUSDT", key, "0.001", "65000") // the first try arrives within its window
			}
			h.clock.Advance(time.Millisecond)
			<-done
			if r.err != nil || r.o.Status != adapters.StatusNew || r.o.ClientOrderID != key {
				t.Fatalf("order %+v, err %v", r.o, r.err)
			}
			wantAttempts, wantResent := 2, 1
			if lateLanding {
				wantAttempts, wantResent = 1, 0
			}
			if n := h.ex.numAttempts(); n != wantAttempts || h.metrics.get("resent") != wantResent {
				t.Fatalf("%d attempts, %d resent; want %d, %d", n, h.metrics.get("resent"), wantAttempts, wantResent)
			}
			for _, a := range h.ex.attempts {
				if a.ClientOrderID != key {
					t.Fatalf("a resend used key %s, not %s", a.ClientOrderID, key)
				}
			}
			if n := h.ex.numOrders(); n != 1 {
				t.Fatalf("the exchange holds %d orders for one intent", n)
			}
			if e := h.entry(key); e.State != idempotency.StateAcked {
				t.Fatalf("journal %+v", e)
			}
		})
	}
}

// TestPlaceAcceptanceWaitEndsWithTheCaller: a caller that gives up (a shutdown) while Place
// waits out the acceptance window gets the unknown outcome at once; nothing is resent, and
// the entry stays unknown for reconciliation to settle.
func TestPlaceAcceptanceWaitEndsWithTheCaller(t *testing.T) {
	h := newHarness(t, orders.Config{RecvWindow: 3 * time.Second, ClockSkew: 500 * time.Millisecond})
	h.ex.script(fault{land: false, err: errUnknown})
	ctx, cancel := context.WithCancel(t.Context())
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err = h.m.Place(ctx, limitBuy("0.001", "65000"))
	}()
	if !h.parked(done) {
		t.Fatalf("Place returned without waiting out the window: %v", err)
	}
	cancel()
	<-done // on the fake clock nothing moved: only the caller's end released it
	if !errors.Is(err, scheduler.ErrUnknownOutcome) {
		t.Fatalf("err = %v, want the unknown outcome", err)
	}
	if n := h.ex.numAttempts(); n != 1 {
		t.Fatalf("%d placement attempts, want 1", n)
	}
	if e := h.entry(h.ex.attempts[0].ClientOrderID); e.State != idempotency.StateUnknown {
		t.Fatalf("journal %+v, want unknown", e)
	}
}

func TestPlaceRefused(t *testing.T) {
	tests := []struct {
		name string
		err  error
		sent int
	}{
		{"exchange rejects", errRejected, 1},
		{"kill switch gate closed", errGate, 0},
		{"breaker open", &scheduler.BreakerOpenError{Class: scheduler.ClassRateLimit}, 0},
		{"shed", scheduler.ErrShed, 0},
		{"adapter refuses before sending", &scheduler.Error{Class: scheduler.ClassAuth, Cause: errors.New("no key")}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, orders.Config{})
			h.ex.script(fault{err: tt.err})
			o, err := h.m.Place(t.Context(), limitBuy("0.001", "65000"))
			if !errors.Is(err, tt.err) || errors.Is(err, scheduler.ErrUnknownOutcome) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if o.Status != adapters.StatusRejected {
				t.Fatalf("status %s", o.Status)
			}
			if h.ex.queries != 0 {
				t.Fatalf("%d queries for a certain refusal", h.ex.queries)
			}
			e := h.entry(o.ClientOrderID)
			if e.State != idempotency.StateResolved || e.OrderStatus != "REJECTED" || !strings.HasPrefix(e.Note, "REJECTED: ") {
				t.Fatalf("journal %+v", e)
			}
			evs := h.takeEvents()
			if len(evs) != 1 || evs[0].Order.Status != adapters.StatusRejected || !errors.Is(evs[0].Err, tt.err) {
				t.Fatalf("events %+v", evs)
			}
			if len(h.m.Open("")) != 0 || h.metrics.get("rejected") != 1 {
				t.Fatal("a rejected order is open or uncounted")
			}
		})
	}
}

// failingStore fails the chosen journal calls.
type failingStore struct {
	idempotency.Store
	reserve, update error
}

func (s *failingStore) Reserve(ctx context.Context, e idempotency.Entry) error {
	if s.reserve != nil {
		return s.reserve
	}
	return s.Store.Reserve(ctx, e)
}

func (s *failingStore) Update(ctx context.Context, key string, fn func(*idempotency.Entry) error) (idempotency.Entry, error) {
	if s.update != nil {
		return idempotency.Entry{}, s.update
	}
	return s.Store.Update(ctx, key, fn)
}

func TestPlaceJournalFailureSendsNothing(t *testing.T) {
	disk := errors.New("disk full")
	for _, fs := range []*failingStore{{reserve: disk}, {update: disk}} {
		h := newHarness(t, orders.Config{})
		fs.Store = h.store
		m, err := orders.New(orders.Params{Exchange: h.ex, Store: fs, Keys: h.keys, Clock: h.clock})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Place(t.Context(), limitBuy("0.001", "65000")); !errors.Is(err, disk) {
			t.Fatalf("err %v", err)
		}
		if h.ex.numAttempts() != 0 || len(m.Open("")) != 0 {
			t.Fatal("sent without a journal entry")
		}
	}
}

// cancelledStore answers the first Update as if the caller's context had just ended.
type cancelledStore struct {
	idempotency.Store
	once sync.Once
}

func (s *cancelledStore) Update(ctx context.Context, key string, fn func(*idempotency.Entry) error) (idempotency.Entry, error) {
	var err error
	s.once.Do(func() { err = context.Canceled })
	if err != nil {
		return idempotency.Entry{}, err
	}
	return s.Store.Update(ctx, key, fn)
}

// TestPlaceClosesEntryNotSent: the caller's context ends between the key's reservation and
// marking it sent (a shutdown): nothing is sent, and the entry is closed rather than left in
// flight for the next start-up.
func TestPlaceClosesEntryNotSent(t *testing.T) {
	h := newHarness(t, orders.Config{})
	m, err := orders.New(orders.Params{Exchange: h.ex, Store: &cancelledStore{Store: h.store}, Keys: h.keys, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Place(t.Context(), limitBuy("0.001", "65000")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	all, _ := h.store.List(t.Context())
	if len(all) != 1 || all[0].State != idempotency.StateResolved || !strings.HasPrefix(all[0].Note, "not sent: ") {
		t.Fatalf("journal %+v, want the entry resolved as not sent", all)
	}
	if h.ex.numAttempts() != 0 || len(m.Open("")) != 0 {
		t.Fatal("sent, or tracked, without a sent entry")
	}
}

// TestPlaceSettlesAfterCallerCancels: the caller's context ends while the request is on the
// wire; the query and the journal writes that must follow still run.
func TestPlaceSettlesAfterCallerCancels(t *testing.T) {
	h := newHarness(t, orders.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	h.ex.onPlace = cancel
	h.ex.script(fault{land: true, err: errUnknown})
	h.ex.failQueries(errReadFail) // the probe, still on the caller's context, learns nothing
	o, err := h.m.Place(ctx, limitBuy("0.001", "65000"))
	if err != nil || o.Status != adapters.StatusNew {
		t.Fatalf("order %+v, err %v", o, err)
	}
	if e := h.entry(o.ClientOrderID); e.State != idempotency.StateAcked || e.ExchangeOrderID == "" {
		t.Fatalf("journal %+v", e)
	}
}

func TestNewValidates(t *testing.T) {
	h := newHarness(t, orders.Config{})
	if _, err := orders.New(orders.Params{Store: h.store, Keys: h.keys}); err == nil {
		t.Fatal("no exchange accepted")
	}
	if _, err := orders.New(orders.Params{Exchange: h.ex, Keys: h.keys}); err == nil {
		t.Fatal("no store accepted")
	}
	if _, err := orders.New(orders.Params{Exchange: h.ex, Store: h.store}); err == nil {
		t.Fatal("no keys accepted")
	}
	_, err := orders.New(orders.Params{Exchange: h.ex, Store: h.store, Keys: h.keys, Config: orders.Config{PriceRounding: "up"}})
	if !errors.Is(err, orders.ErrConfig) || !strings.Contains(err.Error(), "orders.price_rounding") {
		t.Fatalf("err %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg orders.Config
		key string
	}{
		{orders.Config{}, ""},
		{orders.Config{PriceRounding: orders.RoundPassive, MaxResends: -1}, ""},
		{orders.Config{PriceRounding: "floor"}, "price_rounding"},
		{orders.Config{ResolveQueries: -1}, "resolve_queries"},
		{orders.Config{MaxResends: -2}, "max_resends"},
		{orders.Config{SettleTime: -1}, "settle_time"},
		{orders.Config{SettleTime: 5 * time.Second}, "settle_time"}, // below recv_window + clock_skew (6s)
		{orders.Config{SettleTime: 2 * time.Second, RecvWindow: time.Second, ClockSkew: time.Second}, ""},
		{orders.Config{SendTimeout: -1}, "send_timeout"},
		{orders.Config{SendTimeout: time.Second}, ""},
		{orders.Config{RecvWindow: -1}, "recv_window"},
		{orders.Config{ClockSkew: -1}, "clock_skew"},
		{orders.Config{ResolveTimeout: -1}, "resolve_timeout"},
		{orders.Config{InfoTTL: -1}, "info_ttl"},
		{orders.Config{Retention: -1}, "retention"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.key == "") || err != nil && !strings.Contains(err.Error(), "orders."+tt.key+":") {
			t.Errorf("%+v: err %v, want key %q", tt.cfg, err, tt.key)
		}
	}
}

// TestPlaceJournalsSendDeadline: the entry marked sent carries the deadline by which the
// request's last try is signed, Config.SendTimeout or the caller's sooner deadline, and the
// request runs under a context that ends no later.
func TestPlaceJournalsSendDeadline(t *testing.T) {
	const budget = 20 * time.Second
	for _, tc := range []struct {
		name     string
		caller   time.Duration // the caller's context deadline from now; 0: none
		min, max time.Duration // the journalled SendBy from now
	}{
		{"the configured budget", 0, budget, budget},
		{"the caller's sooner deadline", 5 * time.Second, 4 * time.Second, 5 * time.Second},
		{"the caller's later deadline", time.Hour, budget, budget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, orders.Config{SendTimeout: budget})
			ctx := t.Context()
			if tc.caller > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.caller)
				defer cancel()
			}
			var sendBy, deadline time.Time
			h.ex.hold = func(ctx context.Context) error {
				deadline, _ = ctx.Deadline()
				sent, err := h.store.List(ctx, idempotency.StateSent)
				if err != nil || len(sent) != 1 {
					return fmt.Errorf("journal while the request waits: %+v, %v", sent, err)
				}
				sendBy = sent[0].SendBy
				return nil
			}
			if _, err := h.m.Place(ctx, limitBuy("0.001", "65000")); err != nil {
				t.Fatal(err)
			}
			if got := sendBy.Sub(h.clock.Now()); got < tc.min || got > tc.max {
				t.Fatalf("SendBy is now+%v, want within [%v, %v]", got, tc.min, tc.max)
			}
			if left := time.Until(deadline); deadline.IsZero() || left > tc.max {
				t.Fatalf("the request's context has %v left, want at most %v", left, tc.max)
			}
		})
	}
}
