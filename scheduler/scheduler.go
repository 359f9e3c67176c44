package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/jitter"
)

// Scheduler sends requests to one exchange account in priority order, within the account's
// limit windows and bucket concurrency caps, and retries them by the policy table. Build it
// with New; the zero value is not usable. It is safe for concurrent use: Do is called from
// many goroutines at once. Close it when done.
type Scheduler struct {
	cfg       Config
	clock     clock.Clock
	rand      *jitter.Rand
	log       zerolog.Logger
	idFields  []byte // bot_instance_id's and exchange's values, encoded once (log.go)
	gate      Gate
	observers []func(AttemptEvent)
	authHook  func(Outcome)
	authEvent func(Outcome, AttemptEvent)
	kinds     map[string]NewCounterFunc
	shared    Shared

	// holdObservers receive every bucket pause (bounds.go).
	holdObservers []func(HoldEvent)

	// Probes the scheduler sends (WithProber) run under probeCtx; Close cancels it and waits.
	probeCtx    context.Context
	probeCancel context.CancelFunc
	probes      sync.WaitGroup

	mu     sync.Mutex
	closed bool
	prober Prober
	offset time.Duration // exchange clock minus ours
	skew   time.Duration // how far offset may be off (SetClockUncertainty)
	// offsetLogged is the clock offset last logged; offsetKnown, whether one was.
	offsetLogged time.Duration
	offsetKnown  bool
	windows      map[string]*window
	buckets      map[string]*bucket
	breakers     []*breaker // auth, rate_limit, transient
	queue        [NumPriorities]fifo
	scan         uint64
	retries      retryBudget
	ban          banState
	// endpoints counts malformed answers per endpoint (endpoint.go); only endpoints with a
	// run of them have an entry.
	endpoints map[endpointKey]*endpointFault
	wakeAt    time.Time // when the dispatcher must next pump
	armed     time.Time // what the dispatcher's timer is set for
	// attempts are the attempts in flight whose deadlines the dispatcher keeps (attemptctx.go),
	// on the real clock; on another clock an attempt's context is context.WithDeadline's.
	attempts  inflight
	realClock bool

	kick     chan struct{}
	poke     chan struct{} // Wake: pump now
	done     chan struct{}
	loopDone chan struct{}
}

type openGate struct{}

func (openGate) Allow(context.Context, Priority) error { return nil }

