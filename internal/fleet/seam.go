package fleet

import (
	"time"

	"github.com/keelbot/keel/scheduler"
)

// seam is the fleet's scheduler.Shared: fixed windows leased from Redis (counter), every
// bucket's slots in Redis (semaphore), and the holds (holds).
type seam struct{ f *Fleet }

// Window shares a fixed window through Redis. A window of another kind (a decaying or sliding
// one, which only AddWindow can bring in at run time: Check refuses them in the
// configuration) is not counted in Redis; it stays local on a share of limit ÷ Options.Size,
// so that the fleet as a whole stays within the limit, and the log says so.
func (s seam) Window(w scheduler.WindowConfig, local scheduler.Counter, _ func()) interface {
	scheduler.Counter
	Reserve(now time.Time, n, limit int64) (bool, time.Time)
} {
	if w.Kind == scheduler.KindFixed {
		return s.f.newCounter(w)
	}
	s.f.log.Warn().Str("window", w.Name).Str("kind", w.Kind).Int64("limit", w.Limit).Int("fleet_size", s.f.opts.Size).
		Msg("fleet: window kind not shared through Redis: this instance uses limit ÷ fleet.size of it on its own")
	return &localShare{Counter: local, size: int64(s.f.opts.Size)}
}

// Semaphore shares a bucket's slots through Redis; local is the scheduler's own semaphore,
// which the local share runs on while Redis is down.
func (s seam) Semaphore(b scheduler.BucketConfig, successRun int, local func(int) scheduler.Semaphore, wake func()) scheduler.Semaphore {
	sem := s.f.newSemaphore(b, successRun, local)
	sem.SetWaker(wake)
	return sem
}

func (s seam) Publish(h scheduler.SharedHold) { s.f.holds.Publish(h) }

func (s seam) Holds(now time.Time) []scheduler.SharedHold { return s.f.holds.Holds(now) }

// localShare is a window the fleet does not count in Redis: its own Counter, reserving only
// up to limit ÷ size of the priority's cap (a cost larger than that share never goes).
type localShare struct {
	scheduler.Counter
	size int64
}

func (c *localShare) Reserve(now time.Time, n, limit int64) (bool, time.Time) {
	if c.Used(now)+n > limit/c.size {
		return false, c.Next(now)
	}
	c.Add(now, n)
	return true, time.Time{}
}
