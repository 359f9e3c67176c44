package binance

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keelbot/keel/clock"
)

// ErrClockDrift matches (errors.Is) a refusal to sign because the local clock is further
// from the exchange's than recvWindow allows. The request was not sent.
var ErrClockDrift = errors.New("binance: local clock drift beyond recvWindow")

// ClockDriftError says how far off the local clock is. It matches ErrClockDrift.
type ClockDriftError struct {
	// Offset is the exchange's time minus the local time.
	Offset     time.Duration
	RecvWindow time.Duration
}

func (e *ClockDriftError) Error() string {
	return fmt.Sprintf("binance: refusing to sign: local clock is %s off the exchange's (recvWindow %s); fix the host clock (NTP)",
		e.Offset.Abs().Round(time.Millisecond), e.RecvWindow)
}

func (e *ClockDriftError) Is(target error) bool { return target == ErrClockDrift }

// resyncAfter bounds the age of a server-time offset before the next signed call refreshes it.
const resyncAfter = 30 * time.Minute

// timeKeeper holds the offset between the exchange's clock and the local one.
// It is safe for concurrent use.
type timeKeeper struct {
	clock      clock.Clock
	recvWindow time.Duration

	mu       sync.Mutex
	synced   bool
	stale    bool          // an answer said our timestamp was off (-1021): resync before signing
	offset   time.Duration // server minus local, measured at syncedAt
	syncedAt time.Time     // local reading at the sync, with its monotonic reading if any
}

// needsSync reports whether a signed call must first refresh the offset.
// requires that mu is not held.
func (k *timeKeeper) needsSync(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.synced || k.stale || now.Sub(k.syncedAt) > resyncAfter
}

// record stores a measurement: the server's time and the local readings just before sending
// and just after receiving /api/v3/time. The server time is assumed to be taken half-way.
func (k *timeKeeper) record(server, sent, received time.Time) time.Duration {
	rtt := received.Sub(sent)
	if rtt < 0 {
		rtt = 0
	}
	mid := sent.Add(rtt / 2)
	off := server.Sub(mid.Round(0))
	k.mu.Lock()
	k.synced, k.stale, k.offset, k.syncedAt = true, false, off, mid
	k.mu.Unlock()
	return off
}

func (k *timeKeeper) markStale() {
	k.mu.Lock()
	k.stale = true
	k.mu.Unlock()
}

// Offset returns the current estimate of exchange time minus local time at now.
func (k *timeKeeper) currentOffset(now time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.synced {
		return 0
	}
	// A wall-clock step since the sync shows as the difference between the wall and the
	// monotonic elapsed time (zero for clocks without a monotonic reading).
	step := now.Round(0).Sub(k.syncedAt.Round(0)) - now.Sub(k.syncedAt)
	return k.offset - step
}

// timestamp returns the signed request's timestamp (exchange milliseconds), or a
// *ClockDriftError when the local clock is off by more than recvWindow: past that Binance
// would answer -1021, and a host whose clock is that wrong should be fixed, not papered over.
func (k *timeKeeper) timestamp(now time.Time) (int64, error) {
	off := k.currentOffset(now)
	if off.Abs() > k.recvWindow {
		return 0, &ClockDriftError{Offset: off, RecvWindow: k.recvWindow}
	}
	return now.Add(off).UnixMilli(), nil
}
