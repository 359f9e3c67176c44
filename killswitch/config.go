package killswitch

import (
	"fmt"
	"strings"
	"time"
)

const (
	// DefaultFile is the kill-switch file when Config.File is empty.
	DefaultFile = "./KILLSWITCH"
	// DefaultPollInterval is how often Run reads the backend when Config.PollInterval is zero.
	DefaultPollInterval = 250 * time.Millisecond
	// MaxPollInterval keeps a halt within docs/architecture.md's one second.
	MaxPollInterval = time.Second
	// MinPollInterval keeps the watcher from spinning on the disk.
	MinPollInterval = 10 * time.Millisecond
)

// Config is the kill switch's configuration section ("killswitch" in the YAML). Zero values
// mean defaults, applied by WithDefaults.
type Config struct {
	// File is the kill-switch file (default DefaultFile). Trading is halted while it exists.
	File string `koanf:"file"`
	// CancelOnTrip asks the runtime to cancel all open orders, at critical priority, when the
	// switch trips. The switch itself only reports the trip (OnChange); the runtime cancels.
	CancelOnTrip bool `koanf:"cancel_on_trip"`
	// PollInterval is how often the file is read (default DefaultPollInterval; at most
	// MaxPollInterval).
	PollInterval time.Duration `koanf:"poll_interval"`
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.File == "" {
		c.File = DefaultFile
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	return c
}

// Validate reports the first bad setting, naming its key. Zero values are valid (defaults).
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case strings.TrimSpace(c.File) != c.File:
		return fmt.Errorf("killswitch: killswitch.file %q: leading or trailing space", c.File)
	case strings.HasSuffix(c.File, "/"):
		return fmt.Errorf("killswitch: killswitch.file %q: names a directory, want a file", c.File)
	case strings.ContainsRune(c.File, 0):
		return fmt.Errorf("killswitch: killswitch.file: contains a NUL byte")
	case c.PollInterval < MinPollInterval || c.PollInterval > MaxPollInterval:
		return fmt.Errorf("killswitch: killswitch.poll_interval %v: want between %v and %v (a halt must take effect within a second)",
			c.PollInterval, MinPollInterval, MaxPollInterval)
	}
	return nil
}
