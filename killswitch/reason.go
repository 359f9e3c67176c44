package killswitch

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/keelbot/keel/internal/redact"
)

// ErrHalted is matched (errors.Is) by every error that reports a halt.
var ErrHalted = errors.New("killswitch: trading halted")

// Reason says who halted trading, when and why. It is the JSON content of the kill-switch
// file, so operators can write one by hand:
//
//	{"who": "alice", "when": "2025-06-01T09:30:00Z", "why": "exchange maintenance"}
type Reason struct {
	Who  string    `json:"who"`
	When time.Time `json:"when"`
	Why  string    `json:"why"`
	Host string    `json:"host,omitempty"`
	PID  int       `json:"pid,omitempty"`
	// ReduceOnly makes the halt a reduce-only mode: the runtime still lets out an order that
	// reduces its strategy's position (flattening), and refuses every other. Check returns
	// the HaltedError either way; only the runtime, which knows positions, makes the exception.
	ReduceOnly bool `json:"reduce_only,omitempty"`
}

// String renders the reason for logs and `keel status`:
// "exchange maintenance (by alice on host1, pid 42, at 2025-06-01T09:30:00Z)".
func (r Reason) String() string {
	s := r.Why
	if s == "" {
		s = "no reason given"
	}
	s += " (by " + orUnknown(r.Who)
	if r.Host != "" {
		s += " on " + r.Host
	}
	if r.PID != 0 {
		s += ", pid " + strconv.Itoa(r.PID)
	}
	if !r.When.IsZero() {
		s += ", at " + r.When.UTC().Format(time.RFC3339)
	}
	s += ")"
	if r.ReduceOnly {
		s += " [reduce-only: orders that reduce a position still go]"
	}
	return s
}

// redacted masks the configured secrets' values (internal/redact) in the reason's text: the
// reason is written to a file operators read, logged and served on /status, and an automatic
// trip quotes the exchange, which may echo a key.
func (r Reason) redacted() Reason {
	r.Who, r.Why, r.Host = redact.Values(r.Who), redact.Values(r.Why), redact.Values(r.Host)
	return r
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// HaltedError is what Check returns while trading is halted. errors.Is(err, ErrHalted) holds.
type HaltedError struct {
	Reason Reason
}

func (e *HaltedError) Error() string { return "killswitch: trading halted: " + e.Reason.String() }

// Is makes errors.Is(err, ErrHalted) true.
func (e *HaltedError) Is(target error) bool { return target == ErrHalted }

// Status is the switch's state: halted with a reason, or running (Reason is then zero).
type Status struct {
	Halted bool   `json:"halted"`
	Reason Reason `json:"reason,omitzero"`
}

// String renders the status: "not halted", or "halted: <reason>". It says what the switch
// holds, not whether any bot runs.
func (s Status) String() string {
	if !s.Halted {
		return "not halted"
	}
	return "halted: " + s.Reason.String()
}

// Event is a change of the switch's state, delivered to OnChange subscribers.
type Event struct {
	Status
	// Source says what noticed or caused the change: "trip", "resume" (this process's calls,
	// including signals and automatic trips), or the backend ("file ./KILLSWITCH") when the
	// watcher saw someone else change it.
	Source string
}

func (e Event) String() string { return fmt.Sprintf("%s (%s)", e.Status, e.Source) }
