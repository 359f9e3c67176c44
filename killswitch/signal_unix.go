//go:build unix

package killswitch

import (
	"os"
	"syscall"
)

var defaultSignals = []os.Signal{syscall.SIGUSR1}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}
