package runtime

import (
	"os"
	"runtime/debug"
)

// gcPercent is the garbage collector's target Run sets when the environment sets none (GOGC
// unset): the heap may grow to 5 times what is live before a collection, where Go's default
// is 2 times (with a 4 MiB floor).
//
// A bot's live heap is small and its market stream allocates steadily (every book update is
// decoded, its levels parsed into decimals: about two allocations per decimal, shopspring's
// floor, the rest of the path having been made lean), so at the default the collector runs
// many times a second. Under CPU contention (a busy host: load 3 on 2 cores) each cycle lasts
// long and its mark assists slow the goroutines that allocate, the stream reader among them:
// book updates then queue in the socket behind it (BenchmarkQuotesUnderLoad: stream-gogc100
// beside stream). Five times a small live heap is little memory; GOGC (and GOMEMLIMIT) in
// the environment still decide.
const gcPercent = 400

// tuneGC sets gcPercent unless GOGC is set, and returns what restores the previous setting.
func tuneGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(gcPercent)
	return func() { debug.SetGCPercent(prev) }
}
