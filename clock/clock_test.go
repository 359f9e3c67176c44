package clock_test

import (
	"testing"
	"time"

	"github.com/keelbot/keel/clock"
)

func TestFake(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f := clock.NewFake(start)
	a, _ := f.NewTimer(2 * time.Second)
	b, stopB := f.NewTimer(time.Second)
	c, _ := f.NewTimer(2 * time.Second)
	now, _ := f.NewTimer(0)
	if got := <-now; !got.Equal(start) {
		t.Fatalf("zero timer fired at %v", got)
	}
	if f.Pending() != 3 {
		t.Fatalf("pending = %d, want 3", f.Pending())
	}
	if d, ok := f.NextDeadline(); !ok || !d.Equal(start.Add(time.Second)) {
		t.Fatalf("next deadline %v %v", d, ok)
	}
	if !stopB() || stopB() {
		t.Fatal("stop: want true once, then false")
	}
	f.Advance(1999 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("fired early")
	case <-b:
		t.Fatal("a stopped timer fired")
	default:
	}
	f.Set(start) // never backwards
	if !f.Now().Equal(start.Add(1999 * time.Millisecond)) {
		t.Fatalf("now = %v", f.Now())
	}
	f.Advance(time.Millisecond)
	if got := <-a; !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("a fired at %v", got)
	}
	<-c
	done := make(chan struct{})
	go func() { f.BlockUntil(1); close(done) }()
	f.NewTimer(time.Hour)
	<-done
}
