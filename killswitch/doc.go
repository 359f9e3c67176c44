// Package killswitch halts trading without a redeploy. One file is the truth: trading is halted
// while it exists, and its content is the JSON reason (who, when, why). SIGUSR1, automatic
// trips (the scheduler's auth breaker) and `keel halt` create it; deleting it, or `keel resume`,
// resumes. A process that starts while the file exists starts halted, and a file that cannot
// be read still halts: the switch fails closed.
//
// Halted means no new order or amendment leaves the process; cancels still do. The switch
// does not import the scheduler: the runtime adapts Check to the scheduler's gate in two lines,
// and subscribes to changes to log them and, with cancel_on_trip, cancel open orders:
//
//	sw, err := killswitch.New(cfg.Killswitch, killswitch.WithLogger(log))
//	...
//	sw.OnChange(func(ev killswitch.Event) {
//		if ev.Halted {
//			log.Warn().Str("reason", ev.Reason.String()).Msg("trading halted")
//			if cfg.Killswitch.CancelOnTrip {
//				go orders.CancelAll(context.Background())
//			}
//		}
//	})
//	go sw.Run(ctx)                    // notices the file changing within poll_interval (250 ms)
//	stop := sw.TripOnSignal(ctx)      // SIGUSR1 trips
//	defer stop()
//	// in the scheduler's auth-failure hook:
//	_ = sw.TripAuto(ctx, "auth failure: "+why)
//
// The state lives in a Backend; FileBackend is the default, and a fleet-wide backend (Redis)
// plugs in through NewWithBackend.
package killswitch
