package main

import (
	"errors"
	"io"
	"os"

	"github.com/keelbot/keel/certify"
)

func init() {
	commands["certify"] = command{summary: "put the runtime through the incidents that get bots banned", run: runCertify}
}

// errNotCertified is the failure of a scenario; the table already says which.
var errNotCertified = errors.New("not certified")

// runCertify is `keel certify`: keel links no strategy, so it certifies the runtime's own
// traffic (reconciliation, market data, portfolio) with --config; a bot certifies its
// strategies with its own binary (`mybot certify`, see package certify).
func runCertify(args []string, stderr io.Writer) error {
	return certifyMain(args, os.Stdout, stderr)
}

func certifyMain(args []string, stdout, stderr io.Writer) error {
	switch certify.Command(args, stdout, stderr) {
	case 0:
		return nil
	case 2:
		return usageError{errors.New("see keel certify -h")}
	default:
		return errNotCertified
	}
}
