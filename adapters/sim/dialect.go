package sim

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

// DialectBinance is the default dialect: Binance Spot's REST API and WebSockets.
const DialectBinance = "binance"

// A dialect is one exchange's API served over the simulator's engine (markets, accounts,
// orders, fills, faults, stats): its paths, signing, limit model and answers. Binance's is
// built into Server.ServeHTTP; every other dialect is a set of files of this package named
// for it (bybit.go, kraken.go, ...) that registers itself from init, so adding one touches
// no other file. The /sim/ admin API is the same for every dialect.
type dialect struct {
	name string
	// serve answers every request that is not for /sim/.
	serve func(s *Server, w http.ResponseWriter, r *http.Request)
	// state is the dialect's own per-server state (its limit counters, nonces, ...), built
	// once by New; a dialect's handlers find it in Server.dialectState.
	state func(s *Server) any
	// orderEvent, when set, tells the dialect's user streams that order o changed (execType
	// NEW, TRADE, CANCELED or EXPIRED; t the trade of a TRADE) in place of Binance's
	// executionReport. Called with s.mu held.
	orderEvent func(s *Server, o *order, execType string, t *trade, now time.Time)
}

var dialects = map[string]dialect{DialectBinance: {name: DialectBinance}}

// registerDialect adds a dialect; called from init by the dialect's file.
func registerDialect(d dialect) {
	if _, dup := dialects[d.name]; dup {
		panic("sim: dialect " + d.name + " registered twice")
	}
	dialects[d.name] = d
}

// Dialects lists the dialects this simulator serves, sorted.
func Dialects() []string {
	out := make([]string, 0, len(dialects))
	for n := range dialects {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ValidateDialect checks a dialect name ("" is the default, binance).
func ValidateDialect(name string) error {
	if name == "" {
		return nil
	}
	if _, ok := dialects[name]; !ok {
		return fmt.Errorf("sim: unknown dialect %q (want one of %v)", name, Dialects())
	}
	return nil
}
