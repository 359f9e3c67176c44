package runtime

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable that overrides a config key:
// exchange.api_secret → KEEL_EXCHANGE_API_SECRET.
const EnvPrefix = "KEEL_"

// ConfigError is a configuration that cannot start the bot. Key names the offending key in
// the dotted form used by the YAML file ("admin.listen"), so the operator knows what to fix.
type ConfigError struct {
	Key    string
	Reason string
}

func (e *ConfigError) Error() string {
	reason := clipReason(e.Reason)
	if e.Key == "" {
		return "config: " + reason
	}
	return fmt.Sprintf("config: %s: %s", clip(e.Key, maxEchoedKey), reason)
}

// Limits on what a config error echoes: a value pasted by mistake (a megabyte of base64, a
// whole certificate) is shown by its start and its size, never whole.
const (
	maxEchoedValue  = 64
	maxEchoedKey    = 128
	maxEchoedReason = 512
)

// quotedValue matches a value a reason quotes: "..." (Go's %q) or '...' (the decoder's).
var quotedValue = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'`)

// clipReason shortens every quoted value in a reason to maxEchoedValue bytes, then the
// reason to maxEchoedReason.
func clipReason(s string) string {
	if len(s) <= maxEchoedValue {
		return s
	}
	s = quotedValue.ReplaceAllStringFunc(s, func(q string) string {
		if len(q) <= maxEchoedValue+2 {
			return q
		}
		return q[:1] + clip(q[1:len(q)-1], maxEchoedValue) + q[len(q)-1:]
	})
	return clip(s, maxEchoedReason)
}

// clip cuts s to at most max bytes (at a character boundary) and says how long it was.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}

// LoadOptions says where configuration comes from. Defaults are the built-in YAML (the
// embedded copy of configs/sim.yaml); Path, if set, is a YAML file loaded on top; Environ
// (os.Environ() when nil) supplies KEEL_* overrides on top of both.
type LoadOptions struct {
	Defaults []byte
	Path     string
	Environ  []string
}

// Where a key's value came from: the built-in defaults, the --config file, or a KEEL_
// environment variable (the last one to set it wins).
const (
	SourceDefault = "default"
	SourceFile    = "file"
	SourceEnv     = "env"
)

// loadKoanf layers defaults, file and environment into one koanf instance, and says which
// layer set each key. An environment
// variable is resolved against the keys already known, so underscores inside key names work
// (KEEL_EXCHANGE_API_SECRET → exchange.api_secret, not exchange.api.secret); a KEEL_ variable
// that matches no key is an error rather than a silently ignored typo.
func loadKoanf(o LoadOptions, structKeys []string) (k, defaults *koanf.Koanf, sources map[string]string, err error) {
	k = koanf.New(".")
	sources = map[string]string{}
	if len(o.Defaults) > 0 {
		if err := k.Load(rawbytes.Provider(o.Defaults), yaml.Parser()); err != nil {
			return nil, nil, nil, &ConfigError{Reason: "built-in defaults: " + err.Error()}
		}
	}
	defaults = k.Copy()
	for _, key := range k.Keys() {
		sources[key] = SourceDefault
	}
	// The defaults' exchange section belongs to the defaults' exchange (the simulator): it
	// applies only if the file and the environment keep that exchange, else a Binance config
	// would inherit the simulator's keys.
	defaultExchange := k.Cut("exchange")
	k.Delete("exchange")
	if o.Path != "" {
		b, err := readConfigFile(o.Path)
		if err != nil {
			return nil, nil, nil, err
		}
		fk := koanf.New(".")
		if err := fk.Load(rawbytes.Provider(b), yaml.Parser()); err != nil {
			return nil, nil, nil, &ConfigError{Reason: fmt.Sprintf("config file %s: %v", o.Path, err)}
		}
		for _, key := range fk.Keys() {
			sources[key] = SourceFile
		}
		if err := k.Merge(fk); err != nil {
			return nil, nil, nil, &ConfigError{Reason: fmt.Sprintf("config file %s: %v", o.Path, err)}
		}
	}
	environ := o.Environ
	if environ == nil {
		environ = os.Environ()
	}
	known := map[string]string{}
	for _, key := range append(structKeys, k.Keys()...) {
		known[envName(key)] = key
	}
	var unknown []string
	provider := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key, ok := known[name]
			if !ok {
				unknown = append(unknown, name)
				return "", nil
			}
			sources[key] = SourceEnv
			return key, value
		},
	})
	if err := k.Load(provider, nil); err != nil {
		return nil, nil, nil, &ConfigError{Reason: "environment: " + err.Error()}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, nil, nil, &ConfigError{Key: unknown[0], Reason: "environment variable matches no config key"}
	}
	if name := k.String("exchange.name"); name == "" || name == defaultExchange.String("name") {
		section := koanf.New(".")
		_ = section.Merge(defaultExchange)
		_ = section.Merge(k.Cut("exchange"))
		k.Delete("exchange")
		if err := k.MergeAt(section, "exchange"); err != nil {
			return nil, nil, nil, &ConfigError{Key: "exchange", Reason: err.Error()}
		}
	}
	for key := range sources { // the defaults' exchange section, when another exchange is named
		if !k.Exists(key) {
			delete(sources, key)
		}
	}
	return k, defaults, sources, nil
}

