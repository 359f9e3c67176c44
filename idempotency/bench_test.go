package idempotency_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/keelbot/keel/idempotency"
)

// BenchmarkLifecycle measures one order's journal cost: Reserve, Update(sent), Update(acked).
// memory is the baseline; bolt is the default file store, whose every write is an fsynced
// bbolt commit, so it measures the disk under the journal (KEEL_BENCH_DIR picks where; the
// default is the test's temp dir, which may be a tmpfs that makes fsync free).
func BenchmarkLifecycle(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchLifecycle(b, idempotency.NewMemoryStore()) })
	b.Run("bolt", func(b *testing.B) {
		dir := b.TempDir()
		if d := os.Getenv("KEEL_BENCH_DIR"); d != "" {
			var err error
			if dir, err = os.MkdirTemp(d, "keel-bench-"); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(dir) })
		}
		s, err := idempotency.OpenFile(filepath.Join(dir, "journal.db"))
		if err != nil {
			b.Fatal(err)
		}
		benchLifecycle(b, s)
	})
}

func benchLifecycle(b *testing.B, s idempotency.Store) {
	defer s.Close()
	g := newGen(b, "kl", "bench")
	in := idempotency.IntentRecord{Symbol: "BTCUSDT", Side: "BUY", Type: "LIMIT", TimeInForce: "GTC", Quantity: "0.001", Price: "60000.01", Strategy: "mm"}
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = g.Next()
	}
	sent := func(e *idempotency.Entry) error { e.State = idempotency.StateSent; e.Attempts++; return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := keys[i]
		if err := s.Reserve(ctx, idempotency.Entry{Key: k, Intent: in}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Update(ctx, k, sent); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Update(ctx, k, func(e *idempotency.Entry) error {
			e.State, e.ExchangeOrderID, e.OrderStatus = idempotency.StateAcked, fmt.Sprint(i), "NEW"
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
}

func BenchmarkKeyNext(b *testing.B) {
	g := newGen(b, "kl", "bench")
	b.ReportAllocs()
	for b.Loop() {
		_ = g.Next()
	}
}
