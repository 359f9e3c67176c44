package adapters

import (
	"reflect"

	"github.com/keelbot/keel/adapters/rest"
)

// SecretHolder is implemented by a Config that holds credentials other than in rest.Secret
// fields (the simulator's built-in account, a key read from a file): Secrets returns their
// values, so the runtime can mask them wherever they might be echoed.
type SecretHolder interface {
	Secrets() []string
}

// Secrets returns the credential values of an adapter's config: every non-empty rest.Secret
// field, however deeply nested (structs, pointers, slices, maps), plus what its Secrets
// method returns when it is a SecretHolder. The runtime registers them for redaction by
// value, so an adapter gets it by typing its credentials rest.Secret, with no code of its own.
func Secrets(c Config) []string {
	if c == nil {
		return nil
	}
	var out []string
	collectSecrets(reflect.ValueOf(c), &out, 0)
	if h, ok := c.(SecretHolder); ok {
		out = append(out, h.Secrets()...)
	}
	return out
}

var secretType = reflect.TypeFor[rest.Secret]()

func collectSecrets(v reflect.Value, out *[]string, depth int) {
	if depth > 8 || !v.IsValid() { // configs are shallow; a cycle must not recurse forever
		return
	}
	if v.Type() == secretType {
		if s := v.String(); s != "" {
			*out = append(*out, s)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSecrets(v.Elem(), out, depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			collectSecrets(v.Field(i), out, depth+1) // unexported fields too: a secret is a secret
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			collectSecrets(v.Index(i), out, depth+1)
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			collectSecrets(it.Value(), out, depth+1)
		}
	}
}
