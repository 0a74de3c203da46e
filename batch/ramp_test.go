package batch

import (
	"context"
	"testing"
	"time"
)

// TestRampSpreadsStarts: child i of W starts in its slot of the ramp,
// retried attempts at once; DefaultRamp is 10 ms a child up to 2 minutes;
// a stop during the wait ends Run at once with ErrStopped.
func TestRampSpreadsStarts(t *testing.T) {
	const w, ramp = 100, 10 * time.Second
	slot := ramp / w
	for _, i := range []int{0, 1, 50, 99} {
		r := &Runner{Ramp: ramp, Me: Identity{Index: i, ArraySize: w, Attempt: 1}}
		if d := r.startDelay(); d < time.Duration(i)*slot || d > time.Duration(i+1)*slot {
			t.Errorf("child %d of %d: start after %s, want in [%s, %s]", i, w, d, time.Duration(i)*slot, time.Duration(i+1)*slot)
		}
	}
	if d := (&Runner{Ramp: ramp, Me: Identity{Index: 99, ArraySize: w, Attempt: 2}}).startDelay(); d != 0 {
		t.Errorf("a retried attempt waits %s", d)
	}
	for width, want := range map[int]time.Duration{1: 0, 2: 20 * time.Millisecond, 10000: 100 * time.Second, 100000: 2 * time.Minute} {
		if got := DefaultRamp(width); got != want {
			t.Errorf("DefaultRamp(%d) = %s, want %s", width, got, want)
		}
	}
	stop, cancel := context.WithCancel(context.Background())
	cancel()
	r := &Runner{Ramp: time.Hour, Me: Identity{Index: 5, ArraySize: 10, Attempt: 1}}
	start := time.Now()
	if _, err := r.Run(stop); err != ErrStopped || time.Since(start) > time.Second {
		t.Errorf("Run stopped during its ramp: %v after %s, want ErrStopped at once", err, time.Since(start))
	}
}
