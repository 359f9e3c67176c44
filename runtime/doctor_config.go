package runtime

import (
	"context"
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ConfigValue is one value a run would use and where it came from.
type ConfigValue struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"` // SourceDefault, SourceFile or SourceEnv
}

// configValues lists every value of c, the exchange adapter's section and the strategies'
// included, sorted by key, secrets as [REDACTED].
func configValues(c *Config) []ConfigValue {
	var out []ConfigValue
	emit := func(key string, v any) {
		out = append(out, ConfigValue{Key: key, Value: displayValue(key, v), Source: c.Source(key)})
	}
	shown := *c
	shown.Scheduler = c.Scheduler.Effective() // the values the scheduler runs with, zeros resolved
	walkConfig(reflect.ValueOf(shown), "", emit)
	if c.Exchange.Adapter != nil {
		walkConfig(reflect.ValueOf(c.Exchange.Adapter), "exchange.", emit)
	}
	if c.raw != nil {
		for _, key := range c.raw.Keys() {
			if strings.HasPrefix(key, "strategies.") {
				emit(key, c.raw.Get(key))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// walkConfig calls emit for each leaf of a koanf-tagged struct.
func walkConfig(v reflect.Value, prefix string, emit func(string, any)) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if !f.IsExported() {
			continue
		}
		if opts == "squash" {
			walkConfig(v.Field(i), prefix, emit)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		key, fv := prefix+name, v.Field(i)
		switch {
		case fv.Kind() == reflect.Map:
			continue // strategies: listed from the raw config
		case fv.Kind() == reflect.Struct && !isLeaf(fv):
			walkConfig(fv, key+".", emit)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				walkConfig(fv.Index(j), fmt.Sprintf("%s[%d].", key, j), emit)
			}
		default:
			emit(key, fv.Interface())
		}
	}
}

func isLeaf(v reflect.Value) bool {
	if v.Type() == reflect.TypeFor[time.Time]() {
		return true
	}
	return reflect.PointerTo(v.Type()).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// displayValue prints a value for the listing: a secret type prints itself redacted; a
// string under a secret-sounding key is redacted here; a store URL loses its password.
func displayValue(key string, v any) string {
	s := fmt.Sprint(v)
	last := key[strings.LastIndexByte(key, '.')+1:]
	switch {
	case key == "store.url":
		return redactURL(s)
	case s == "" || s == "[REDACTED]":
		return s
	case strings.Contains(last, "secret") || strings.Contains(last, "password") || last == "api_key" || last == "private_key" || strings.HasSuffix(last, "_private_key") || strings.HasSuffix(last, "_token"):
		return "[REDACTED]"
	}
	return s
}

// checkFleetKey pings the fleet's Redis: in fleet mode a halt anywhere travels through it.
func checkFleetKey(ctx context.Context, c *Config, timeout time.Duration) Check {
	opt, err := redis.ParseURL(c.Store.URL)
	if err != nil {
		return Check{Name: "kill switch: fleet key", Status: CheckFail, Evidence: "store.url is not a Redis URL"}
	}
	opt.DialTimeout, opt.MaxRetries = timeout, 0
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := c.Store.Prefix + "killswitch"
	n, err := rdb.Exists(ctx, key).Result()
	switch {
	case err != nil:
		return Check{Name: "kill switch: fleet key", Status: CheckFail, Evidence: fmt.Sprintf("Redis at %s: %v", redactURL(c.Store.URL), err),
			Action: "start Redis or fix store.url: without it a halt does not reach the other instances, and new orders are refused"}
	case n > 0:
		return Check{Name: "kill switch: fleet key", Status: CheckFail, Evidence: fmt.Sprintf("%s is set in %s: the fleet is halted", key, redactURL(c.Store.URL)),
			Action: "find out why, then `keel resume --config ...`"}
	}
	return Check{Name: "kill switch: fleet key", Status: CheckOK, Evidence: fmt.Sprintf("%s reachable in %s, not halted", key, redactURL(c.Store.URL))}
}
