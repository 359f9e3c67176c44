package runtime

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/keelbot/keel/scheduler"
)

// longHold is how long a bucket may be paused before the pause is an operator's matter: a
// 429's ordinary pause ends within a window (seconds to a minute); anything longer means a
// ban, an absurd Retry-After, or a limit the bot keeps hitting, and is logged at error.
const longHold = time.Minute

// logHold writes one event per bucket pause the scheduler starts or extends: at error when it
// lasts longer than a minute or the exchange asked for more than the scheduler honours, at
// info otherwise (the attempt's own event already says 429 at warn).
func logHold(log zerolog.Logger, ev scheduler.HoldEvent) {
	e := log.Info()
	if ev.Duration() > longHold || ev.Asked > 0 {
		e = log.Error()
	}
	e = e.Str("bucket", ev.Bucket).Time("until", ev.Until).Dur("hold_ms", ev.Duration()).
		Bool("orders_only", ev.OrdersOnly).Bool("ban", ev.Ban).Str("reason", ev.Reason)
	msg := "requests held after a rate-limit refusal"
	if ev.Asked > 0 {
		key := "scheduler.backoff.max_retry_after"
		if ev.Ban {
			key = "scheduler.backoff.max_ban"
		}
		e = e.Dur("asked_ms", ev.Asked).Str("capped_by", key)
		msg = "requests held after a rate-limit refusal; the exchange asked for longer than " + key + " allows: capped"
	}
	e.Msg(msg)
}
