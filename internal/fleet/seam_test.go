package fleet

import (
	"testing"
	"time"

	"github.com/keelbot/keel/scheduler"
)

// captureShared keeps everything local and captures the scheduler's local semaphore builder.
type captureShared struct{ local func(int) scheduler.Semaphore }

func (c *captureShared) Window(scheduler.WindowConfig, scheduler.Counter, func()) interface {
	scheduler.Counter
	Reserve(now time.Time, n, limit int64) (bool, time.Time)
} {
	return nil
}

func (c *captureShared) Semaphore(b scheduler.BucketConfig, _ int, local func(int) scheduler.Semaphore, _ func()) scheduler.Semaphore {
	c.local = local
	return local(b.MaxConcurrency)
}

func (c *captureShared) Publish(scheduler.SharedHold)           {}
func (c *captureShared) Holds(time.Time) []scheduler.SharedHold { return nil }

// localSemaphores returns the scheduler's own local semaphore builder with successRun, as
// Shared.Semaphore receives it.
func localSemaphores(t testing.TB, successRun int) func(int) scheduler.Semaphore {
	t.Helper()
	c := &captureShared{}
	s, err := scheduler.New(scheduler.Config{Buckets: []scheduler.BucketConfig{{Name: "b", MaxConcurrency: 1}},
		AIMD: scheduler.AIMDConfig{SuccessRun: successRun}}, scheduler.WithShared(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c.local
}
