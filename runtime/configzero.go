package runtime

import (
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/knadh/koanf/v2"

	"github.com/keelbot/keel/adapters"
)

// zeroHints add to the refusal of a 0 where another value says "none".
var zeroHints = map[string]string{
	"orders.max_resends": ", or -1 for no resends",
}

// refuseDefaultingZeros refuses a 0 written for a numeric or duration key outside the
// scheduler section (refuseSchedulerZeros) and the strategies' own sections. Throughout
// Keel's config a zero means "the default": `orders.max_resends: 0` would quietly give one
// resend, `fleet.size: 0` a fleet of one, `exchange.recv_window: 0` Binance's 5000 ms. An
// adapter names the keys of its section for which 0 is a value of its own
// (adapters.ZeroValued: the simulator's seed).
func (c *Config) refuseDefaultingZeros(k *koanf.Koanf) error {
	types := map[string]reflect.Type{}
	keyTypes(reflect.TypeFor[Config](), "", types)
	var allowed []string
	if c.Exchange.Adapter != nil {
		keyTypes(reflect.TypeOf(c.Exchange.Adapter), "exchange.", types)
		if z, ok := c.Exchange.Adapter.(adapters.ZeroValued); ok {
			for _, key := range z.ZeroIsValue() {
				allowed = append(allowed, "exchange."+key)
			}
		}
	}
	keys := k.Keys()
	sort.Strings(keys) // the first of several is named, the same one every run
	for _, key := range keys {
		t, ok := types[key]
		if !ok || !isNumber(t) || slices.Contains(allowed, key) ||
			strings.HasPrefix(key, "scheduler.") || strings.HasPrefix(key, "strategies.") {
			continue
		}
		if isZero(k.Get(key)) {
			return &ConfigError{Key: key, Reason: "0 is not a value here (a zero would silently mean the default): leave the key out for the default" + zeroHints[key]}
		}
	}
	return nil
}

// isNumber reports whether a config field holds a number or a duration.
func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