// New returns a Scheduler for cfg, or an error naming the first invalid field. It starts one
// dispatcher goroutine, which Close stops.
func New(cfg Config, opts ...Option) (*Scheduler, error) {
	o := options{
		clock: clock.Real{},
		log:   zerolog.Nop(),
		gate:  openGate{},
		kinds: map[string]NewCounterFunc{KindFixed: newFixedCounter, KindSliding: newSlidingCounter, KindDecaying: newDecayingCounter},
	}
	for _, opt := range opts {
		opt(&o)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(o.knownKind); err != nil {
		return nil, err
	}
	if o.rand == nil {
		o.rand = jitter.NewRandom()
	}
	s := &Scheduler{
		cfg:       cfg,
		clock:     o.clock,
		realClock: isRealClock(o.clock),
		rand:      o.rand,
		log:       o.log,
		idFields:  idFieldsJSON(cfg.InstanceID, cfg.Exchange),
		gate:      o.gate,
		observers: o.observers,
		authHook:  o.authHook,
		authEvent: o.authEvent,
		prober:    o.prober,
		kinds:     o.kinds,
		shared:    o.shared,
		windows:   map[string]*window{},
		buckets:   map[string]*bucket{},
		endpoints: map[endpointKey]*endpointFault{},
		retries: retryBudget{
			ratio: cfg.RetryBudget.Ratio,
			floor: int64(cfg.RetryBudget.Floor),
			count: newRolling(cfg.RetryBudget.Window),
		},
		breakers: []*breaker{
			newBreaker(ClassAuth, cfg.Breakers.Auth, true),
			newBreaker(ClassRateLimit, cfg.Breakers.RateLimit, false),
			newBreaker(ClassTransient, cfg.Breakers.Transient, false),
		},
		kick:     make(chan struct{}, 1),
		poke:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	s.holdObservers = o.holdObservers
	s.probeCtx, s.probeCancel = context.WithCancel(context.Background())
	now := s.clock.Now()
	for _, wc := range cfg.Windows {
		s.addWindowLocked(wc, now)
	}
	for _, bc := range cfg.Buckets {
		s.buckets[bc.Name] = &bucket{cfg: bc, sem: s.newSemaphore(bc)}
	}
	go s.loop()
	return s, nil
}

// addWindowLocked adds a validated-with-defaults window of a known kind.
// requires that s.mu is held (or s is not shared yet).
func (s *Scheduler) addWindowLocked(wc WindowConfig, now time.Time) {
	w := &window{cfg: wc, counter: s.newCounter(wc), fraction: s.cfg.SafetyFraction}
	w.configurePace(now)
	w.demand.reset(wc.Interval)
	s.resetUsage(w)
	s.windows[wc.Name] = w
}

// AddWindow adds the limit window w unless the scheduler has one of its name: for windows
// known only once the bot runs (Kraken counts orders per pair, and a bot learns its pairs
// from its strategy). w is read as a Config's window is, zero fields meaning the defaults
// documented on WindowConfig, and validated the same way, its kind included (built in, or
// registered with WithWindowKind); the error names the invalid field.
//
// It is idempotent: adding a window that exists returns nil if w, defaults applied, equals
// the window as it stands (after any SetWindowLimit), and an error naming the window if it
// differs; AddWindow never changes a window (SetWindowLimit does).
//
// It is safe to call concurrently with Do and the other methods. A request naming a window
// that was not configured or added fails with ErrInvalidRequest, before and after.
func (s *Scheduler) AddWindow(w WindowConfig) error {
	wc := w.withDefaults()
	if err := wc.validate("window", s.knownKind); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.windows[wc.Name]; ok {
		if have.cfg != wc {
			return fieldErr("windows["+wc.Name+"]", "already exists as %+v, cannot add %+v", have.cfg, wc)
		}
		return nil
	}
	// No pump: no request waits on a window that did not exist.
	s.addWindowLocked(wc, s.clock.Now())
	return nil
}

// resetUsage starts w's usage record afresh for its config (usage.go): only a fixed window
// counted locally estimates others' spend itself.
func (s *Scheduler) resetUsage(w *window) {
	_, fixed := w.counter.(*fixedCounter)
	w.usage = usage{confirmed: w.usage.confirmed, doubted: w.usage.doubted, fixed: fixed, interval: int64(w.cfg.Interval)}
}

// knownKind reports whether s can build a window of kind. s.kinds is set by New and only
// read after, so it needs no lock.
func (s *Scheduler) knownKind(kind string) bool {
	_, ok := s.kinds[kind]
	return ok
}

// knownKind reports whether o can build a window of kind.
func (o *options) knownKind(kind string) bool {
	_, ok := o.kinds[kind]
	return ok
}

// SetWindowLimit sets the limit and interval of the window name, or adds a fixed window of
// that name (AddWindow adds one of any kind): adapters call it with the limits they learn
// from the exchange (exchangeInfo). The window's count so far is kept (a decaying window's
// level too, draining at the new rate from now).
func (s *Scheduler) SetWindowLimit(name string, limit int64, interval time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	w, ok := s.windows[name]
	if !ok {
		wc := WindowConfig{Name: name, Limit: limit, Interval: interval}.withDefaults()
		if err := wc.validate("windows["+name+"]", s.knownKind); err != nil {
			return err
		}
		s.addWindowLocked(wc, now) // fixed: always known
		s.pumpLocked(now)
		return nil
	}
	wc := w.cfg
	wc.Limit, wc.Interval = limit, interval
	if err := wc.validate("windows["+name+"]", s.knownKind); err != nil {
		return err
	}
	// A decaying window's limit is also its drain rate: its counter must learn it.
	rate := wc.Kind == KindDecaying && limit != w.cfg.Limit
	if interval != w.cfg.Interval || rate {
		server := now.Add(s.offset)
		if d, ok := w.counter.(*decayingCounter); ok {
			d.setRate(server, limit, interval) // keeps the level exactly
		} else {
			used := w.counter.Used(server)
			w.counter = s.newCounter(wc)
			w.counter.Add(server, used)
		}
	}
	if wc.Interval != w.cfg.Interval {
		w.demand.reset(wc.Interval)
	}
	w.cfg = wc
	s.resetUsage(w)
	w.configurePace(now)
	s.pumpLocked(now)
	return nil
}

// SetClockOffset sets the exchange's clock minus ours (server time - local time), so that
// fixed windows are aligned to the exchange's clock. The first offset is logged (event
// clock_offset), and so is every later one that moved more than ClockOffsetLogStep from the
// last logged: a drifting host clock shows in the log before it fails signatures.
func (s *Scheduler) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	now := s.clock.Now()
	s.offset = d
	moved := !s.offsetKnown || (d-s.offsetLogged).Abs() > ClockOffsetLogStep
	prev, first := s.offsetLogged, !s.offsetKnown
	if moved {
		s.offsetLogged, s.offsetKnown = d, true
	}
	s.pumpLocked(now)
	s.mu.Unlock()
	if moved {
		s.logClockOffset(now, d, prev, first)
	}
}

// SetProber sets the prober (WithProber) once the scheduler exists: the adapter whose reads
// probe is built with the scheduler.
func (s *Scheduler) SetProber(p Prober) {
	s.mu.Lock()
	s.prober = p
	s.mu.Unlock()
}

// ClockOffsetLogStep is how far the clock offset must move from the last logged one to be
// logged again.
const ClockOffsetLogStep = 100 * time.Millisecond

// Close stops the scheduler: queued requests and later calls to Do fail with ErrClosed.
// Attempts already in flight finish; their requests are not retried. Close returns when the
// dispatcher goroutine has exited. It is safe to call more than once.
func (s *Scheduler) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for p := range s.queue {
		for w := s.queue[p].head; w != nil; {
			nx := w.next
			s.completeLocked(w, ErrClosed)
			w = nx
		}
	}
	s.mu.Unlock()
	s.probeCancel()
	s.probes.Wait()
	close(s.done)
	<-s.loopDone
	// With the dispatcher gone, runtime timers keep the deadlines of the attempts still in
	// flight.
	s.mu.Lock()
	for _, c := range s.attempts {
		time.AfterFunc(time.Until(c.deadline), func() { c.end(context.DeadlineExceeded) })
	}
	s.mu.Unlock()
	return nil
}

