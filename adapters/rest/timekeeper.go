package rest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// ErrClockDrift matches (errors.Is) a refusal to sign because the local clock is further
// from the exchange's than its acceptance window allows. The request was not sent.
var ErrClockDrift = errors.New("rest: local clock drift beyond the exchange's acceptance window")

// ClockDriftError says how far off the local clock is. It matches ErrClockDrift.
type ClockDriftError struct {
	// Exchange names the exchange in the message ("binance").
	Exchange string
	// Offset is the exchange's time minus the local time.
	Offset time.Duration
	// Window is how far off a timestamp the exchange accepts (Binance's recvWindow).
	Window time.Duration
}

func (e *ClockDriftError) Error() string {
	return fmt.Sprintf("%s: refusing to sign: local clock is %s off the exchange's (acceptance window %s); fix the host clock (NTP)",
		e.Exchange, e.Offset.Abs().Round(time.Millisecond), e.Window)
}

func (e *ClockDriftError) Is(target error) bool { return target == ErrClockDrift }

// DefaultResyncAfter bounds the age of a measured offset before NeedsSync asks for a new one.
const DefaultResyncAfter = 30 * time.Minute

// TimeKeeper holds the offset between the exchange's clock and the local one, measured from
// the exchange's server-time endpoint. Signed requests take their timestamps from Timestamp,
// which refuses to sign when the offset exceeds the acceptance window: past it the exchange
// would refuse the request anyway, and a host whose clock is that wrong should be fixed, not
// papered over. Build one with NewTimeKeeper; it is safe for concurrent use.
type TimeKeeper struct {
	exchange string
	clock    clock.Clock
	window   time.Duration

	mu       sync.Mutex
	synced   bool
	stale    bool          // an answer said our timestamp was off: resync before signing
	offset   time.Duration // server minus local, measured at syncedAt
	syncedAt time.Time     // local reading at the sync, with its monotonic reading if any
	// measuredAt is when the latest measurement completed: a request sent before it was
	// signed with an older offset.
	measuredAt time.Time
	// remeasured: the current offset was measured because the exchange refused a timestamp,
	// and no request signed with it has been accepted yet.
	remeasured bool
}

// NewTimeKeeper returns a keeper for exchange (its name, for messages) that refuses to sign
// beyond window (0: never refuses).
func NewTimeKeeper(exchange string, clk clock.Clock, window time.Duration) *TimeKeeper {
	return &TimeKeeper{exchange: exchange, clock: clk, window: window}
}

// Window is the acceptance window the keeper enforces.
func (k *TimeKeeper) Window() time.Duration { return k.window }

// NeedsSync reports whether a signed call must first measure the offset: never measured,
// contradicted by the exchange (MarkStale), or older than DefaultResyncAfter.
func (k *TimeKeeper) NeedsSync(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.synced || k.stale || now.Sub(k.syncedAt) > DefaultResyncAfter
}

// Record stores a measurement: the server's time and the local readings just before sending
// and just after receiving the server-time request. The server is assumed to read its clock
// half-way through the round trip. It returns the offset.
func (k *TimeKeeper) Record(server, sent, received time.Time) time.Duration {
	rtt := max(received.Sub(sent), 0)
	mid := sent.Add(rtt / 2)
	off := server.Sub(mid.Round(0))
	k.mu.Lock()
	k.remeasured = k.stale
	k.synced, k.stale, k.offset, k.syncedAt, k.measuredAt = true, false, off, mid, received
	k.mu.Unlock()
	return off
}

// Refused records that the exchange refused, as out of its window, a timestamp signed for a
// request sent at local time sent, and reports whether the refusal is fatal. The first
// refusal is not: the exchange's clock stepped (or ours did), so the next signed call measures
// the offset again (as MarkStale) and the refused request counts as refused, not as an auth
// failure. It is fatal when the request was signed with an offset already re-measured after
// such a refusal and not yet proven by an accepted request: measuring again did not help, so
// the host's clock is broken and an operator must look. A request sent before the latest
// measurement proves nothing about it (it was in flight with the old offset): not fatal.
func (k *TimeKeeper) Refused(sent time.Time) (fatal bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.synced && sent.Before(k.measuredAt) {
		return false
	}
	if k.remeasured {
		return true
	}
	k.stale = true
	return false
}

// ClassifyRefusal classifies an answer that refused a's timestamp as out of the exchange's
// window (Binance -1021, Bybit 10002): a refused request (validation, not retried, nothing
// placed) that makes the next signed call measure the offset again, unless Refused finds it
// fatal, when out keeps the auth class the adapter gave it.
func (k *TimeKeeper) ClassifyRefusal(a Answer, out *scheduler.Outcome) {
	if !k.Refused(a.Sent) {
		out.Class = scheduler.ClassValidation
		out.Message += " (clock offset re-measured before the next signature)"
	}
}

// Accepted records that the exchange accepted a signed request sent at local time sent: when
// it was signed with the current offset, that offset is proven, and a later refusal is again
// first met with a new measurement.
func (k *TimeKeeper) Accepted(sent time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.remeasured && !sent.Before(k.measuredAt) {
		k.remeasured = false
	}
}

// MarkStale makes the next signed call resync first: the exchange said a timestamp was off.
func (k *TimeKeeper) MarkStale() {
	k.mu.Lock()
	k.stale = true
	k.mu.Unlock()
}

// Offset returns the current estimate of exchange time minus local time at now (0 before the
// first measurement).
func (k *TimeKeeper) Offset(now time.Time) time.Duration {
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

// Timestamp returns the exchange's time at local time now, or a *ClockDriftError when the
// local clock is off by more than the window.
func (k *TimeKeeper) Timestamp(now time.Time) (time.Time, error) {
	off := k.Offset(now)
	if k.window > 0 && off.Abs() > k.window {
		return time.Time{}, &ClockDriftError{Exchange: k.exchange, Offset: off, Window: k.window}
	}
	return now.Add(off), nil
}
