package runtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keelbot/keel/runtime"
)

// TestSchedulerLendingKeys: the keys of lent headroom and the confirmed safety fraction load
// from the file and the environment into the scheduler's config, and a bad value stops
// start-up naming its key.
func TestSchedulerLendingKeys(t *testing.T) {
	path := writeYAML(t, "scheduler:\n  safety_fraction_confirmed: 0.97\n  headroom:\n    lookback: 30s\n    cancel_floor: 0.02\n")
	c, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: path, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Scheduler
	if s.SafetyFractionConfirmed != 0.97 || s.Headroom.Lookback != 30*time.Second || s.Headroom.CancelFloor != 0.02 {
		t.Fatalf("got safety_fraction_confirmed %v, headroom.lookback %v, headroom.cancel_floor %v", s.SafetyFractionConfirmed, s.Headroom.Lookback, s.Headroom.CancelFloor)
	}
	c, _, err = runtime.LoadConfig(runtime.LoadOptions{Path: path, Environ: []string{"KEEL_SCHEDULER_HEADROOM_LOOKBACK=-1s"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Scheduler.Headroom.Lookback != -time.Second {
		t.Fatalf("headroom.lookback from the environment = %v, want -1s (no lending)", c.Scheduler.Headroom.Lookback)
	}
	for key, yaml := range map[string]string{
		"scheduler.safety_fraction_confirmed": "scheduler:\n  safety_fraction_confirmed: 0.5\n",
		"scheduler.headroom.cancel_floor":     "scheduler:\n  headroom:\n    cancel_floor: 1.5\n",
	} {
		_, _, err := runtime.LoadConfig(runtime.LoadOptions{Path: writeYAML(t, yaml), Environ: []string{}})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: err = %v, want one naming %s", yaml, err, key)
		}
	}
}
