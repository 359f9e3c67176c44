package idempotency_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keelbot/keel/idempotency"
)

// The order path's use of the journal: reserve a key before anything is sent, mark it sent
// (durably) right before the request leaves, record the outcome. After a crash, List finds
// what reconciliation must look at.
func ExampleOpenFile() {
	dir, _ := os.MkdirTemp("", "keel-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	journal, err := idempotency.OpenFile(filepath.Join(dir, "journal.db"))
	if err != nil {
		fmt.Println(err) // a corrupt or locked journal: stop start-up, never start empty
		return
	}
	key := "kl-mm1-0UmrNXbk000lhTBw7y" // from KeyGenerator.Next
	_ = journal.Reserve(ctx, idempotency.Entry{Key: key, Intent: idempotency.IntentRecord{
		Symbol: "BTCUSDT", Side: "BUY", Type: "LIMIT", Quantity: "0.001", Price: "60000.01",
	}})
	_, _ = journal.Update(ctx, key, func(e *idempotency.Entry) error {
		e.State = idempotency.StateSent
		return nil
	})
	// ... the request times out: the outcome is unknown.
	_, _ = journal.Update(ctx, key, func(e *idempotency.Entry) error {
		e.State, e.Note = idempotency.StateUnknown, "timeout"
		return nil
	})
	_ = journal.Close()

	// The next start: the journal remembers the intent whose outcome is unproven.
	journal, _ = idempotency.OpenFile(filepath.Join(dir, "journal.db"))
	defer journal.Close()
	open, _ := journal.List(ctx, idempotency.StateReserved, idempotency.StateSent, idempotency.StateUnknown)
	for _, e := range open {
		fmt.Println(e.Key, e.State, e.Note)
	}
	// A second reserve of the same key is refused: one intent, one order.
	err = journal.Reserve(ctx, idempotency.Entry{Key: key})
	fmt.Println(err)
	// Output:
	// kl-mm1-0UmrNXbk000lhTBw7y unknown timeout
	// idempotency: key already reserved
}
