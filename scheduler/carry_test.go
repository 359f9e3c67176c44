package scheduler_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// TestCarryAcrossRollover: a request granted just before a fixed window rolls over and still in
// flight after it arrives at the exchange in the new window and is counted there, so the new
// window counts it too while it is in flight: a request that fits only without it waits. Its
// answer settles it: a usage report that is the new window's count and includes it keeps it
// counted (the other request waits for the window after); an answer without a report, or with
// the old window's count, releases it (the other goes at once).
func TestCarryAcrossRollover(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer scheduler.Outcome // the late request's
		write  bool              // the late request is a write (not retried after no answer)
		held   bool              // the next request still waits after it
	}{
		{"no usage report", scheduler.Outcome{Status: 200}, false, false},
		{"no answer", scheduler.Outcome{Status: 0, Err: context.DeadlineExceeded}, true, false},
		{"old window's count", scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 950}}}, false, false},
		{"new window's count", scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 250}}}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := tightConfig(1000) // fixed, 1 minute, starting at t0
				cfg.SafetyFraction, cfg.SafetyFractionConfirmed = 0.99, 0.99
				s, clk := newScheduler(t, cfg)
				ok := func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }
				fill(t, s, scheduler.PriorityOrders, 700, ok)

				clk.Set(t0.Add(time.Minute - 100*time.Millisecond))
				answer := make(chan scheduler.Outcome, 1)
				defer func() { // a failure does not leave the late request in flight for ever
					select {
					case answer <- scheduler.Outcome{Status: 200}:
					default:
					}
				}()
				late := req("late", "private", scheduler.PriorityOrders, 250, func(context.Context, int) scheduler.Outcome { return <-answer })
				late.Budget, late.Write = time.Hour, tt.write
				lateDone := goDo(context.Background(), s, late)
				synctest.Wait() // granted (950 of 990), in flight

				clk.Set(t0.Add(time.Minute)) // the new window: 250 of it in flight
				var sent time.Time
				// 741: what the pacer has refilled by now (740 left after the late request, and
				// 0.1 s at 990 a minute), and 1 more than the new window leaves beside the late
				// request (990 - 250).
				next := req("next", "private", scheduler.PriorityOrders, 741, func(context.Context, int) scheduler.Outcome {
					sent = clk.Now()
					return scheduler.Outcome{Status: 200}
				})
				next.Budget = time.Hour
				nextDone := goDo(context.Background(), s, next)
				synctest.Wait()
				if !sent.IsZero() {
					t.Fatalf("next sent at +%v while 250 granted before the rollover was in flight: 991 of 990", sent.Sub(t0))
				}

				clk.Advance(50 * time.Millisecond)
				answer <- tt.answer
				<-lateDone.done
				synctest.Wait()
				if tt.held {
					if !sent.IsZero() {
						t.Fatalf("next sent at +%v after the new window's count showed the late request in it", sent.Sub(t0))
					}
					clk.Set(t0.Add(2 * time.Minute))
					synctest.Wait()
					if !sent.Equal(t0.Add(2 * time.Minute)) {
						t.Fatalf("next sent at +%v, want at the window after (+2m)", sent.Sub(t0))
					}
				} else if !sent.Equal(t0.Add(time.Minute + 50*time.Millisecond)) {
					t.Fatalf("next sent at +%v, want when the late request's answer released it (+1m0.05s)", sent.Sub(t0))
				}
				<-nextDone.done
				if nextDone.res.err != nil {
					t.Fatalf("next: %v", nextDone.res.err)
				}
				s.Close()
			})
		})
	}
}

// TestEarlyGrantFitsThePeriodBefore: with the clock offset known to within 100 ms, a request
// granted in the first 100 ms of a fixed window may reach the exchange before its window rolls
// over, and be counted in the window before: it must fit in what that window has left too. A
// request that fits goes at once (and counts in both windows); one that does not waits until
// the exchange must have rolled over, not for a whole window.
func TestEarlyGrantFitsThePeriodBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(1000) // fixed, 1 minute, starting at t0
		cfg.SafetyFraction, cfg.SafetyFractionConfirmed = 0.99, 0.99
		s, clk := newScheduler(t, cfg)
		s.SetClockUncertainty(100 * time.Millisecond)
		ok := func(context.Context, int) scheduler.Outcome { return scheduler.Outcome{Status: 200} }
		fill(t, s, scheduler.PriorityOrders, 900, ok)

		start := t0.Add(time.Minute)
		clk.Set(start.Add(20 * time.Millisecond))    // the exchange may still be in the first window
		fill(t, s, scheduler.PriorityOrders, 60, ok) // 960 of 990 in the window before
		var sent time.Time
		big := req("big", "private", scheduler.PriorityOrders, 40, func(context.Context, int) scheduler.Outcome {
			sent = clk.Now()
			return scheduler.Outcome{Status: 200}
		})
		big.Budget = time.Hour
		p := goDo(context.Background(), s, big)
		synctest.Wait()
		if !sent.IsZero() {
			t.Fatalf("40 more sent at +%v, 20 ms into the window: 1000 of 990 if the exchange had not rolled over yet", sent.Sub(t0))
		}
		clk.Set(start.Add(100 * time.Millisecond))
		synctest.Wait()
		if !sent.Equal(start.Add(100 * time.Millisecond)) {
			t.Fatalf("40 more sent at +%v, want once the exchange must have rolled over (+1m0.1s)", sent.Sub(t0))
		}
		if r := p.wait(); r.err != nil {
			t.Fatal(r.err)
		}
		if got := usedOf(s, "W"); got != 100 {
			t.Fatalf("the window counts %d, want 100 (60 and 40: both granted in it)", got)
		}
		s.Close()
	})
}