// MaxConfigSize bounds the config file: a config is a few kilobytes, and a file a thousand
// times that is a mistake (the wrong path, a log) or an attack, not something to parse.
const MaxConfigSize = 1 << 20

// readConfigFile reads the config file, refusing one larger than MaxConfigSize without
// reading more than that (a device or a pipe given as --config included).
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{Reason: fmt.Sprintf("config file %s: %v", path, err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, &ConfigError{Reason: fmt.Sprintf("config file %s: %v", path, err)}
	}
	if len(b) > MaxConfigSize {
		return nil, &ConfigError{Reason: fmt.Sprintf("config file %s: larger than %d KiB; a config is a few KiB (is this the right file?)", path, MaxConfigSize>>10)}
	}
	return b, nil
}

// envName is the environment variable that overrides key.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// decodeStrict unmarshals the koanf subtree at path into out, refusing unknown keys and
// values of the wrong type, and names the offending key (prefixed with path) in the error.
func decodeStrict(k *koanf.Koanf, path string, out any) error {
	var md mapstructure.Metadata
	err := k.UnmarshalWithConf(path, out, koanf.UnmarshalConf{
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				durationHook,
				mapstructure.StringToSliceHookFunc(","),
				numberToTextHook,
				mapstructure.TextUnmarshallerHookFunc(),
			),
			WeaklyTypedInput: true,
			ErrorUnused:      true,
			Metadata:         &md,
		},
	})
	if err == nil {
		return nil
	}
	return namedDecodeError(path, err)
}

// namedDecodeError turns mapstructure's aggregated error into a ConfigError for its first
// problem, with the full dotted key.
func namedDecodeError(path string, err error) error {
	full := func(key string) string {
		key = strings.Trim(key, "'\"")
		switch {
		case path == "":
			return key
		case key == "":
			return path
		}
		return path + "." + key
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	if len(errs) == 0 {
		errs = []error{err}
	}
	var de *mapstructure.DecodeError
	for _, e := range errs {
		if !errors.As(e, &de) {
			continue
		}
		reason := cleanReason(de.Unwrap().Error())
		if keys, ok := strings.CutPrefix(reason, "has invalid keys: "); ok {
			first, _, _ := strings.Cut(keys, ", ")
			return &ConfigError{Key: full(joinKey(de.Name(), first)), Reason: "unknown key (check its spelling and section)"}
		}
		return &ConfigError{Key: full(de.Name()), Reason: reason}
	}
	return &ConfigError{Key: path, Reason: errs[0].Error()}
}

func joinKey(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

func cleanReason(s string) string {
	return strings.TrimSpace(s)
}

// numberToTextHook lets a YAML number fill a field that decodes from text, such as a
// decimal.Decimal quantity: "quantity: 0.001" must not need quotes. The number is formatted
// in its shortest exact form, so 0.1 stays "0.1".
func numberToTextHook(from, to reflect.Type, data any) (any, error) {
	if !reflect.PointerTo(to).Implements(textUnmarshaler) {
		return data, nil
	}
	switch v := data.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32), nil
	case int:
		return strconv.Itoa(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	}
	return data, nil
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

var durationType = reflect.TypeFor[time.Duration]()

// durationHook decodes every time.Duration, in Keel's sections, the exchange adapter's and
// the strategies', from text with a unit. Weakly typed decoding would read a bare number as
// nanoseconds: `market.tick: 1` spun the loop, `shutdown.timeout: 5` cut shutdown short with
// orders live. A bare 0 is still 0 whatever the unit.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	var bare string
	switch v := data.(type) {
	case string:
		s := strings.TrimSpace(v)
		if d, err := time.ParseDuration(s); err == nil {
			return d, nil
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("want a duration with a unit (5s, 250ms, 2m), got %q", v)
		}
		bare = s
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		bare = fmt.Sprint(v)
		if f, err := strconv.ParseFloat(bare, 64); err == nil && f == 0 {
			return time.Duration(0), nil
		}
	default:
		return data, nil
	}
	return nil, fmt.Errorf("durations need a unit: %ss or %sms, not a bare %s (it would be read as nanoseconds)", bare, bare, bare)
}
