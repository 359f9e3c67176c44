package fleet

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/internal/fleet/fleettest"
	"github.com/keelbot/keel/scheduler"
)

// callCount counts the calls a client makes (a pipeline is one).
type callCount struct{ n atomic.Int64 }

func (h *callCount) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *callCount) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *callCount) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestWindowIgnoresNoticesOfALaterPeriod: a notice of the next period's total, from an
// instance whose clock is a moment ahead, neither ends this instance's period nor its lease:
// the period's last requests are granted from that lease, without a round trip, and nothing is
// leased against the next period.
func TestWindowIgnoresNoticesOfALaterPeriod(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	calls := &callCount{}
	rdb.AddHook(calls)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a period starts
	clk := clock.NewFake(t0)
	f, err := New(rdb, Options{Prefix: prefix, InstanceID: "a", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := f.newCounter(scheduler.WindowConfig{Name: "W", Limit: 100, Interval: time.Minute})
	if ok, _ := c.Reserve(t0, 1, 100); !ok {
		t.Fatal("first request refused")
	}
	p := c.index(t0)
	if c.leased < 2 {
		t.Fatalf("leased %d, want a chunk of at least 2", c.leased)
	}

	c.notice(c.key+strconv.FormatInt(p+1, 10), "60") // the clock ahead's lease
	c.notice(c.key+strconv.FormatInt(p, 10), "40")   // the fleet's total of this period
	before := calls.n.Load()
	end := t0.Add(time.Minute - time.Millisecond) // the period's last instant
	clk.Set(end)
	if ok, _ := c.Reserve(end, 1, 100); !ok {
		t.Fatal("last request of the period refused")
	}
	if n := calls.n.Load() - before; n != 0 {
		t.Errorf("%d round trips for a request the lease covers, want 0", n)
	}
	if got := c.Used(end); got != 40-(c.leased-c.used) {
		t.Errorf("Used = %d, want the period's total heard (40) less the unspent lease (%d)", got, c.leased-c.used)
	}
	if err := rdb.Get(t.Context(), c.key+strconv.FormatInt(p+1, 10)).Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("next period's key: %v, want none (nothing leased against it)", err)
	}
}

// TestWindowCarriesWhatIsInFlightAtRollover: a request an instance granted just before a
// period ended and that is still in flight when the next begins arrives at the exchange in the
// new period and is counted there, so the fleet's total of the new period counts it too: the
// instance tells Redis at its first look at the new period (or, idle, when the request
// ends), and another instance cannot lease the part of the window it takes. When its answer
// comes, a request the exchange counted in the new period stays counted; one it did not goes
// back into the instance's lease (the fleet's total never goes down), so that instance, and
// only it, may grant it again.
func TestWindowCarriesWhatIsInFlightAtRollover(t *testing.T) {
	for _, tt := range []struct {
		name    string
		idle    bool // the instance does not look at the window before the request ends
		counted bool // the answer showed the request counted in the new period
	}{
		{"released", false, false},
		{"counted in the new period", false, true},
		{"counted, the instance idle until the answer", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rdb, prefix := fleettest.Require(t)
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a period starts
			clk := clock.NewFake(t0)
			wc := scheduler.WindowConfig{Name: "W", Limit: 1000, Interval: time.Minute}
			counterOf := func(id string) *counter {
				f, err := New(rdb, Options{Prefix: prefix, InstanceID: id, Size: 2, Now: clk.Now})
				if err != nil {
					t.Fatal(err)
				}
				return f.newCounter(wc)
			}
			a, b := counterOf("a"), counterOf("b")
			end := t0.Add(time.Minute - 100*time.Millisecond)
			clk.Set(end)
			if ok, _ := a.Reserve(end, 250, 990); !ok {
				t.Fatal("a's request at the period's end refused")
			}
			a.Sent(end, 250)

			next := t0.Add(time.Minute)
			clk.Set(next)
			if tt.idle {
				a.Done(end, next, 250, tt.counted)
			} else if got := a.Used(next); got != 250 {
				t.Fatalf("a: Used = %d in the new period, want 250 (its request in flight)", got)
			}
			total := func() int64 {
				t.Helper()
				n, err := rdb.Get(t.Context(), a.key+strconv.FormatInt(a.index(next), 10)).Int64()
				if err != nil {
					t.Fatalf("the new period's total: %v", err)
				}
				return n
			}
			if got := total(); got != 250 {
				t.Fatalf("the fleet's total of the new period = %d, want 250 (a's request in flight)", got)
			}

			// Past half the period (and its spread), b may lease whatever is left: 740.
			late := next.Add(50 * time.Second)
			clk.Set(late)
			if ok, _ := b.Reserve(late, 741, 990); ok {
				t.Fatal("b was granted 741 beside the 250 of a's in flight: 991 of 990")
			}
			if ok, _ := b.Reserve(late, 740, 990); !ok {
				t.Fatal("b was refused the 740 left")
			}
			if !tt.idle {
				a.Done(end, late, 250, tt.counted)
			}
			ok, _ := a.Reserve(late, 250, 990)
			if ok == tt.counted {
				t.Fatalf("a's next 250 granted: %v, want %v (its request in flight counted in the new period: %v)", ok, !tt.counted, tt.counted)
			}
			if got := total(); got != 990 {
				t.Fatalf("the fleet's total = %d, want 990 (a released carry is a's to grant again, not the fleet's)", got)
			}
		})
	}
}

// TestWindowEarlyGrantFitsThePeriodBefore: with the exchange's clock known to within 100 ms, a
// request granted in the first 100 ms of a period may arrive while the exchange is still in the
// period before: it is granted only from what is left of the instance's lease of that period
// (already counted there), and a request larger than that waits until the exchange must have
// rolled over (the retry time says when), not for the next period.
func TestWindowEarlyGrantFitsThePeriodBefore(t *testing.T) {
	rdb, prefix := fleettest.Require(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // a period starts
	clk := clock.NewFake(t0)
	f, err := New(rdb, Options{Prefix: prefix, InstanceID: "a", Size: 1, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	c := f.newCounter(scheduler.WindowConfig{Name: "W", Limit: 1000, Interval: time.Minute})
	c.SetSkew(100 * time.Millisecond)
	end := t0.Add(time.Minute - time.Second)
	clk.Set(end)
	if ok, _ := c.Reserve(end, 10, 990); !ok {
		t.Fatal("a request at the period's end refused")
	}
	left := c.leased - c.used // what the period before leaves this instance
	if left < 2 {
		t.Fatalf("left %d of the lease, want a chunk with room", left)
	}

	start := t0.Add(time.Minute)
	early := start.Add(20 * time.Millisecond)
	clk.Set(early)
	ok, retry := c.Reserve(early, left+1, 990)
	if ok {
		t.Fatalf("%d granted 20 ms into the period, with %d left of the period before", left+1, left)
	}
	if want := start.Add(100 * time.Millisecond); !retry.Equal(want) {
		t.Fatalf("retry at %v, want %v: when the exchange must have rolled over", retry, want)
	}
	if ok, _ := c.Reserve(early, left, 990); !ok {
		t.Fatalf("%d refused 20 ms into the period, with %d left of the period before", left, left)
	}
	if ok, _ := c.Reserve(early, 1, 990); ok {
		t.Fatal("1 more granted early with nothing left of the period before")
	}
	later := start.Add(100 * time.Millisecond)
	clk.Set(later)
	if ok, _ := c.Reserve(later, left+1, 990); !ok {
		t.Fatalf("%d refused once the exchange must have rolled over", left+1)
	}
}
