package killswitch

import "context"

// Backend is where the switch's state lives. The file backend (FileBackend) is the default;
// a shared backend for a fleet (Redis) implements the same three methods. Every method must be
// safe for concurrent use, and the state must outlive the process: a restart reads it back.
type Backend interface {
	// Load reads the state. A halt whose reason cannot be read is still a halt: Load reports
	// it halted with a reason saying so. An error means the state could not be read at all;
	// the switch then treats trading as halted.
	Load(ctx context.Context) (Status, error)
	// Trip records a halt with r, unless a halt is already recorded, whose reason it keeps.
	// It returns the reason in force.
	Trip(ctx context.Context, r Reason) (Reason, error)
	// Resume removes the halt. Resuming a running switch is not an error.
	Resume(ctx context.Context) error
	// String names the backend in events, logs and errors ("file ./KILLSWITCH").
	String() string
}

// ReasonResumer is implemented by a backend that records who resumed, when and why (the
// fleet's Redis key: there a halt ends only by such a record, never by a key that vanished).
// Switch.Resume uses it when the backend has it.
type ReasonResumer interface {
	// ResumeWith removes the halt and records r as the resume.
	ResumeWith(ctx context.Context, r Reason) error
}
