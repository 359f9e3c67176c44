package strategy

import (
	"github.com/rs/zerolog"
)

// ConfigSection decodes a strategy's own config section (strategies.<name>) into a struct,
// refusing unknown keys and wrong types with an error that names the key.
type ConfigSection interface {
	Decode(into any) error
}

// Env is everything a strategy gets from the runtime.
type Env struct {
	// Name is the strategy's name as given to Module.
	Name string
	// Log is the strategy's logger (every event carries strategy=<name>).
	Log zerolog.Logger
	// Config is the strategy's own config section.
	Config ConfigSection
}
