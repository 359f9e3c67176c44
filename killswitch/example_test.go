package killswitch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keelbot/keel/killswitch"
)

// The common use: the order path asks Check, an operator (or SIGUSR1, or the auth breaker)
// trips, deleting the file or Resume lets trading run again.
func ExampleFile() {
	dir, _ := os.MkdirTemp("", "keel-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	sw, err := killswitch.File(filepath.Join(dir, "KILLSWITCH"))
	if err != nil {
		fmt.Println(err)
		return
	}
	sw.OnChange(func(ev killswitch.Event) {
		if ev.Halted {
			fmt.Println("event: halted,", ev.Reason.Why) // the runtime logs it and may cancel orders
		} else {
			fmt.Println("event: running")
		}
	})
	fmt.Println("check:", sw.Check())

	_ = sw.Trip(ctx, killswitch.Reason{Who: "alice", Why: "exchange maintenance"})
	err = sw.Check()
	fmt.Println("halted:", errors.Is(err, killswitch.ErrHalted))

	// A new process on the same file starts halted, with the reason.
	again, _ := killswitch.File(filepath.Join(dir, "KILLSWITCH"))
	halted, reason := again.Halted()
	fmt.Println("restart:", halted, reason.Who, reason.Why)

	_ = sw.Resume(ctx)
	fmt.Println("check:", sw.Check())
	// Output:
	// check: <nil>
	// event: halted, exchange maintenance
	// halted: true
	// restart: true alice exchange maintenance
	// event: running
	// check: <nil>
}

// What `keel status` prints.
func ExampleStatus_String() {
	dir, _ := os.MkdirTemp("", "keel-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "KILLSWITCH")
	_ = os.WriteFile(path, []byte(`{"who":"alice","when":"2025-06-01T09:30:00Z","why":"exchange maintenance","host":"bot1","pid":42}`), 0o644)

	sw, _ := killswitch.File(path)
	fmt.Println(sw.State())
	// Output:
	// halted: exchange maintenance (by alice on bot1, pid 42, at 2025-06-01T09:30:00Z)
}
