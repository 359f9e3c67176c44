package rest

// Secret is a credential read from configuration. It prints, formats and marshals as
// "[REDACTED]" so it never reaches a log, an error or a panic message by accident; only
// string(s) reads it, which is easy to find in review.
type Secret string

// Redacted is what a non-empty Secret prints as.
const Redacted = "[REDACTED]"

// String returns "[REDACTED]" for a non-empty secret, "" otherwise.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return `rest.Secret("` + s.String() + `")` }

// MarshalJSON marshals the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText marshals the redacted form (YAML, TOML, text encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
