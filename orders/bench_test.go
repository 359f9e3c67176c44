package orders_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelbot/keel/idempotency"
	"github.com/keelbot/keel/orders"
)

// timedStore measures the time Place spends in the journal.
type timedStore struct {
	idempotency.Store
	nanos  atomic.Int64
	writes atomic.Int64
}

func (s *timedStore) Reserve(ctx context.Context, e idempotency.Entry) error {
	t := time.Now()
	err := s.Store.Reserve(ctx, e)
	s.nanos.Add(int64(time.Since(t)))
	s.writes.Add(1)
	return err
}

func (s *timedStore) Update(ctx context.Context, key string, fn func(*idempotency.Entry) error) (idempotency.Entry, error) {
	t := time.Now()
	e, err := s.Store.Update(ctx, key, fn)
	s.nanos.Add(int64(time.Since(t)))
	s.writes.Add(1)
	return e, err
}

// BenchmarkPlace measures Place end to end against an in-process exchange that answers at
// once: validation and rounding, key, the journal's reserve and sent writes before the
// request, and the acked write after. The memory store is the baseline; the difference is
// what a durable (fsynced) journal costs per order.
func BenchmarkPlace(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) idempotency.Store
	}{
		{"store=memory", func(b *testing.B) idempotency.Store { return idempotency.NewMemoryStore() }},
		{"store=bbolt", func(b *testing.B) idempotency.Store {
			s, err := idempotency.OpenFile(filepath.Join(b.TempDir(), "journal.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, st := range stores {
		for _, par := range []int{1, 8} {
			name := st.name
			if par > 1 {
				name += "/concurrent=8"
			}
			b.Run(name, func(b *testing.B) {
				store := &timedStore{Store: st.open(b)}
				defer store.Close()
				keys, err := idempotency.NewKeyGenerator("kb", "b1")
				if err != nil {
					b.Fatal(err)
				}
				m, err := orders.New(orders.Params{Exchange: newFakeExchange(), Store: store, Keys: keys})
				if err != nil {
					b.Fatal(err)
				}
				in := limitBuy("0.0012345", "65000.004")
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				if par == 1 {
					for b.Loop() {
						if _, err := m.Place(ctx, in); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					var wg sync.WaitGroup
					var next atomic.Int64
					n := int64(b.N)
					for range par {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for next.Add(1) <= n {
								if _, err := m.Place(ctx, in); err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					wg.Wait()
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "orders/s")
				if par == 1 { // with concurrent callers the sum would count their waits too
					b.ReportMetric(float64(store.nanos.Load())/float64(b.N), "journal-ns/order")
				}
				b.ReportMetric(float64(store.writes.Load())/float64(b.N), "journal-writes/order")
			})
		}
	}
}
