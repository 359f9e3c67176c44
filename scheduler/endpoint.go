package scheduler

import "time"

// endpointKey names one endpoint of the exchange: a method and a path, as a Request names
// them. A struct, so that looking one up costs no allocation on the hot path.
type endpointKey struct{ method, path string }

// endpointFault counts the malformed answers of one endpoint: 2xx answers whose body could
// not be read (Outcome.Malformed). They are the endpoint's fault, not the platform's, so the
// transient breaker (which holds every endpoint, cancels included) ignores them; instead, a
// run of them as long as the transient breaker's ConsecutiveFailures holds that endpoint
// alone for its OpenFor: its requests (cancels aside) fail fast with a BreakerOpenError
// naming it. After the hold the next request tries the endpoint again; a success forgets the
// run, another malformed answer holds it again. Guarded by Scheduler.mu.
type endpointFault struct {
	run    int       // malformed answers in a row
	until  time.Time // held until then
	reason string
}

// noteEndpointLocked feeds the outcome of an attempt of w's request into its endpoint's
// count: a malformed answer lengthens the run (holding the endpoint when it is long enough),
// a success ends it. Anything else says nothing about the endpoint's answers.
// requires that s.mu is held.
func (s *Scheduler) noteEndpointLocked(w *waiter, o Outcome, class Class, now time.Time) {
	key := endpointKey{w.req.Method, w.req.Endpoint}
	switch {
	case o.Malformed:
		f := s.endpoints[key]
		if f == nil {
			f = &endpointFault{}
			s.endpoints[key] = f
		}
		f.run++
		f.reason = describe(class, o)
		if cfg := s.cfg.Breakers.Transient; f.run >= int(cfg.ConsecutiveFailures) {
			f.until = now.Add(cfg.OpenFor)
		}
	case class == ClassNone:
		if len(s.endpoints) > 0 {
			delete(s.endpoints, key)
		}
	}
}

// endpointHeldLocked returns the fail-fast error while w's endpoint is held at now, else nil.
// Cancels are never held by it: a cancel whose answer cannot be read is still worth sending.
// requires that s.mu is held.
func (s *Scheduler) endpointHeldLocked(w *waiter, now time.Time) error {
	if w.cancel || len(s.endpoints) == 0 {
		return nil
	}
	f := s.endpoints[endpointKey{w.req.Method, w.req.Endpoint}]
	if f == nil || !now.Before(f.until) {
		return nil
	}
	return &BreakerOpenError{Class: ClassTransient, Endpoint: w.req.Method + " " + redactEndpoint(w.req.Endpoint),
		Until: f.until, Reason: "malformed answers: " + f.reason}
}

// EndpointState is an endpoint with malformed answers in a Snapshot.
type EndpointState struct {
	Method   string `json:"method"`
	Endpoint string `json:"endpoint"`
	// Malformed is the run of malformed answers (2xx that could not be read) in a row.
	Malformed int `json:"malformed"`
	// HeldUntil: the endpoint's requests fail fast until then (cancels excepted).
	HeldUntil time.Time `json:"held_until,omitzero"`
	Reason    string    `json:"reason"`
}

// cancelProbeAt is the earliest time, from now, at which a cancel of bucket b may pass the
// holds and breakers that stop it: one per Backoff.CancelProbe per bucket.
// requires that s.mu is held.
func (s *Scheduler) cancelProbeAt(b *bucket, now time.Time) time.Time {
	if b.cancelProbe.IsZero() {
		return now
	}
	return maxTime(now, b.cancelProbe.Add(s.cfg.Backoff.CancelProbe))
}
