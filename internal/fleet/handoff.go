package fleet

import (
	"strconv"
	"strings"
	"time"
)

// How slots change hands between instances. An instance keeps the slots it takes and serves
// its next requests with them, without a round trip. One that has none and finds the fleet
// full queues in Redis, which names the instance holding the most slots: that one gives a slot
// back as soon as one of its own is idle (or, if none is within three polls, the next one it
// releases), and the return hands it to the head of the queue, told by a notice ("g"). Any
// other instance with an idle slot helps a waiter nobody served within a poll. Notices lost
// while the subscription was down are made up for: a refused instance looks again when it
// resubscribes, and finds a slot handed to it among its slots in Redis.

// tick is pollLoop's look at the bucket: a refused instance tries again when Redis said;
// slots whose lease runs short are renewed (or given back if idle), successes told.
func (s *semaphore) tick(now time.Time) {
	s.mu.Lock()
	var wake func()
	if s.blocked && !now.Before(s.retryAt) {
		wake = s.unblockLocked()
	}
	if !s.askedAt.IsZero() {
		s.giveIdleLocked(now)
	}
	s.helpWaitingLocked(now)
	due := len(s.returns) > 0 || len(s.force) > 0 || (s.pendingOK >= s.run || s.pendingReset) && s.limit < s.cap
	for _, sl := range s.slots {
		due = due || !sl.exp.IsZero() && sl.exp.Sub(now) < s.f.opts.SlotLease/3 || !sl.busy && now.Sub(sl.idle) >= s.f.opts.SlotLease
	}
	if due {
		s.kickLocked()
	}
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// giveIdleLocked gives a waiting instance a slot of this one's that has been idle for a
// quarter of a poll (dropIdleLocked); if none is within three polls, the next one released
// goes. requires that s.mu is held.
func (s *semaphore) giveIdleLocked(now time.Time) {
	if s.dropIdleLocked(now) {
		s.askedBy, s.askedAt = "", time.Time{}
		return
	}
	if now.Sub(s.askedAt) >= 3*s.f.opts.Poll {
		s.owed = min(s.owed+1, len(s.slots))
		s.askedBy, s.askedAt = "", time.Time{}
	}
}

// helpWaitingLocked gives an idle slot to an instance that has waited a whole poll without
// being served (the one named to give may be busy, or its notice lost). requires that s.mu is
// held.
func (s *semaphore) helpWaitingLocked(now time.Time) {
	for w, since := range s.waiting {
		switch {
		case now.Sub(since) >= s.f.opts.SlotLease:
			delete(s.waiting, w) // its place in the queue has ended
		case now.Sub(since) >= s.f.opts.Poll:
			if s.dropIdleLocked(now) {
				delete(s.waiting, w)
				return
			}
		}
	}
}

// dropIdleLocked gives back a slot idle for a quarter of a poll (one released a moment ago is
// likely about to serve this instance's next request), if there is one, and reports whether
// it did. requires that s.mu is held.
func (s *semaphore) dropIdleLocked(now time.Time) bool {
	for _, sl := range s.slots {
		if !sl.busy && now.Sub(sl.idle) >= s.f.opts.Poll/4 {
			s.dropLocked(sl, "spare")
			return true
		}
	}
	return false
}

// notice applies a fleet message about this bucket: a slot handed to this instance ("g"),
// a slot this instance is named to give ("w"), a slot free ("r"), a new AIMD limit ("l").
func (s *semaphore) notice(kind, rest string, now time.Time) {
	parts := strings.Split(rest, "|")
	s.mu.Lock()
	var wake func()
	switch kind {
	case "g": // instance|member|lease ms
		if len(parts) == 3 && parts[0] == s.askedBy {
			s.askedBy, s.askedAt = "", time.Time{} // it was served
		}
		if len(parts) == 3 {
			delete(s.waiting, parts[0])
		}
		if len(parts) != 3 || parts[0] != s.f.holder {
			break
		}
		if s.knownLocked(parts[1]) {
			break // found already in a round trip's answer
		}
		ms, _ := strconv.ParseInt(parts[2], 10, 64)
		// The message left Redis a moment ago: count the lease from a bound before it.
		s.slots = append(s.slots, &slot{member: parts[1], exp: now.Add(time.Duration(ms)*time.Millisecond - s.f.opts.OpTimeout), idle: now})
		wake = s.unblockLocked()
	case "w": // waiter|victim
		if len(parts) == 2 && parts[0] != s.f.holder {
			if s.waiting == nil {
				s.waiting = map[string]time.Time{}
			}
			s.waiting[parts[0]] = now
		}
		if len(parts) != 2 || parts[1] != s.f.holder || len(s.slots) == 0 {
			break
		}
		// Give a slot when one goes idle (tick), or at the next release if none does soon:
		// giving one in use away at once would only make this instance queue in turn.
		if s.askedAt.IsZero() {
			s.askedBy, s.askedAt = parts[0], now
		}
		s.giveIdleLocked(now)
	case "r": // slots held after a return left one free
		held, err := strconv.Atoi(parts[0])
		if err != nil {
			break
		}
		s.inflight = held
		if held < s.limit {
			wake = s.unblockLocked()
		}
	case "l": // limit
		limit, err := strconv.Atoi(parts[0])
		if err != nil {
			break
		}
		if limit < s.limit {
			s.dropSparesLocked()
		} else if limit > s.limit {
			wake = s.unblockLocked() // room for one more
		}
		s.limit = limit
	}
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// subscribed lets a refused instance try again now that notices reach it: one sent before
// may have been lost.
func (s *semaphore) subscribed() {
	s.mu.Lock()
	if !s.blocked {
		s.mu.Unlock()
		return
	}
	s.recheck = true
	wake := s.unblockLocked()
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}