// newWaiter validates r and resolves its bucket and windows. Its budget starts when it first
// enters the queue (acquire).
func (s *Scheduler) newWaiter(r *Request) (*waiter, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: nil request", ErrInvalidRequest)
	}
	if r.Attempt == nil {
		return nil, fmt.Errorf("%w: attempt: must be set", ErrInvalidRequest)
	}
	if r.Priority < 0 || int(r.Priority) >= NumPriorities {
		return nil, fmt.Errorf("%w: priority: unknown %s", ErrInvalidRequest, r.Priority)
	}
	if r.Cancel && !r.Write {
		return nil, fmt.Errorf("%w: cancel: a cancel must also be a write (set Write)", ErrInvalidRequest)
	}
	if r.Budget < 0 || r.MaxWait < 0 {
		return nil, fmt.Errorf("%w: budget and max_wait: must be >= 0, got %v and %v", ErrInvalidRequest, r.Budget, r.MaxWait)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[r.Bucket]
	if !ok {
		return nil, fmt.Errorf("%w: bucket: %q is not configured", ErrInvalidRequest, r.Bucket)
	}
	w := getWaiter()
	w.req, w.prio, w.bucket = r, r.Priority, b
	w.dones = w.donesBuf[:0]
	if len(r.Costs) <= len(w.costsBuf) {
		w.costs = w.costsBuf[:len(r.Costs)]
	} else {
		w.costs = make([]charge, len(r.Costs))
	}
	for i, c := range r.Costs {
		win, ok := s.windows[c.Window]
		if !ok {
			putWaiter(w)
			return nil, fmt.Errorf("%w: costs[%d].window: %q is not configured", ErrInvalidRequest, i, c.Window)
		}
		if c.AmountAt == nil { // else checked when it is evaluated, at admission
			if err := s.checkAmount(i, "amount", c.Amount, win, r.Priority); err != nil {
				putWaiter(w)
				return nil, err
			}
		}
		w.costs[i].win = win
	}
	w.budget = r.Budget
	if w.budget == 0 {
		w.budget = s.cfg.DefaultBudget
	}
	w.maxWait = r.MaxWait
	if w.maxWait == 0 {
		w.maxWait = s.cfg.DefaultMaxWait
	}
	w.places, w.cancel = r.Write && !r.Cancel, r.Cancel
	return w, nil
}

