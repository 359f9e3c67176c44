package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/internal/syncbuf"

	"github.com/rs/zerolog"
	"github.com/shopspring/decimal"

	"github.com/keelbot/keel/adapters"
	"github.com/keelbot/keel/strategy"
)

type syncBuffer = syncbuf.Buffer

type funcStrategy func(ctx context.Context, ev strategy.Event) error

func (f funcStrategy) OnEvent(ctx context.Context, ev strategy.Event) error { return f(ctx, ev) }

func TestPanickingStrategyDoesNotStopOthers(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs)
	seen := make(chan strategy.Event, 10)
	panicked := make(chan string, 1)
	bad := &runner{name: "bad", box: newMailbox(), log: log, onPanic: func(n string) { panicked <- n },
		strat: funcStrategy(func(ctx context.Context, ev strategy.Event) error { panic("boom") })}
	good := &runner{name: "good", box: newMailbox(), log: log,
		strat: funcStrategy(func(ctx context.Context, ev strategy.Event) error { seen <- ev; return nil })}
	ctx := context.Background()
	bad.start(ctx)
	good.start(ctx)
	bad.box.Put(strategy.Tick{Time: time.Unix(1, 0)})
	if got := <-panicked; got != "bad" {
		t.Fatalf("panic reported for %q", got)
	}
	<-bad.done
	good.box.Put(strategy.Tick{Time: time.Unix(2, 0)})
	if ev := <-seen; ev.(strategy.Tick).Time.Unix() != 2 {
		t.Fatalf("good strategy got %v", ev)
	}
	if bad.alive() || !good.alive() {
		t.Fatalf("alive: bad=%v good=%v", bad.alive(), good.alive())
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	bad.stop(stopCtx)
	good.stop(stopCtx)
	if !strings.Contains(logs.String(), "boom") || !strings.Contains(logs.String(), "runner_test.go") {
		t.Fatalf("panic log lacks the value or the stack: %s", logs.String())
	}
}

func TestSlowStrategyNeverBlocksDelivery(t *testing.T) {
	release := make(chan struct{})
	delivered := make(chan strategy.Event, 100)
	r := &runner{name: "slow", box: newMailbox(), log: zerolog.Nop(),
		strat: funcStrategy(func(ctx context.Context, ev strategy.Event) error {
			<-release
			delivered <- ev
			return nil
		})}
	r.start(context.Background())
	r.box.Put(strategy.Tick{Time: time.Unix(-1, 0)})
	// While the strategy is stuck in its first callback, 20k more events must not block Put.
	for i := range 10000 {
		r.box.Put(strategy.Quote{Symbol: "BTCUSDT", BidPrice: decimal.NewFromInt(int64(i))})
		r.box.Put(strategy.Tick{Time: time.Unix(int64(i), 0)})
	}
	for i := range 3 {
		r.box.Put(strategy.OrderUpdate{Order: adapters.Order{ClientOrderID: string(rune('a' + i))}})
	}
	close(release)
	var got []strategy.Event
	for {
		ev := <-delivered
		got = append(got, ev)
		if tick, ok := ev.(strategy.Tick); ok && tick.Time.Unix() == 9999 {
			break
		}
	}
	r.stop(context.Background())
	var orders []string
	var lastQuote decimal.Decimal
	for _, ev := range got {
		switch e := ev.(type) {
		case strategy.OrderUpdate:
			orders = append(orders, e.Order.ClientOrderID)
		case strategy.Quote:
			lastQuote = e.BidPrice
		}
	}
	if strings.Join(orders, "") != "abc" {
		t.Fatalf("order updates must all arrive in order, got %v", orders)
	}
	if !lastQuote.Equal(decimal.NewFromInt(9999)) {
		t.Fatalf("latest quote must be delivered, got %s", lastQuote)
	}
	if len(got) > 8 { // at most two batches: the one in flight at release, then the rest
		t.Fatalf("quotes and ticks must coalesce while the strategy is slow; got %d events", len(got))
	}
}

func TestStrategyErrorIsLoggedAndStrategyGoesOn(t *testing.T) {
	var logs syncBuffer
	calls := make(chan struct{}, 2)
	r := &runner{name: "e", box: newMailbox(), log: zerolog.New(&logs),
		strat: funcStrategy(func(ctx context.Context, ev strategy.Event) error {
			calls <- struct{}{}
			return errors.New("no luck")
		})}
	r.start(context.Background())
	r.box.Put(strategy.Tick{})
	<-calls
	r.box.Put(strategy.Tick{})
	<-calls
	r.stop(context.Background())
	if !r.alive() || !strings.Contains(logs.String(), "no luck") {
		t.Fatalf("alive=%v logs=%s", r.alive(), logs.String())
	}
}
