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

// rampBound is the most children of the array that can have started work
// by at: child j starts no earlier than j·Ramp/W after the array did, and
// the array started after the run was planned (run.CreatedAt), so by at
// no more than (at − CreatedAt)·W/Ramp + 1 have. Early in the ramp the
// fleet is small, and its children may take a larger share of S3's
// budgets (fleet.go); the width without a ramp or a plan time. A planner's
// clock ahead of the children's makes the bound too low: AWS's clocks are
// NTP-synced, and a SlowDown still halves the rate.
func (r *Runner) rampBound(created, at time.Time) int {
	w := max(r.Me.ArraySize, 1)
	if r.Ramp <= 0 || created.IsZero() || w == 1 {
		return w
	}
	slot := r.Ramp / time.Duration(w)
	if slot <= 0 {
		return w
	}
	return min(w, int(max(at.Sub(created), 0)/slot)+1)
}
