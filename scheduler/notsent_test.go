package scheduler_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/keelbot/keel/scheduler"
)

// A request whose context ends while it waits in the queue, or before it is submitted, says
// that nothing was sent (ErrNotSent), so a placement is settled as not placed rather than
// left unknown; its cause stays matchable.
func TestEndedInTheQueueIsNotSent(t *testing.T) {
	cfg := baseConfig()
	cfg.Buckets[0].MaxConcurrency = 1
	s, _ := newScheduler(t, cfg)
	busy := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_, _ = s.Do(context.Background(), req("/busy", "private", scheduler.PriorityOrders, 1,
			func(context.Context, int) scheduler.Outcome {
				close(busy)
				<-release
				return scheduler.Outcome{Status: 200}
			}))
	}()
	<-busy
	ctx, cancel := context.WithCancel(context.Background())
	sent := false
	done := make(chan error, 1)
	go func() {
		r := req("/order", "private", scheduler.PriorityOrders, 1,
			func(context.Context, int) scheduler.Outcome { sent = true; return scheduler.Outcome{Status: 200} })
		r.Write = true
		_, err := s.Do(ctx, r)
		done <- err
	}()
	waitQueued(t, s, scheduler.PriorityOrders, 1)
	cancel()
	err := <-done
	close(release)
	if sent || !errors.Is(err, scheduler.ErrNotSent) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled in the queue: sent %v, err %v; want ErrNotSent and context.Canceled", sent, err)
	}
	if _, err := s.Do(ctx, req("/order", "private", scheduler.PriorityOrders, 1, succeed)); !errors.Is(err, scheduler.ErrNotSent) {
		t.Fatalf("submitted with an ended context: %v, want ErrNotSent", err)
	}
}

// waitQueued waits until n requests of priority p are queued.
func waitQueued(t *testing.T, s *scheduler.Scheduler, p scheduler.Priority, n int) {
	t.Helper()
	for i := 0; ; i++ {
		if s.Snapshot().Queued[p.String()] >= n {
			return
		}
		if i > 100000 {
			t.Fatalf("%d requests never queued at %s", n, p)
		}
		runtime.Gosched()
	}
}
