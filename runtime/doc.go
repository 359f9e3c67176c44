// Package runtime is Keel's composition root: it owns the process. It loads the
// configuration, builds the logger, the kill switch, the scheduler, the exchange adapter (with
// the embedded simulator when configured), the journal and the orders manager as fx modules,
// runs the main loop that feeds strategies, serves the admin endpoints, and shuts everything
// down in order on SIGINT/SIGTERM.
//
// Most programs are one line:
//
//	func main() { runtime.Main(strategy.Module("mine", New)) }
//
// Main parses --config, runs until a signal and exits 0 after a clean shutdown. Run is the
// same without the exit; New builds the fx app for tests and custom lifecycles (tests use
// WithLoadOptions and WithLogOutput to point it at temporary files and a buffer).
//
// Start-up, in order: configuration (defaults, then the --config YAML, then KEEL_* variables;
// any bad key stops here with its name), the kill switch (a process that starts while its file
// exists starts halted), the scheduler (gated by the kill switch, which an auth failure trips),
// the adapter, the journal (a corrupt journal stops here), then, in the background:
// exchange info, reconciliation of the journal against the exchange, a first balance refresh,
// and only then the strategies, each on its own goroutine. If reconciliation fails the process
// exits 1 rather than trade on a journal it could not resolve.
//
// Shutdown, in order: the admin server stops, strategies stop (Stop is called), open orders
// are cancelled at critical priority when shutdown.cancel_open_orders is set, the journal is
// closed, then the embedded simulator, the scheduler and the kill switch's watcher stop. When
// the cancels fail (or the open orders cannot be listed, as through the auth breaker after a
// refused key), the journal decides the exit code: 0 when it proves nothing of this bot open,
// 1 naming the client order ids that may be live.
package runtime
