package killswitch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
)

// Switch halts trading. While it is halted, Check returns a *HaltedError and the runtime's gate
// keeps every new order and amendment in the process (cancels still go out).
//
// The backend is the truth: Trip and Resume write it, and Run watches it, so a halt by another
// process or by hand (creating the file) reaches this one within one poll interval. A switch
// whose backend cannot be read reports halted: it fails closed, never open.
//
// Most callers want Check (on the order path), OnChange (to log and cancel on a trip), Run
// (in a goroutine, for the life of the process), and TripOnSignal. A Switch is safe for
// concurrent use. Its zero value is not usable; call New, File or NewWithBackend.
type Switch struct {
	backend Backend
	clock   clock.Clock
	poll    time.Duration
	log     zerolog.Logger
	host    string
	pid     int

	mu         sync.Mutex
	st         Status              // guarded by mu
	gen        uint64              // guarded by mu: bumped by every Trip and Resume
	sticky     bool                // guarded by mu: halted although the backend could not record it
	lastErr    string              // guarded by mu: the last Load error logged, to log each once
	subs       map[int]func(Event) // guarded by mu
	nextSub    int                 // guarded by mu
	queue      []Event             // guarded by mu: events not yet delivered
	delivering bool                // guarded by mu: a goroutine is delivering the queue
}

// Option configures a Switch.
type Option func(*Switch)

// WithClock sets the clock (default: the wall clock).
func WithClock(c clock.Clock) Option { return func(s *Switch) { s.clock = c } }

// WithPollInterval sets how often Run reads the backend (default DefaultPollInterval).
// Values of zero or below keep the default.
func WithPollInterval(d time.Duration) Option {
	return func(s *Switch) {
		if d > 0 {
			s.poll = d
		}
	}
}

// WithLogger sets where the switch logs what it cannot return: a backend that cannot be read
// while Run watches it, a signal trip that could not be recorded (default: no logging).
func WithLogger(l zerolog.Logger) Option { return func(s *Switch) { s.log = l } }

// New returns the switch cfg describes (a file switch) after validating cfg.
func New(cfg Config, opts ...Option) (*Switch, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return File(cfg.File, append([]Option{WithPollInterval(cfg.PollInterval)}, opts...)...)
}

// File returns a switch kept in the file at path (see FileBackend). If the file exists, the
// switch starts halted.
func File(path string, opts ...Option) (*Switch, error) {
	if path == "" {
		return nil, errors.New("killswitch: file: must not be empty")
	}
	return NewWithBackend(NewFileBackend(path), opts...), nil
}

// NewWithBackend returns a switch kept in b, in the state b holds now (halted if b cannot be
// read).
func NewWithBackend(b Backend, opts ...Option) *Switch {
	s := &Switch{
		backend: b,
		clock:   clock.Real{},
		poll:    DefaultPollInterval,
		log:     zerolog.Nop(),
		pid:     os.Getpid(),
		subs:    map[int]func(Event){},
	}
	s.host, _ = os.Hostname()
	for _, opt := range opts {
		opt(s)
	}
	s.refresh(context.Background())
	return s
}

// Backend returns the switch's backend.
func (s *Switch) Backend() Backend { return s.backend }

// State returns whether trading is halted, and why.
func (s *Switch) State() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

// Halted reports whether trading is halted, and why.
func (s *Switch) Halted() (bool, Reason) {
	st := s.State()
	return st.Halted, st.Reason
}

// ReduceOnly reports whether trading is halted in reduce-only mode (Reason.ReduceOnly).
func (s *Switch) ReduceOnly() bool {
	h, r := s.Halted()
	return h && r.ReduceOnly
}

// Check returns nil while trading runs, and a *HaltedError (errors.Is ErrHalted) while it is
// halted. The runtime adapts it to the scheduler's gate, which is never asked for cancels:
//
//	func (g gate) Allow(ctx context.Context, p scheduler.Priority) error { return g.sw.Check() }
func (s *Switch) Check() error {
	st := s.State()
	if !st.Halted {
		return nil
	}
	return &HaltedError{Reason: st.Reason}
}

// Trip halts trading and records r in the backend. Zero fields of r are filled in: When with
// the clock, Host and PID with this process's, Who with the OS user's name, Why with "no
// reason given". If trading is already halted the reason in force is kept, and Trip succeeds.
//
// If the backend cannot record the halt, this process halts all the same, stays halted until
// Resume is called in it, and Trip returns the error.
func (s *Switch) Trip(ctx context.Context, r Reason) error {
	r = s.complete(r).redacted()
	inForce, err := s.backend.Trip(ctx, r)
	if err != nil {
		r.Why += " (not recorded: " + err.Error() + ")"
		s.change(Status{Halted: true, Reason: r}, "trip", true)
		return fmt.Errorf("killswitch: halted this process only: %w", err)
	}
	s.change(Status{Halted: true, Reason: inForce}, "trip", false)
	return nil
}

