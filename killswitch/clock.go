package killswitch

import "time"

// Clock is the switch's source of time: Now stamps reasons, NewTimer paces the watcher.
// NewTimer returns a channel that receives once after d and a function that stops the timer.
// Keel's internal/clock provides the real clock and a fake that tests advance by hand.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}