// checkAmount reports whether amt is a valid cost for win at priority p: >= 0, and within
// the most of the window p may fill, borrowing included (a larger one could never go), at the
// safety fraction that holds without the exchange's confirmation. field names the Cost field
// in the error.
func (s *Scheduler) checkAmount(i int, field string, amt int64, win *window, p Priority) error {
	if amt < 0 {
		return fmt.Errorf("%w: costs[%d].%s: must be >= 0, got %d", ErrInvalidRequest, i, field, amt)
	}
	if lim := win.capFor(s.cfg.SafetyFraction, s.cfg.Headroom.mostShare(p)); amt > lim {
		return fmt.Errorf("%w: costs[%d].%s: %d exceeds window %q's usable %d at %s priority", ErrInvalidRequest, i, field, amt, win.cfg.Name, lim, p)
	}
	return nil
}

// notSent marks the end of a request whose first attempt never left (its context ended in
// the queue, its budget ran out): errors.Is(err, ErrNotSent) tells a caller that nothing
// reached the exchange, and the cause stays matchable (context.Canceled, ErrBudgetExhausted).
// The scheduler's typed refusals (shed, breaker, gate) already say so and pass unchanged.
func notSent(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrBudgetExhausted) {
		return fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	return err
}

// Do sends r and returns when it has succeeded or failed for good, with the outcome of its
// last attempt. It is the method most callers want.
//
// Do waits in the queue for budget instead of sending into a 429, retries by the policy
// table within r's time budget and the global retry budget, and writes one log event per
// attempt (so a caller need not log the error again). Its error is, by what happened:
// *Error (the request failed; errors.Is(err, ErrUnknownOutcome) for a write that may have
// landed), *BreakerOpenError (failed fast), *GateClosedError (the kill switch), ErrShed,
// ErrBudgetExhausted, ErrClosed, ErrInvalidRequest, or ctx's error. ClassOf sorts them.
func (s *Scheduler) Do(ctx context.Context, r *Request) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return Outcome{}, notSent(err)
	}
	w, err := s.newWaiter(r)
	if err != nil {
		return Outcome{}, err
	}
	defer putWaiter(w)
	if w.places {
		if err := s.gate.Allow(ctx, r.Priority); err != nil {
			err = &GateClosedError{Err: err}
			s.logRefused(w, eventRefused, err)
			return Outcome{}, err
		}
	}
	var (
		last      Outcome
		lastClass Class
		retries   [ClassUnknown + 1]int
	)
	for attempt := 1; ; attempt++ {
		w.attempt = attempt
		if err := s.acquire(ctx, w); err != nil {
			if attempt == 1 {
				s.logRefused(w, eventRefused, err)
				return Outcome{}, notSent(err)
			}
			s.logRefused(w, eventRetryGivenUp, err)
			return last, newError(lastClass, last, attempt-1, err)
		}
		if w.places {
			if err := s.gate.Allow(ctx, r.Priority); err != nil {
				s.mu.Lock()
				s.abortLocked(w, s.clock.Now())
				s.pumpLocked(s.clock.Now())
				s.mu.Unlock()
				err = &GateClosedError{Err: err}
				if attempt == 1 {
					s.logRefused(w, eventRefused, err)
				} else {
					s.logRefused(w, eventRetryGivenUp, err)
				}
				return last, err
			}
		}
		o, end := s.attempt(ctx, w)
		class := Classify(o, r.Write)
		var held HoldEvent
		s.mu.Lock()
		retryAfter := s.finishLocked(w, o, class, end, &held)
		s.mu.Unlock()
		s.notifyHold(held)

		ev := AttemptEvent{
			Time: end, Endpoint: redactEndpoint(r.Endpoint), Method: r.Method, Bucket: r.Bucket, Priority: r.Priority,
			IdempotencyKey: r.IdempotencyKey, Attempt: attempt, Status: o.Status, Code: o.Code,
			Message: message(o), RequestID: redactRequestID(o.RequestID), Class: class, Latency: end.Sub(w.grantedAt),
			QueueWait: w.grantedAt.Sub(w.enqueued), InFlight: w.inflight, RetryAfter: retryAfter,
		}
		if len(w.costs) > 0 {
			ev.Weight = w.costs[0].amt
		}
		var final, givenUp error
		if class != ClassNone {
			var delay time.Duration
			delay, final = s.retryDecision(ctx, w, o, class, retryAfter, &retries, end)
			if final == nil {
				ev.RetryReason, ev.Delay = class.String(), delay
				w.notBefore = end.Add(delay)
			} else {
				cause := causeOf(final)
				final = newError(class, o, attempt, cause)
				givenUp = cause // nil: the policy table's verdict, not a retry given up
			}
		}
		s.logAttempt(&ev)
		if givenUp != nil {
			s.logRefused(w, eventRetryGivenUp, givenUp)
		}
		for _, f := range s.observers {
			f(ev)
		}
		if class == ClassAuth {
			if s.authHook != nil {
				s.authHook(o)
			}
			if s.authEvent != nil {
				s.authEvent(o, ev)
			}
		}
		if class == ClassNone {
			return o, nil
		}
		if final != nil {
			return o, final
		}
		last, lastClass = o, class
	}
}