// TripAuto trips the switch for a failure the runtime detected (the scheduler's auth breaker
// opening): the reason's Who is "auto".
func (s *Switch) TripAuto(ctx context.Context, why string) error {
	return s.Trip(ctx, Reason{Who: "auto", Why: why})
}

// Resume removes the halt from the backend and lets trading run again. If the backend cannot
// remove it, the switch stays halted and Resume returns the error. It is ResumeWith with no
// reason given.
func (s *Switch) Resume(ctx context.Context) error { return s.ResumeWith(ctx, Reason{}) }

// ResumeWith is Resume recording who resumed, when and why (zero fields filled in as Trip
// fills them) where the backend keeps such a record (a ReasonResumer: the fleet's).
func (s *Switch) ResumeWith(ctx context.Context, r Reason) error {
	var err error
	if rr, ok := s.backend.(ReasonResumer); ok {
		err = rr.ResumeWith(ctx, s.complete(r))
	} else {
		err = s.backend.Resume(ctx)
	}
	if err != nil {
		return err
	}
	s.change(Status{}, "resume", false)
	return nil
}

// OnChange registers fn to be called with every change between running and halted, in order,
// and returns a function that unregisters it. It reports changes only; State gives the state
// at registration. fn runs on the goroutine that made or saw the change (a Trip or Resume
// caller, Run) and may call the switch; it should return quickly, so slow work such as
// cancelling open orders belongs on a goroutine of its own.
func (s *Switch) OnChange(fn func(Event)) (unsubscribe func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

// Run watches the backend until ctx ends, so halts and resumes made by others (a person
// creating or deleting the file, `keel halt`, another process) take effect here within one
// poll interval. It returns nil when ctx ends. Run it once, in its own goroutine.
func (s *Switch) Run(ctx context.Context) error {
	for {
		s.refresh(ctx)
		c, stop := s.clock.NewTimer(s.poll)
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-c:
		}
	}
}

// refresh reads the backend and adopts its state, unless a Trip or Resume of this process
// happened meanwhile (their state is newer than what was read).
func (s *Switch) refresh(ctx context.Context) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()

	st, err := s.backend.Load(ctx)
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	if err != nil {
		st = Status{Halted: true, Reason: Reason{Who: "unknown", When: s.clock.Now(), Why: "unreadable: " + err.Error()}}
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.log.Error().Err(err).Str("backend", s.backend.String()).Msg("killswitch: cannot read the switch; halted until it can")
		}
	} else {
		s.lastErr = ""
	}
	if gen != s.gen || (s.sticky && !st.Halted) {
		s.mu.Unlock()
		return
	}
	s.setLocked(st, s.backend.String())
	s.mu.Unlock()
	s.deliver()
}

// change applies a state this process decided (Trip, Resume).
func (s *Switch) change(st Status, source string, sticky bool) {
	s.mu.Lock()
	s.gen++
	s.sticky = sticky
	s.setLocked(st, source)
	s.mu.Unlock()
	s.deliver()
}

// setLocked adopts st and queues an event if it flips between running and halted (a new reason
// for a halt in force is adopted silently). requires that s.mu is held.
func (s *Switch) setLocked(st Status, source string) {
	st.Reason = st.Reason.redacted() // read back from a file or a fleet key anyone may write
	flipped := st.Halted != s.st.Halted
	s.st = st
	if flipped {
		s.queue = append(s.queue, Event{Status: st, Source: source})
	}
}

// deliver hands queued events to subscribers, in order, without holding s.mu while they run.
// One goroutine delivers at a time; an event queued meanwhile (also by a subscriber calling
// Trip) is delivered by it, after the current one.
func (s *Switch) deliver() {
	s.mu.Lock()
	if s.delivering {
		s.mu.Unlock()
		return
	}
	s.delivering = true
	for len(s.queue) > 0 {
		ev := s.queue[0]
		s.queue = s.queue[1:]
		ids := make([]int, 0, len(s.subs))
		for id := range s.subs {
			ids = append(ids, id)
		}
		slices.Sort(ids) // registration order
		fns := make([]func(Event), len(ids))
		for i, id := range ids {
			fns[i] = s.subs[id]
		}
		s.mu.Unlock()
		for _, fn := range fns {
			fn(ev)
		}
		s.mu.Lock()
	}
	s.delivering = false
	s.mu.Unlock()
}

// complete fills the zero fields of a reason.
func (s *Switch) complete(r Reason) Reason {
	if r.When.IsZero() {
		r.When = s.clock.Now()
	}
	if r.Host == "" {
		r.Host = s.host
	}
	if r.PID == 0 {
		r.PID = s.pid
	}
	if r.Who == "" {
		r.Who = "unknown"
		if u, err := user.Current(); err == nil {
			r.Who = u.Username
		}
	}
	if r.Why == "" {
		r.Why = "no reason given"
	}
	return r
}
