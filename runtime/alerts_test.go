package runtime

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/notify"
	"github.com/keelbot/keel/scheduler"
)

// sinkRecorder keeps the messages a notifier delivers.
type sinkRecorder struct {
	mu   sync.Mutex
	msgs []notify.Message
	got  chan struct{}
}

func (r *sinkRecorder) Name() string { return "recorder" }
func (r *sinkRecorder) Send(_ context.Context, m notify.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.got <- struct{}{}
	return nil
}

// next waits for the next message; nil after a short quiet spell.
func (r *sinkRecorder) next(t *testing.T, quiet bool) *notify.Message {
	t.Helper()
	wait := 5 * time.Second
	if quiet {
		wait = 100 * time.Millisecond
	}
	select {
	case <-r.got:
		r.mu.Lock()
		defer r.mu.Unlock()
		m := r.msgs[len(r.msgs)-1]
		return &m
	case <-time.After(wait):
		if !quiet {
			t.Fatal("no message")
		}
		return nil
	}
}

// TestAlerterPagesWhatItFinds drives the checks on a fake clock: the platform breaker pages
// only once open past breaker_open_after, the auth breaker at once, an order of unknown
// outcome once older than unknown_after (once per order), the journal's outage and its
// return, and a ban once per ban however many refusals hold it.
func TestAlerterPagesWhatItFinds(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rec := &sinkRecorder{got: make(chan struct{}, 100)}
	// Separate incidents page at once; the notifier's own clock is the wall clock.
	n := notify.New(notify.Config{Bot: "t1 sim", MaxPerMinute: 100}, []notify.Sink{rec}, nil, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Run(ctx)
	cfg := NotifyConfig{}
	cfg.setDefaults()
	a := &alerter{n: n, cfg: cfg, clk: clk, log: zerolog.Nop(), openSince: map[string]time.Time{}, paged: map[string]bool{}}
	journal := idempotency.NewMemoryStore()
	open := scheduler.Snapshot{Breakers: []scheduler.BreakerState{{Class: "transient", State: "open", Reason: "http 503"}}}

	a.check(ctx, open, journal, nil)
	if m := rec.next(t, true); m != nil {
		t.Fatalf("paged a platform breaker open for no time: %+v", m)
	}
	clk.Advance(5 * time.Minute)
	a.check(ctx, open, journal, nil)
	if m := rec.next(t, false); m.Kind != notify.KindBreakerOpen || m.Fields["reason"] != "http 503" {
		t.Fatalf("after 5 minutes open: %+v", m)
	}
	a.check(ctx, open, journal, nil)
	if m := rec.next(t, true); m != nil {
		t.Fatalf("paged the same opening twice: %+v", m)
	}

	a.check(ctx, scheduler.Snapshot{Breakers: []scheduler.BreakerState{{Class: "auth", State: "open", Reason: "http 401"}}}, journal, nil)
	if m := rec.next(t, false); m.Kind != notify.KindAuthBreaker {
		t.Fatalf("auth breaker open: %+v", m)
	}

	key := "kl-t1-unknown1"
	if err := journal.Reserve(ctx, idempotency.Entry{Key: key, Intent: idempotency.IntentRecord{Symbol: "BTCUSDT"}, CreatedAt: clk.Now(), UpdatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []idempotency.State{idempotency.StateSent, idempotency.StateUnknown} {
		if _, err := journal.Update(ctx, key, func(e *idempotency.Entry) error { e.State, e.UpdatedAt = st, clk.Now(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	a.check(ctx, scheduler.Snapshot{}, journal, nil)
	if m := rec.next(t, true); m != nil {
		t.Fatalf("paged a fresh unknown outcome: %+v", m)
	}
	clk.Advance(6 * time.Minute)
	a.check(ctx, scheduler.Snapshot{}, journal, nil)
	if m := rec.next(t, false); m.Kind != notify.KindUnknownOrder || m.Fields["client_order_ids"] != key {
		t.Fatalf("unknown outcome after 6 minutes: %+v", m)
	}
	a.check(ctx, scheduler.Snapshot{}, journal, nil)
	if m := rec.next(t, true); m != nil {
		t.Fatalf("paged the same unknown order twice: %+v", m)
	}

	_ = journal.Close()
	a.check(ctx, scheduler.Snapshot{}, journal, nil)
	if m := rec.next(t, false); m.Kind != notify.KindStoreDown || m.Resolved {
		t.Fatalf("journal closed: %+v", m)
	}

	until := clk.Now().Add(2 * time.Minute)
	a.hold(scheduler.HoldEvent{Time: clk.Now(), Until: until, Bucket: "market", Ban: true, Reason: "418"})
	a.hold(scheduler.HoldEvent{Time: clk.Now().Add(time.Second), Until: until, Bucket: "orders", Ban: true, Reason: "418"})
	if m := rec.next(t, false); m.Kind != notify.KindBan || m.Fields["until"] != until.UTC().Format(time.RFC3339) {
		t.Fatalf("ban: %+v", m)
	}
	if m := rec.next(t, true); m != nil {
		t.Fatalf("paged one ban twice: %+v", m)
	}
}
