//go:build !unix

package killswitch

import "os"

var defaultSignals []os.Signal

func signalName(sig os.Signal) string { return sig.String() }
