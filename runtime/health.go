package runtime

import (
	"fmt"
	"strings"
	"time"

	"github.com/keelbot/keel/killswitch"
	"github.com/keelbot/keel/scheduler"
)

// holdGrace is how long a hold must still last for /healthz to call the bot held: a 429's
// pause of a second or two is backpressure working, not a state to page anyone about.
const holdGrace = 10 * time.Second

// healthError is /healthz's answer when the bot is not ok: one line per condition, worst
// first, each starting with its state (failed, starting, dead, halted, banned, held).
type healthError struct{ lines []string }

func (e *healthError) Error() string { return strings.Join(e.lines, "\n") }

// health is /healthz: nil when ok; otherwise what is wrong, worst first: start-up failed or
// still reconciling, a strategy dead, trading halted, the exchange banning or holding us
// (with until when).
func (l *Loop) health(sw *killswitch.Switch, snap scheduler.Snapshot) error {
	var lines []string
	l.mu.Lock()
	startErr, ready := l.startErr, l.ready
	l.mu.Unlock()
	switch {
	case startErr != nil:
		lines = append(lines, "failed: "+startErr.Error())
	case !ready:
		lines = append(lines, "starting: reconciling the journal with the exchange")
	}
	for _, st := range l.strategies() {
		if st.State != "dead" {
			continue
		}
		orders := "its orders were cancelled"
		if !st.OrdersPulled {
			orders = fmt.Sprintf("%d of its orders still open", st.OpenOrders)
		}
		lines = append(lines, fmt.Sprintf("dead: strategy %s died during %s at %s (%s): %s",
			st.Name, st.During, st.DiedAt.UTC().Format(time.RFC3339), orders, st.Error))
	}
	if sw != nil {
		if st := sw.State(); st.Halted {
			lines = append(lines, "halted: "+st.Reason.String())
		}
	}
	lines = append(lines, holds(snap)...)
	if len(lines) == 0 {
		return nil
	}
	return &healthError{lines: lines}
}

// holds describes the holds of snap that last past holdGrace: "banned" for an IP ban (418),
// "held" for the rest.
func holds(snap scheduler.Snapshot) []string {
	var out []string
	add := func(until time.Time, what, reason string) {
		if until.Sub(snap.Time) <= holdGrace {
			return
		}
		state := "held"
		if strings.Contains(reason, "http 418") {
			state = "banned"
		}
		out = append(out, fmt.Sprintf("%s until %s: %s: %s", state, until.UTC().Format(time.RFC3339), what, reason))
	}
	for _, b := range snap.Breakers {
		if b.State == "open" {
			add(b.Until, b.Class+" breaker open", b.Reason)
		}
	}
	for _, b := range snap.Buckets {
		add(b.HeldUntil, "bucket "+b.Name+" held", b.HoldReason)
		add(b.OrdersHeldUntil, "bucket "+b.Name+" held for new orders", b.HoldReason)
	}
	for _, e := range snap.Endpoints {
		add(e.HeldUntil, "endpoint "+e.Method+" "+e.Endpoint+" held", e.Reason)
	}
	return out
}
