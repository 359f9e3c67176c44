package scheduler

import "testing"

// TestAIMD: a bucket's limit halves on a 429 (never below 1) and grows by one after a run
// of successes (never above the cap), starting at half the cap.
func TestAIMD(t *testing.T) {
	sem := newLocalSemaphore(8, 20)
	limit := func() int { return sem.State().Limit }
	if limit() != 4 {
		t.Fatalf("start limit %d, want 4", limit())
	}
	release := func(c Class, n int) {
		for range n {
			if _, ok := sem.TryAcquire(); !ok {
				t.Fatal("acquire refused")
			}
			sem.Release(c)
		}
	}
	steps := []struct {
		class Class
		n     int
		want  int
	}{
		{ClassNone, 19, 4}, {ClassNone, 1, 5}, {ClassRateLimit, 1, 2},
		{ClassRateLimit, 1, 1}, {ClassRateLimit, 1, 1}, {ClassNone, 10, 1},
		{ClassTransient, 1, 1}, {ClassNone, 19, 1}, {ClassNone, 1, 2},
		{ClassNone, 200, 8},
	}
	for i, st := range steps {
		release(st.class, st.n)
		if limit() != st.want {
			t.Fatalf("step %d (%d x %s): limit %d, want %d", i, st.n, st.class, limit(), st.want)
		}
	}
	for range 8 {
		sem.TryAcquire()
	}
	if n, ok := sem.TryAcquire(); ok || n != 8 {
		t.Fatalf("acquired past the cap: %d", n)
	}
}

// TestAIMDOneHalvingPerEvent: the 429s of requests that were in flight together halve the
// limit once, not once each.
func TestAIMDOneHalvingPerEvent(t *testing.T) {
	sem := newLocalSemaphore(16, 20)
	for range 8 {
		sem.TryAcquire()
	}
	for range 8 {
		sem.Release(ClassRateLimit)
	}
	if got := sem.State().Limit; got != 4 {
		t.Fatalf("limit = %d after one burst of 429s, want 4", got)
	}
	sem.TryAcquire()
	sem.Release(ClassRateLimit)
	if got := sem.State().Limit; got != 2 {
		t.Fatalf("limit = %d after a later 429, want 2", got)
	}
}
