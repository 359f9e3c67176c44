package runtime

import (
	"errors"
	"fmt"
	"os"

	"go.uber.org/fx"
)

// Main runs the bot with the given modules (strategies, overrides) until SIGINT or SIGTERM and
// exits the process: 0 after a clean shutdown, 1 if start-up or shutdown failed.
func Main(opts ...fx.Option) {
	if err := Run(opts...); err != nil {
		fmt.Fprintln(os.Stderr, "keel:", err)
		os.Exit(1)
	}
}

// Run builds the app from the command line's flags and runs it until a signal.
func Run(opts ...fx.Option) error {
	return errors.New("runtime: composition root not wired yet")
}
