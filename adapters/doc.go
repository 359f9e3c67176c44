// Package adapters is the exchange contract: the Exchange interface every exchange adapter
// implements, the exchange-neutral types it speaks (orders, balances, tickers, books, fills,
// symbol filters, stream events), and the registry a runtime builds its exchange from.
//
// Subpackages: rest (the REST mechanics every adapter shares), stream (WebSocket
// connections with reconnect backoff and a connection-attempt limiter), binance, bybit,
// kraken and coinbase (the exchanges), sim (the simulated exchange, with a dialect per exchange),
// adaptertest (the conformance suite), exchanges (links every exchange into a binary).
//
// # Writing an adapter
//
// An adapter knows its exchange — endpoint costs, which limit windows a call consumes, how to
// sign, how to read its errors — and describes every REST call to a scheduler, which enforces
// policy. Adding an exchange touches no file outside its own package, its simulator dialect
// (files named for it in adapters/sim) and a config template (configs/<name>.yaml); the one
// line in adapters/exchanges that links it is optional.
//
// 1. Register. From init, call Register with a Definition: the name `exchange.name` will
// say, NewConfig returning your Config with every default applied, New building your
// adapter, and Streams. Your Config is a struct with koanf tags (base_url, api_key,
// api_secret, timeout, and your exchange's own keys); the runtime decodes the `exchange:`
// section into it strictly (unknown keys refused), then calls Validate, which names the bad
// key ("recv_window: ..."). Credentials are rest.Secret, which never prints. Implement
// SchedulerWindows and SchedulerBuckets with the exchange's documented limits (one window
// per limit the exchange counts: Binance's request weight is a fixed window per minute,
// Bybit's per-endpoint limits are sliding one-second windows, Kraken's counters are decaying
// windows) and AcceptanceWindow (how late a signed request is still accepted; 0 if never
// refused for age). Implement SimTarget so `exchange.name: sim` can point you at the
// simulator.
//
// 2. Describe each call. Build your calls on rest.Client: a rest.Call names the endpoint
// and method (for logs), the bucket (concurrency cap: private "orders"/"account", public
// "market"), the priority (scheduler.PriorityCritical for cancels, PriorityOrders for
// placements, PriorityAccount for signed reads, PriorityMarket, PriorityBackground), the
// costs per window (scheduler.Cost; a cost that depends on when the request goes out, such
// as Kraken's cancel by the order's age, uses Cost.AmountAt), Write for anything that
// changes state and Cancel for writes that only take exposure away (they pass a halt), the
// idempotency key for placements, and Build, which signs each attempt afresh (a new
// timestamp or nonce per attempt). Keep the endpoint table in one place with the docs'
// numbers beside it.
//
// 3. Classify outcomes. rest.Config.Classify reads every answer — status, headers, body —
// into the outcome's class: scheduler.ClassAuth (bad key or signature, timestamp outside the
// window: no retry, the kill switch trips), ClassRateLimit (with RetryAfter and Ban when
// the exchange says how long; a ban holds everything), ClassTransient (5xx, overload: reads
// are retried), ClassUnknown for a write whose effect the answer leaves unknown (it is never
// resent before reconciliation proves it absent), ClassValidation (the request itself is
// wrong). Read the exchange's own usage reports into Outcome.Usage so the scheduler adopts
// them. Classify by body where the exchange reports failures inside HTTP 200 answers. Keep
// every documented error code in one tested table. Return ErrOrderNotFound when the
// exchange does not know an order: for a query by client order id after an unknown outcome
// it is the proof that a resend is safe, so be sure of it (an exchange whose client ids are
// unique only among open orders must look in closed orders too).
//
// 4. Streams. Implement Streamer (market books and trades, the account's order updates) on
// adapters/stream's Conn and OrderBook, or embed NoStreams and declare Streams false: the
// runtime then polls REST.
//
// 5. Prove it. Your tests run adaptertest.Run against your simulator dialect with every hook
// it can offer (faults included), the exchange's documented signature example, fuzz tests
// of every parser, a secrets test, and an abuse test: a naive client is banned by the
// simulator's rules, your adapter through the scheduler is not.
package adapters
