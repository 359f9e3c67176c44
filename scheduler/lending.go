package scheduler

import "time"

// Lending: a priority whose headroom is below 1 (market and background 0.70, account 0.85 by
// default) keeps the rest of a window for the priorities above it only as far as they need
// it. Reserving a fixed 30% that nobody uses throws budget away: a read-only bot would serve
// 0.63 of its limit. So the reserve is decided per window, at each look:
//
//   - while no request of a higher priority waited on the window within
//     HeadroomConfig.Lookback, the lower priority leaves only CancelFloor of it, so that a
//     cancel (or an order) that comes finds room at once;
//   - otherwise it leaves what the higher priorities were granted of the window over its last
//     interval (their recent weight: Binance's orders and cancels weigh nothing, an account
//     read 20), at least CancelFloor and at most 1 - its headroom, as before.
//
// Strict priority is untouched: a higher request that waits on a window for budget still
// stops every lower one from taking from it (pumpLocked), so lending never lets a read
// overtake an order that is ready to go. What it trades: the first higher request after a
// long lull may find a window the reads have filled down to CancelFloor, and wait for it to
// roll over (orders and cancels fit in the floor; an account read may not).

// demandSlots is how many slots a window's interval is cut into to count recent grants.
const demandSlots = 12

// demand is what each priority asked of one window lately: when a request of it last waited
// on the window (queued there, on the scheduler's clock), and the weight granted to it over
// the window's last interval, in slots. Guarded by Scheduler.mu.
type demand struct {
	slot  int64 // nanoseconds
	seen  [NumPriorities]time.Time
	slots [demandSlots]demandSlot
}

type demandSlot struct {
	index int64 // which slot-long stretch of time this slot holds
	used  [NumPriorities]int64
}

// reset sizes the slots for a window of interval and forgets the grants.
func (d *demand) reset(interval time.Duration) {
	d.slot = max(int64(interval)/demandSlots, 1)
	d.slots = [demandSlots]demandSlot{}
}

// granted counts n granted to priority p at now.
func (d *demand) granted(now time.Time, p Priority, n int64) {
	i := now.UnixNano() / d.slot
	s := &d.slots[int(uint64(i)%demandSlots)]
	if s.index != i {
		*s = demandSlot{index: i}
	}
	s.used[p] += n
}

// above reports whether a request of a priority above p waited on the window after since,
// and if so what the priorities above p were granted over the last interval at now.
func (d *demand) above(now time.Time, p Priority, since time.Time) (used int64, seen bool) {
	for q := p + 1; int(q) < NumPriorities; q++ {
		seen = seen || d.seen[q].After(since)
	}
	if !seen {
		return 0, false
	}
	cur := now.UnixNano() / d.slot
	for i := range d.slots {
		s := &d.slots[i]
		if s.index > cur-demandSlots && s.index <= cur {
			for q := p + 1; int(q) < NumPriorities; q++ {
				used += s.used[q]
			}
		}
	}
	return used, true
}

// shareLocked returns the share of win's safe limit priority p may fill at now: its headroom
// when the priorities above it need the rest, more when they do not (see above).
// requires that s.mu is held.
func (s *Scheduler) shareLocked(win *window, p Priority, now time.Time) float64 {
	head := s.cfg.Headroom.of(p)
	if s.cfg.Headroom.mostShare(p) == head {
		return head
	}
	lookback := s.cfg.Headroom.Lookback
	if lookback == 0 {
		lookback = 2 * win.cfg.Interval
	}
	leave := max(s.cfg.Headroom.CancelFloor, 0)
	if used, seen := win.demand.above(now, p, now.Add(-lookback)); seen && used > 0 {
		leave = max(leave, float64(used)/float64(win.safe(win.fraction)))
	}
	if leave >= 1-head { // the most it may have to leave
		return head
	}
	return 1 - leave
}

// mostShare is the most of a window priority p may ever fill: all but the cancel floor when it
// may borrow, else its headroom.
func (h HeadroomConfig) mostShare(p Priority) float64 {
	head := h.of(p)
	floor := max(h.CancelFloor, 0)
	if h.Lookback < 0 || floor >= 1-head {
		return head
	}
	return 1 - floor
}