// errFinal marks a failure that is final without a scheduler-side cause.
var errFinal = fmt.Errorf("final")

func causeOf(err error) error {
	if err == errFinal {
		return nil
	}
	return err
}

// attempt runs one try of w's request with a context that ends at the request's budget, and
// returns its outcome and when it ended.
func (s *Scheduler) attempt(ctx context.Context, w *waiter) (Outcome, time.Time) {
	if w.actx != nil { // the dispatcher keeps its deadline; finishLocked ends it
		o := w.req.Attempt(w.actx, w.attempt)
		return o, s.clock.Now()
	}
	// The budget runs on the scheduler's clock, the context's deadline on the wall clock.
	actx, cancel := context.WithDeadline(ctx, time.Now().Add(w.deadline.Sub(w.grantedAt)))
	o := w.req.Attempt(actx, w.attempt)
	cancel()
	return o, s.clock.Now()
}

// isRealClock reports whether c is the wall clock, on which the dispatcher keeps the attempts'
// deadlines.
func isRealClock(c clock.Clock) bool {
	_, real := c.(clock.Real)
	return real
}

// retryDecision decides whether a failed attempt of class is retried: it returns the delay
// before the retry, or the error that makes the failure final (errFinal when the policy
// table says so, ErrBudgetExhausted, ErrRetryBudget, or RetrySafe's error). retryAfter is
// the wait the exchange asked for (finishLocked).
func (s *Scheduler) retryDecision(ctx context.Context, w *waiter, o Outcome, class Class, retryAfter time.Duration, retries *[ClassUnknown + 1]int, now time.Time) (time.Duration, error) {
	rc := retryClass(class)
	if retries[rc] >= s.cfg.retryLimit(class) {
		return 0, errFinal
	}
	if class == ClassUnknown {
		if w.req.RetrySafe == nil {
			return 0, errFinal
		}
		ok, err := w.req.RetrySafe(ctx, o)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, errFinal
		}
	}
	delay, ok := backoff(s.rand, s.cfg.Backoff, retries[rc]+1, retryAfter, w.deadline.Sub(now))
	if !ok {
		return 0, ErrBudgetExhausted
	}
	s.mu.Lock()
	ok = s.retries.tryRetry(now)
	s.mu.Unlock()
	if !ok {
		return 0, ErrRetryBudget
	}
	retries[rc]++
	return delay, nil
}
