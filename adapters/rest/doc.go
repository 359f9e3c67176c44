// Package rest is the exchange-neutral request mechanics every REST adapter shares: one
// attempt of an HTTP call described to the scheduler, its answer read into a
// scheduler.Outcome, and the small pieces around it that every exchange needs the same way.
//
// An adapter owns what is particular to its exchange — paths, weights and windows, signing,
// error codes — and hands the rest to a Client:
//
//	c, _ := rest.New(rest.Config{Name: "bybit", BaseURL: base, Classify: classify}, sched)
//	out, err := c.Do(ctx, rest.Call{
//		Endpoint: "/v5/order/create", Method: http.MethodPost,
//		Bucket: "orders", Priority: scheduler.PriorityOrders, Costs: costs,
//		Write: true, IdempotencyKey: id,
//		Build: func(ctx context.Context, a rest.Attempt) (*http.Request, error) { ...sign... },
//		Parse: func(body []byte) error { ... },
//	})
//
// What the Client does for every adapter:
//   - builds a scheduler.Request whose every attempt is built afresh (Call.Build: a new
//     timestamp, nonce or token per attempt) and bounded by Config.Timeout;
//   - tells apart an attempt that never left (transient: safe to retry) from a write whose
//     request was written and whose answer was lost (scheduler.ClassUnknown: it may have
//     landed, reconcile before resending);
//   - sees a write through to its answer once the transport has a connection for it: the
//     caller's context (a strategy stopping, a shutdown) stops a write only before then, since
//     a later cut cannot stop bytes already on their way and would only make the outcome
//     unknown;
//   - never follows a redirect: a signed request's credentials stay with the exchange's host,
//     and a 3xx is an answer like any other (transient, unknown for a write);
//   - reads at most Config.MaxBody bytes of an answer, or the call's own Call.MaxBody (size it
//     to what the endpoint returns);
//   - reads Retry-After in seconds or as an HTTP date (RetryAfter), bounded;
//   - hands status, headers and body to the adapter's Classify (so an exchange that reports
//     failures inside HTTP 200 bodies is classified by body), then parses a success with
//     Call.Parse; an answer that cannot be parsed is malformed (ErrMalformedAnswer): a retry
//     for a read, an unknown outcome for a write;
//   - keeps the request's URL, which may carry a signature, out of every error.
//
// TimeKeeper holds the offset between the exchange's clock and the local one and refuses to
// sign when the host clock is further off than the exchange accepts. Secret keeps
// credentials out of logs and errors. Params encodes parameters in a fixed order with RFC 3986
// percent-encoding, the bytes most exchanges sign.
package rest
