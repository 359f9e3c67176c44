package stream

import "sync"

// Freshness remembers whether each symbol's market data is fresh, so that a handler hears of a
// change once: not of a repeat (every reconnect marks every symbol stale again), and not of a
// symbol going stale before it was ever fresh unless a reason says why. The zero value is
// ready; it is safe for concurrent use.
type Freshness struct {
	mu    sync.Mutex
	fresh map[string]bool
}

// Set records symbol's state and calls notify (when not nil) if that is news.
func (f *Freshness) Set(symbol string, fresh bool, reason string, notify func(symbol string, fresh bool, reason string)) {
	f.mu.Lock()
	if f.fresh == nil {
		f.fresh = map[string]bool{}
	}
	was, known := f.fresh[symbol]
	f.fresh[symbol] = fresh
	f.mu.Unlock()
	if (known && was == fresh) || (!known && !fresh && reason == "") || notify == nil {
		return
	}
	notify(symbol, fresh, reason)
}
