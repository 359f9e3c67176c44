package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/keelbot/keel/clock"
	"github.com/keelbot/keel/scheduler"
)

// downFleet is a fleet of size instances whose Redis cannot be reached (nothing listens on
// port 1), each marked down at the clock's time.
func downFleet(t *testing.T, size int, clk *clock.Fake, log *bytes.Buffer) []*Fleet {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	var out []*Fleet
	for i := range size {
		f, err := New(rdb, Options{Prefix: "keeltest:fallback:", InstanceID: fmt.Sprint("f", i), Size: size,
			SlotLease: 10 * time.Second, Now: clk.Now, Logger: zerolog.New(log)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
	return out
}

// TestFallbackShareWithinTotals: while Redis is down, the instances' local shares of a bucket
// add up to no more than its cap (cap ÷ size, rounded down: a bucket whose cap is below the
// fleet's size gets nothing, and says so), counting the slots still in use from before, and
// only once every lease Redis granted before has run out.
func TestFallbackShareWithinTotals(t *testing.T) {
	const size = 5
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		cap, each int
	}{{2, 0}, {4, 0}, {5, 1}, {8, 1}, {12, 2}} {
		t.Run(fmt.Sprintf("cap %d", tc.cap), func(t *testing.T) {
			clk := clock.NewFake(t0)
			var log bytes.Buffer
			fleet := downFleet(t, size, clk, &log)
			var sems []*semaphore
			for _, f := range fleet {
				sems = append(sems, f.newSemaphore(scheduler.BucketConfig{Name: "private", MaxConcurrency: tc.cap}, 1, localSemaphores(t, 1)))
				f.MarkDown(errors.New("test: Redis away"))
			}
			// Instance 0 still has a request in flight on a Redis slot taken before.
			sems[0].slots = append(sems[0].slots, &slot{member: "f0:1", busy: true, exp: t0.Add(time.Second)})

			took := func() (total int, each []int) {
				for _, s := range sems {
					n := 0
					for {
						if _, ok := s.TryAcquire(); !ok {
							break
						}
						n++
						if n > tc.cap {
							t.Fatalf("an instance took more than the cap")
						}
					}
					// AIMD starts the local share at half: successes raise it to the share.
					for range n {
						s.Release(scheduler.ClassNone)
					}
					n = 0
					for {
						if _, ok := s.TryAcquire(); !ok {
							break
						}
						n++
					}
					each = append(each, n)
					total += n
				}
				return total, each
			}

			clk.Set(t0.Add(10*time.Second - time.Millisecond))
			if total, each := took(); total != 0 {
				t.Fatalf("%v local slots taken before the leases granted by Redis ran out", each)
			}
			clk.Set(t0.Add(10 * time.Second))
			total, each := took()
			if total+1 > tc.cap { // +1: instance 0's request from before
				t.Errorf("local shares %v plus one in flight from before exceed the cap %d", each, tc.cap)
			}
			for i, n := range each {
				want := tc.each
				if i == 0 {
					want = max(0, tc.each-1) // its request from before counts
				}
				if n != want {
					t.Errorf("instance %d took %d, want %d (cap %d ÷ %d instances)", i, n, want, tc.cap, size)
				}
			}
			none := fleet[0].Status().NoLocalShare
			if (tc.each == 0) != (len(none) == 1 && none[0] == "private") {
				t.Errorf("Status.NoLocalShare = %v for cap %d and %d instances", none, tc.cap, size)
			}
			if tc.each == 0 && !strings.Contains(log.String(), `"no_local_share":["private"]`) {
				t.Errorf("the log does not name the bucket without a local share: %s", log.String())
			}
		})
	}
}

// TestFallbackWindowShare: a window's local share is limit ÷ size (rounded down) per
// instance, from the period after the one Redis went away in (in that one the fleet may have
// leased the whole cap already: only what is left of an instance's own lease goes); after
// Redis answers again, an instance stays on its share for the rest of that period.
func TestFallbackWindowShare(t *testing.T) {
	const size, limit = 5, 1000
	t0 := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC) // half way through a minute
	clk := clock.NewFake(t0)
	var log bytes.Buffer
	fleet := downFleet(t, size, clk, &log)
	var ws []*counter
	for _, f := range fleet {
		ws = append(ws, f.newCounter(scheduler.WindowConfig{Name: "W", Limit: limit, Interval: time.Minute}))
	}
	c0 := ws[0]
	c0.roll(t0)
	c0.leased, c0.used = 100, 40 // instance 0 leased 100 before Redis went away, used 40
	for _, f := range fleet {
		f.MarkDown(errors.New("test: Redis away"))
	}
	take := func(now time.Time, n int64) (total int64, each []int64) {
		for _, c := range ws {
			var got int64
			for {
				if ok, _ := c.Reserve(now, n, limit); !ok {
					break
				}
				got += n
			}
			each = append(each, got)
			total += got
		}
		return total, each
	}
	if total, each := take(t0, 10); total != 60 || each[0] != 60 {
		t.Fatalf("in the period Redis went away in: took %v, want only instance 0's unspent lease (60)", each)
	}
	next := t0.Add(30 * time.Second) // the next minute
	clk.Set(next)
	total, each := take(next, 10)
	if total > limit {
		t.Errorf("local shares %v exceed the limit %d", each, limit)
	}
	for i, n := range each {
		if n != limit/size {
			t.Errorf("instance %d took %d in the next period, want %d", i, n, limit/size)
		}
	}
	// A window whose limit is below the fleet's size has no local share.
	small := fleet[1].newCounter(scheduler.WindowConfig{Name: "S", Limit: 3, Interval: time.Minute})
	if ok, _ := small.Reserve(next, 1, 3); ok {
		t.Error("a window of limit 3 gave a local share to one of 5 instances")
	}

	// Redis answers again two periods later: the rest of that period stays on the share (no
	// lease is asked for: Redis here is still unreachable, so asking would mark it down).
	back := next.Add(90 * time.Second)
	clk.Set(back)
	fleet[2].recover()
	if ok, _ := ws[2].Reserve(back, 10, limit); !ok {
		t.Fatal("no local share in the period Redis came back in")
	}
	if down, _ := fleet[2].Down(); down {
		t.Fatal("asked Redis for a lease in the period it came back in")
	}
}

// TestFallbackAtStartIsImmediate: an instance that cannot reach Redis when it starts holds no
// lease, so its local share of a bucket and of a window's current period applies at once
// (a bot started while Redis is down reads exchange info and balances, failed safe).
func TestFallbackAtStartIsImmediate(t *testing.T) {
	const size = 2
	t0 := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	clk := clock.NewFake(t0)
	var log bytes.Buffer
	f := downFleet(t, size, clk, &log)[0]
	sem := f.newSemaphore(scheduler.BucketConfig{Name: "private", MaxConcurrency: 4}, 1, localSemaphores(t, 1))
	w := f.newCounter(scheduler.WindowConfig{Name: "W", Limit: 1000, Interval: time.Minute})
	f.MarkDownAtStart(errors.New("test: Redis away at start"))
	if _, ok := sem.TryAcquire(); !ok {
		t.Error("no local slot at once for an instance that started while Redis was down")
	}
	var got int64
	for {
		if ok, _ := w.Reserve(t0, 10, 1000); !ok {
			break
		}
		got += 10
	}
	if got != 1000/size {
		t.Errorf("took %d of the window's current period at start, want its share %d", got, 1000/size)
	}
	if st := f.Status(); st.Store != "down" || !st.Since.Equal(t0) {
		t.Errorf("status %+v: want down since %v", st, t0)
	}
}
