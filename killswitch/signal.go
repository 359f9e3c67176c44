package killswitch

import (
	"context"
	"os"
	"os/signal"
)

// TripOnSignal trips the switch whenever the process receives one of sigs (default SIGUSR1,
// on systems that have it), until ctx ends or stop is called. The signals are registered
// before TripOnSignal returns, so a signal sent after that trips the switch rather than
// killing the process (SIGUSR1's default action). stop unregisters them and waits for the
// goroutine TripOnSignal started; it is safe to call more than once. A trip the backend could
// not record is logged (the process halts all the same; see Trip).
func (s *Switch) TripOnSignal(ctx context.Context, sigs ...os.Signal) (stop func()) {
	if len(sigs) == 0 {
		sigs = defaultSignals
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	if len(sigs) == 0 { // no default on this system: nothing to watch
		close(done)
		return cancel
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	go func() {
		defer close(done)
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-ch:
				if err := s.Trip(ctx, Reason{Who: "signal", Why: "received " + signalName(sig)}); err != nil {
					s.log.Error().Err(err).Str("signal", signalName(sig)).Msg("killswitch: signal trip not recorded")
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
