package scheduler

import (
	"sort"
	"time"
)

// Snapshot is the scheduler's state at one instant, for /status and tests. It is a plain
// value: it shares nothing with the scheduler.
type Snapshot struct {
	Time     time.Time      `json:"time"`
	Windows  []WindowState  `json:"windows"`
	Buckets  []BucketState  `json:"buckets"`
	Breakers []BreakerState `json:"breakers"`
	// Endpoints are the endpoints with a run of malformed answers, held or not yet.
	Endpoints []EndpointState `json:"endpoints,omitempty"`
	Queued    map[string]int  `json:"queued"` // requests waiting, by priority name
	// RetryBudget is the retry budget over its sliding window.
	RetryBudget RetryBudgetState `json:"retry_budget"`
}

// RetryBudgetState is the retry budget in a Snapshot: retries may reach Allowed (the ratio of
// first attempts, or the floor when that is more) over the window; past it, failures are not retried.
type RetryBudgetState struct {
	FirstAttempts int64 `json:"first_attempts"`
	Retries       int64 `json:"retries"`
	Allowed       int64 `json:"allowed"`
}

// WindowState is one limit window in a Snapshot.
type WindowState struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Used  int64  `json:"used"`
	Limit int64  `json:"limit"`
	// SafeLimit is the limit times the safety fraction in force: SafetyFraction, or
	// SafetyFractionConfirmed while the exchange's usage reports confirm the count.
	SafeLimit int64         `json:"safe_limit"`
	Interval  time.Duration `json:"interval"`
}

// BucketState is one concurrency bucket in a Snapshot.
type BucketState struct {
	Name string `json:"name"`
	SemaphoreState
	// HeldUntil is the end of the bucket's IP-wide pause (a 429 on request weight, a ban):
	// everything waits. OrdersHeldUntil is the end of its order-count pause: new orders wait,
	// cancels and reads go.
	HeldUntil       time.Time `json:"held_until,omitzero"`
	OrdersHeldUntil time.Time `json:"orders_held_until,omitzero"`
	// HoldReason is the failure that started the longer of the two, redacted.
	HoldReason string `json:"hold_reason,omitempty"`
}

// BreakerState is one failure class's breaker in a Snapshot.
type BreakerState struct {
	Class string    `json:"class"`
	State string    `json:"state"` // closed, open, half-open
	Until time.Time `json:"until,omitzero"`
	// OrderLimit: the opening came from order-count refusals alone; it holds new orders only.
	OrderLimit bool `json:"order_limit,omitempty"`
	// Reason is the failure that opened it, redacted; set while open or half-open.
	Reason string `json:"reason,omitempty"`
}

// Snapshot returns the scheduler's state now.
func (s *Scheduler) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	server := now.Add(s.offset)
	snap := Snapshot{Time: now, Queued: make(map[string]int, NumPriorities)}
	for _, w := range s.windows {
		s.fractionLocked(w, now)
		snap.Windows = append(snap.Windows, WindowState{
			Name: w.cfg.Name, Kind: w.cfg.Kind, Used: w.counter.Used(server), Limit: w.cfg.Limit,
			SafeLimit: w.safe(w.fraction), Interval: w.cfg.Interval,
		})
	}
	sort.Slice(snap.Windows, func(i, j int) bool { return snap.Windows[i].Name < snap.Windows[j].Name })
	for _, b := range s.buckets {
		st := BucketState{Name: b.cfg.Name, SemaphoreState: b.sem.State()}
		if h := b.holds[scopeAll].until; h.After(now) {
			st.HeldUntil = h
		}
		if h := b.holds[scopeOrders].until; h.After(now) {
			st.OrdersHeldUntil = h
			st.HoldReason = b.holds[scopeOrders].reason
		}
		if !st.HeldUntil.IsZero() && !st.HeldUntil.Before(st.OrdersHeldUntil) {
			st.HoldReason = b.holds[scopeAll].reason
		}
		snap.Buckets = append(snap.Buckets, st)
	}
	sort.Slice(snap.Buckets, func(i, j int) bool { return snap.Buckets[i].Name < snap.Buckets[j].Name })
	for _, br := range s.breakers {
		state, until := br.state(now)
		st := BreakerState{Class: br.class.String(), State: state, Until: until,
			OrderLimit: state == "open" && br.scope == scopeOrders}
		if state != "closed" {
			st.Reason = br.reason
		}
		snap.Breakers = append(snap.Breakers, st)
	}
	for k, f := range s.endpoints {
		st := EndpointState{Method: k.method, Endpoint: redactEndpoint(k.path), Malformed: f.run, Reason: f.reason}
		if f.until.After(now) {
			st.HeldUntil = f.until
		}
		snap.Endpoints = append(snap.Endpoints, st)
	}
	sort.Slice(snap.Endpoints, func(i, j int) bool {
		a, b := snap.Endpoints[i], snap.Endpoints[j]
		return a.Endpoint < b.Endpoint || a.Endpoint == b.Endpoint && a.Method < b.Method
	})
	for p := range s.queue {
		snap.Queued[Priority(p).String()] = s.queue[p].n
	}
	snap.RetryBudget = s.retries.state(now)
	return snap
}
