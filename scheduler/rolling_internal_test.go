package scheduler

import (
	"testing"
	"time"
)

// TestRetryBudgetStateMatchesWhatItAdmits: the allowed figure in a Snapshot is exactly the
// number of retries tryRetry admits, fractional bounds included (floor 5 + 10% of 15 = 6.5
// admits 7).
func TestRetryBudgetStateMatchesWhatItAdmits(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &retryBudget{ratio: 0.1, floor: 5, count: newRolling(time.Minute)}
	for range 15 {
		r.first(now)
	}
	admitted := 0
	for r.tryRetry(now) {
		admitted++
	}
	if st := r.state(now); st.Allowed != int64(admitted) || st.Retries != int64(admitted) || st.FirstAttempts != 15 {
		t.Fatalf("state %+v, but %d retries were admitted", st, admitted)
	}
}
