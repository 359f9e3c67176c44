// Package orders places and cancels orders so that none is ever placed twice, follows their
// state, and settles what the exchange left unknown.
//
// Most callers want New, then Reconcile once before any strategy runs, then Place and Cancel:
//
//	m, err := orders.New(orders.Params{Exchange: ex, Store: journal, Keys: keys, Log: log})
//	unsubscribe := m.Subscribe(func(e orders.Event) { mailbox.Put(e) }) // before Reconcile
//	sum, err := m.Reconcile(ctx)                                         // before strategies
//	o, err := m.Place(ctx, orders.Intent{Symbol: "BTCUSDT", Side: adapters.Buy,
//		Type: adapters.Limit, Quantity: qty, Price: px, Strategy: "mm"})
//
// # The order path
//
// Place validates and rounds the intent against the symbol's filters (Prepare: price to the
// tick, quantity down to the step, LOT_SIZE, PRICE_FILTER and NOTIONAL), so nothing invalid is
// ever sent. It takes a fresh idempotency key, which is also the exchange's client order id,
// reserves it in the journal, marks the entry sent (both durable) and only then submits the
// request, at orders priority. Every retry of the intent reuses the key. The entry marked sent
// carries the deadline by which the request's last try is signed (Config.SendTimeout, which
// Place enforces), because the request may wait in the scheduler's queue long after that
// write, and only the deadline tells a restart how long it may still land.
//
// An answer that leaves the outcome unknown (a timeout, a 5xx, -1007, a connection reset after
// the request was written) is never retried blind. The scheduler asks the manager before any
// retry, and the manager queries the order by its key: found is the acknowledgement; "not
// found" proves absence only once the exchange can no longer accept the request (its
// timestamp plus recvWindow, Config.RecvWindow + Config.ClockSkew after the last try left,
// which the manager waits out on its clock before it asks again), and only then is the intent
// resent with the same key; undecidable leaves the order UNKNOWN. An UNKNOWN order is
// reported (a warning in the log, Metrics.UnknownOutcome and an Event), and Place returns an
// *UnknownOutcomeError. From then on only Refresh and Reconcile touch it: they
// query it again, adopt it when found, and resolve it as never placed (REJECTED with
// ErrNotPlaced) once the exchange still does not know it Config.SettleTime after its last
// try could have been signed, when a request still on its way can no longer be accepted.
//
// They never resend it. That is a ruling, not a gap: an intent proven absent after the fact
// is settled as not placed, and the strategy that owns it sees the REJECTED event (errors.Is
// ErrNotPlaced) and decides whether it still wants the order. By then the market and the
// strategy's own state have moved on, and it may have placed a replacement; only Place,
// within the one call that the strategy is waiting on, resends with the same key.
//
// # State and events
//
// Each order moves through NEW, PARTIALLY_FILLED and a final status (FILLED, CANCELED,
// EXPIRED, REJECTED), or UNKNOWN first; CanTransition is the table. Reports come from Place,
// Cancel, Refresh's polling and Apply (the user-data stream), in any order: a report that would
// move an order backwards is stale and dropped. Each accepted move is an Event carrying the
// order, the previous status, the quantity it filled and the owning strategy's name.
//
// # Reconciliation
//
// Reconcile, at start-up, settles every journal entry left reserved, sent or unknown by a
// crash: found on the exchange means adopted, absent means resolved as never placed (REJECTED
// with ErrNotPlaced; the strategy decides again, a stale intent is never resent). Absent is
// proven only once the entry's journalled send deadline plus Config.SettleTime has passed, so
// a restart right after a crash may wait up to Config.SendTimeout + Config.SettleTime. It
// adopts open orders whose client id carries this bot's prefix, applies fills and cancels that
// happened while the bot was down (with the trades since each symbol's journalled trade
// cursor), and compacts old entries.
//
// On an exchange whose adapter declares lasting client order ids (adapters.LastingClientIDs:
// a repeated create is answered with the original order), a sent or unknown entry whose send
// deadline has not passed is settled by resending its identical create rather than by a
// lookup: still the retry the strategy expects, and one that cannot duplicate. Past the
// deadline the intent is stale and is only looked up.
// A process killed at any instant and restarted therefore never leaves two orders for one
// intent; TestPlaceSurvivesCrashes checks exactly that against the simulator.
package orders
