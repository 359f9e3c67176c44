// Package adapters is the exchange contract: the Exchange interface every exchange adapter
// implements, and the exchange-neutral types it speaks (orders, balances, tickers, books,
// fills, symbol filters).
//
// Adapters that can read the account's trading fees and standing also implement
// AccountReader; runtimes type-assert it and cache the answers with a TTL.
//
// An adapter knows its exchange — endpoint weights, which limit windows a call consumes, how to
// sign, how to read error codes — and describes every REST call to a scheduler.Scheduler, which
// enforces policy. Strategies never see an adapter directly; the orders manager and the runtime
// do. Every adapter passes the conformance suite in adapters/adaptertest.
//
// Subpackages: binance (Binance Spot), sim (the simulated exchange, a real HTTP server
// speaking Binance's dialect), adaptertest (the conformance suite).
package adapters
