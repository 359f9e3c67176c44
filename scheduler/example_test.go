package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// A Binance-like account: the request-weight window and the order-count windows, a private
// bucket for orders and a public one for market data.
func Example() {
	s, err := scheduler.New(scheduler.Config{
		Exchange: "binance", InstanceID: "bot-1",
		Windows: []scheduler.WindowConfig{
			{Name: "REQUEST_WEIGHT", Limit: 6000, Interval: time.Minute},
			{Name: "ORDERS", Limit: 50, Interval: 10 * time.Second},
			{Name: "ORDERS_1D", Limit: 160000, Interval: 24 * time.Hour},
		},
		Buckets: []scheduler.BucketConfig{{Name: "orders"}, {Name: "market", Public: true}},
	}, scheduler.WithClock(clock.NewFake(time.Date(2025, 1, 6, 12, 0, 0, 0, time.UTC))))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	out, err := s.Do(context.Background(), &scheduler.Request{
		Endpoint: "/api/v3/order", Method: "POST", Bucket: "orders", Priority: scheduler.PriorityOrders,
		Costs: []scheduler.Cost{{Window: "REQUEST_WEIGHT", Amount: 1}, {Window: "ORDERS", Amount: 1}, {Window: "ORDERS_1D", Amount: 1}},
		Write: true, IdempotencyKey: "keel-7f3a-1",
		Attempt: func(ctx context.Context, attempt int) scheduler.Outcome {
			// One HTTP call; the adapter reads the answer into an Outcome.
			return scheduler.Outcome{Status: 200, RequestID: "r-1",
				Usage: []scheduler.Usage{{Window: "REQUEST_WEIGHT", Used: 12}}}
		},
	})
	fmt.Println(out.Status, err)
	// The exchange's count (12) is within what the scheduler expected: the request-weight
	// window is confirmed and uses 0.99 of its limit; the others, without reports, 0.9.
	for _, w := range s.Snapshot().Windows {
		fmt.Printf("%s %d/%d\n", w.Name, w.Used, w.SafeLimit)
	}
	// Output:
	// 200 <nil>
	// ORDERS 1/45
	// ORDERS_1D 1/144000
	// REQUEST_WEIGHT 12/5940
}

// A write that timed out may have landed: the scheduler does not resend it, and the caller
// reconciles by querying the order by its client id.
func ExampleClassOf() {
	s, _ := scheduler.New(scheduler.Config{Buckets: []scheduler.BucketConfig{{Name: "orders"}}})
	defer s.Close()
	_, err := s.Do(context.Background(), &scheduler.Request{
		Bucket: "orders", Priority: scheduler.PriorityOrders, Write: true,
		Attempt: func(context.Context, int) scheduler.Outcome {
			return scheduler.Outcome{Err: context.DeadlineExceeded}
		},
	})
	fmt.Println(scheduler.ClassOf(err), errors.Is(err, scheduler.ErrUnknownOutcome))
	// Output:
	// unknown true
}
