// Package scheduler is Keel's priority request scheduler: every REST call of every adapter
// goes through one Scheduler per exchange account. It knows no exchange; adapters describe
// each call as a Request (bucket, priority, costs against limit windows, whether it writes, its
// idempotency key, its time budget, and the function that performs one attempt) and report
// each attempt's Outcome (HTTP status, exchange code and message, Retry-After, the exchange's
// usage counters, request id).
//
// # Using it
//
// Build one Scheduler with New from a Config (loaded with koanf; zero fields mean the
// defaults documented on them) and call Do, from as many goroutines as you like:
//
//	out, err := s.Do(ctx, &scheduler.Request{
//		Endpoint: "/api/v3/order", Method: "POST",
//		Bucket: "orders", Priority: scheduler.PriorityOrders,
//		Costs:  []scheduler.Cost{{Window: "REQUEST_WEIGHT", Amount: 1}, {Window: "ORDERS", Amount: 1}},
//		Write:  true, IdempotencyKey: clientOrderID, // a cancel also sets Cancel: true
//		Attempt: func(ctx context.Context, attempt int) scheduler.Outcome { ... one HTTP call ... },
//	})
//
// Do returns when the request has succeeded or failed for good. It never logs what it returns:
// it writes one log event per attempt (the stable fields of docs/architecture.md), and the caller decides
// what the final error means. ClassOf sorts errors into failure classes; errors.Is(err,
// ErrUnknownOutcome) marks a write that may have landed and must be reconciled by querying,
// never by a blind resend.
//
// # What happens to a request
//
// The gate (the kill switch) is asked before every attempt of every write that is not a
// Cancel, whatever its priority: what a request does decides, not how urgent it claims to be,
// so a new order raised to critical priority still stops at a halt. Cancels pass a closed
// gate; reads are never gated (a halted bot still queries its orders). The per-class breakers
// fail a request fast with *BreakerOpenError while open, except for the requests they must
// not block (below). Otherwise the request joins the queue: strict priority between levels,
// FIFO within a level. It leaves the queue when
//
//   - its bucket has a free slot (caps per bucket, adapted by AIMD: halved on a 429, one more
//     after a run of successes) and is not paused by a Retry-After or a ban that holds it;
//   - every window it costs has room for it within its priority's headroom (market and
//     background may fill 70% of the safe limit, account 85%, orders and critical all of it,
//     when the levels above need the rest; what they do not need is lent, all but a floor for
//     cancels: lending.go), and the window's pacing allows it (a burst, then an even release
//     over the interval, so a window is never spent in its first second). The safe limit is
//     SafetyFraction (0.9) of the announced one, or SafetyFractionConfirmed (0.99) while the
//     exchange's usage reports confirm the window's count (usage.go);
//   - and no eligible request of higher priority waits on the same window.
//
// Windows count the way their exchange does (WindowConfig.Kind): fixed windows aligned to the
// exchange's clock (Binance), sliding ones, or a decaying level that drains continuously
// (Kraken's counters). A window known only at run time (Kraken's trading counter, one per
// pair) is added with AddWindow. A cost that depends on when the call reaches the exchange
// (Kraken charges a cancel by the order's age) is given by Cost.AmountAt and charged what it
// costs when the attempt is admitted.
//
// A request below orders priority that waits longer than its MaxWait is shed with ErrShed;
// any request whose Budget ends fails with ErrBudgetExhausted; one whose ctx ends leaves the
// queue without consuming budget. The scheduler adopts the exchange's own usage count from an
// Outcome whenever it is higher than its own.
//
// A failed attempt is classified (Classify) and handled by the policy table (see policy.go):
// auth and validation failures are final; rate_limit and transient ones are retried up to
// their configured counts, never before the exchange's Retry-After, with full-jitter backoff
// otherwise, always inside the request's budget and within the global retry budget (retries
// at most 10% of first attempts over a sliding minute, or a small floor when that is more). A transient
// failure of a write is an unknown outcome, retried only when the request's RetrySafe proves
// the first try did not land. When a bucket's pause ends, its waiting requests resume spread
// over rand(0, min(1s, 0.1·pause)), not as a herd.
//
// # Holds, and the cancels they must not block
//
// Every hold records what it stops (hold.go). An IP-wide refusal (a 429 on request weight,
// the default reading of a 429) pauses its bucket for everything, cancels included, and a
// ban (418) opens the rate_limit breaker for everything until it ends: sending during a ban
// extends it. A ban without Retry-After lasts BackoffConfig.BanPause (2 minutes, Binance's
// shortest), doubled for each repeat up to BanPauseCap. An order-count refusal
// (Outcome.OrderLimit: Binance -1015) pauses only requests that place orders; a Cancel, which
// does not count against that limit, goes out at once, and so does a read. The rate_limit
// breaker, when order-count refusals alone tripped it, holds only new orders too. The auth
// breaker holds everything of private buckets but cancels: a bot whose key failed must still
// be able to cancel (the kill switch cancels right after an auth trip), so cancels pass it one
// at a time per bucket, and each of their failures is counted, logged and keeps it open, so
// a revoked key is not hammered. Cancels pay their costs like any request.
//
// # Time, randomness, fleets
//
// Time comes from a Clock (WithClock) and jitter from a seeded source (WithRand), so tests
// walk a fake clock and never sleep. Fixed windows are aligned to the exchange's clock
// (SetClockOffset), and allow for the exchange counting a request when it arrives, which may
// be in another window than the one it was granted in: what is in flight at a rollover counts
// in the new window too (InFlight), and, with the offset known only to within
// SetClockUncertainty, a request granted in a window's first moments must fit in what the
// window before has left as well. gobreaker counts each breaker's failures and decides when it trips; since
// gobreaker times its states on the wall clock, the breaker's open and half-open states are
// kept on the scheduler's clock instead (breaker.go).
//
// Window counts (Counter, WithWindowKind) and bucket slots (Semaphore, WithSemaphores) sit
// behind small interfaces with in-process implementations, so that a shared (Redis) store can
// hold them when several instances must stay at the total of one.
package scheduler
