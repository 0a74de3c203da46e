package batch

import (
	"context"
	"math/rand/v2"
	"time"
)

// A whole array starting at once sends its first requests (run.json, the
// control object, a claim per child) in the same second, all under one
// runs/<id>/ prefix: 10,000 children are 10,000 GETs and PUTs in a second
// where S3 serves a prefix 5,500 GETs and 3,500 PUTs. Children therefore
// start spread over Runner.Ramp by their array index, with jitter, so the
// fleet's request rate ramps up and S3 sees the load grow (it splits hot
// prefixes only after sustained load).

// DefaultRamp is the start spread of an array of width children: 10 ms a
// child, at most two minutes (10,000 children start over 100 s; a single
// child at once).
func DefaultRamp(width int) time.Duration {
	if width <= 1 {
		return 0
	}
	return min(time.Duration(width)*10*time.Millisecond, 2*time.Minute)
}

// startDelay is when child Me starts within the ramp: its index's share
// of Ramp plus up to one slot of jitter (attempts after the first start at
// once: the array is already up).
func (r *Runner) startDelay() time.Duration {
	w := max(r.Me.ArraySize, 1)
	if r.Ramp <= 0 || r.Me.Attempt > 1 || w == 1 {
		return 0
	}
	slot := r.Ramp / time.Duration(w)
	return time.Duration(r.Me.Index)*slot + time.Duration(rand.Int64N(int64(slot)+1))
}

// rampUp waits for the child's start; false when stop came first.
func (r *Runner) rampUp(stop context.Context) bool {
	d := r.startDelay()
	if d <= 0 {
		return true
	}
	r.Log.Debug("waiting for my start in the array's ramp", "delay", d.String())
	return sleep(stop, d)
}