// usedOf returns window name's count in the snapshot.
func usedOf(s *scheduler.Scheduler, name string) int64 {
	for _, w := range s.Snapshot().Windows {
		if w.Name == name {
			return w.Used
		}
	}
	return -1
}

// TestCarryReleasedByAGrantNeverSent: an order granted just before a rollover and then
// stopped by the gate (the kill switch closed between its grant and its sending) never
// reaches the exchange: the carry it put on the new window goes with it, and a request that
// waited for that room goes at once.
func TestCarryReleasedByAGrantNeverSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(1000)
		cfg.SafetyFraction, cfg.SafetyFractionConfirmed = 0.99, 0.99
		calls := 0
		closing := make(chan struct{})
		gate := gateFunc(func(context.Context, scheduler.Priority) error {
			if calls++; calls == 2 { // the check after the grant: held while the window rolls
				<-closing
				return errHalted
			}
			return nil
		})
		s, clk := newScheduler(t, cfg, scheduler.WithGate(gate))
		clk.Set(t0.Add(time.Minute - 100*time.Millisecond))
		order := req("order", "private", scheduler.PriorityOrders, 250, func(context.Context, int) scheduler.Outcome {
			t.Error("the order was sent through a closed gate")
			return scheduler.Outcome{Status: 200}
		})
		order.Method, order.Write, order.Budget = "POST", true, time.Hour
		placed := goDo(context.Background(), s, order)
		synctest.Wait() // granted, at the gate

		clk.Set(t0.Add(time.Minute))
		var sent time.Time
		next := req("next", "private", scheduler.PriorityOrders, 741, func(context.Context, int) scheduler.Outcome {
			sent = clk.Now()
			return scheduler.Outcome{Status: 200}
		})
		next.Budget = time.Hour
		p := goDo(context.Background(), s, next)
		synctest.Wait()
		if !sent.IsZero() {
			t.Fatalf("next sent at +%v beside the 250 granted before the rollover", sent.Sub(t0))
		}
		close(closing)
		if r := placed.wait(); r.err == nil {
			t.Fatal("the order went through a closed gate")
		}
		synctest.Wait()
		if !sent.Equal(t0.Add(time.Minute)) {
			t.Fatalf("next sent at +%v, want as soon as the order was given back (+1m)", sent.Sub(t0))
		}
		if r := p.wait(); r.err != nil {
			t.Fatal(r.err)
		}
		s.Close()
	})
}

// TestCarryKeptWhenTheNewCountOutrunsTheSchedulers: the answer to a request carried across a
// rollover reports 300, more than the new window's count as the scheduler has it (its carry of
// 50) allows for, as when others (a fleet's other instances) spent quickly after the rollover.
// It is still the new window's count, not the old one's: the old window's reports had reached
// 900 and its count only grew. So the request stays counted in the new window.
func TestCarryKeptWhenTheNewCountOutrunsTheSchedulers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := tightConfig(1000)
		cfg.SafetyFraction, cfg.SafetyFractionConfirmed = 0.99, 0.99
		s, clk := newScheduler(t, cfg)
		fill(t, s, scheduler.PriorityOrders, 700, func(context.Context, int) scheduler.Outcome {
			return scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 900}}} // others spent 200
		})
		clk.Set(t0.Add(time.Minute - 100*time.Millisecond))
		answer := make(chan scheduler.Outcome, 1)
		defer func() {
			select {
			case answer <- scheduler.Outcome{Status: 200}:
			default:
			}
		}()
		late := req("late", "private", scheduler.PriorityOrders, 50, func(context.Context, int) scheduler.Outcome { return <-answer })
		late.Budget = time.Hour
		lateDone := goDo(context.Background(), s, late)
		synctest.Wait()

		clk.Set(t0.Add(time.Minute))
		var sent time.Time
		// 941: what the pacer has by now (940 after the late request, and 0.1 s of refill), 1
		// more than the new window leaves beside the late request (990 - 50).
		next := req("next", "private", scheduler.PriorityOrders, 941, func(context.Context, int) scheduler.Outcome {
			sent = clk.Now()
			return scheduler.Outcome{Status: 200}
		})
		next.Budget = time.Hour
		nextDone := goDo(context.Background(), s, next)
		synctest.Wait()
		clk.Advance(50 * time.Millisecond)
		answer <- scheduler.Outcome{Status: 200, Usage: []scheduler.Usage{{Window: "W", Used: 300}}}
		<-lateDone.done
		synctest.Wait()
		if !sent.IsZero() {
			t.Fatalf("next sent at +%v: the late request was taken for one the old window counted", sent.Sub(t0))
		}
		clk.Set(t0.Add(2 * time.Minute))
		<-nextDone.done
		if nextDone.res.err != nil || !sent.Equal(t0.Add(2*time.Minute)) {
			t.Fatalf("next: %v, sent at +%v, want at the window after (+2m)", nextDone.res.err, sent.Sub(t0))
		}
		s.Close()
	})
}
