package batch

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/imgbatch/imgbatch"
)

// The slow end of a run. An array child paces its S3 requests at its share
// of the budgets for the whole array (budget ÷ W). When children run out
// of shards and leave, those still working kept that share, so the budget
// of the children gone went unused and the last shards drained at a
// fraction of what S3 serves (the last ~5 % of a simulated run took ~90 s).
//
// No child knows how many others are live, but no more children can be
// working than the ramp has started since the run was planned (rampBound),
// nor than shards are left without a done marker, and the watchers list
// the done markers anyway. A watcher that counts markedly fewer shards
// left than the run's control object says writes that count there (a few
// writes a run, never per item), and every child reads the control object
// every ControlEvery anyway: its share becomes budget ÷ min(W, started,
// undone). Done markers are write-once, so the count only falls, and a
// stale count is higher than the truth: the shares still sum to at most
// the budget. The same early in a run: the children started so far share
// the budget of those not started yet.

// fleetState is what a Runner saw and wrote of the fleet's bound: seen by
// the control watch's goroutine, wrote and tried by the runner's own.
type fleetState struct {
	seen    int64     // Control.Undone last read (0: none); atomic (a Runner is copied, so no atomic.Int64)
	created int64     // the run's CreatedAt in Unix ns once loaded (0: not yet); atomic
	live    int64     // last told to Runner.Fleet; atomic (the runner's goroutine tells it once, at the run's load)
	wrote   int       // last written, or found written, by this child
	tried   time.Time // last write tried
}

// fleetShrink is how much smaller a count must be than the one written
// before a watcher writes it: W → 1 in ~20 writes for W = 100.
const fleetShrink = 0.8

// sawFleet tells Fleet the bound in c (the width when c has none; the
// last one read when read failed), and the ramp's (rampBound) as it will be
// at the next read.
func (r *Runner) sawFleet(c *Control, read bool) {
	undone := int(atomic.LoadInt64(&r.fleet.seen)) // a failed read keeps the last
	if read {
		undone = 0
		if c != nil {
			undone = c.Undone
		}
		atomic.StoreInt64(&r.fleet.seen, int64(undone))
	}
	if r.Fleet == nil {
		return
	}
	live := max(r.Me.ArraySize, 1)
	if ns := atomic.LoadInt64(&r.fleet.created); ns != 0 {
		live = r.rampBound(time.Unix(0, ns), r.Now().Add(r.ControlEvery+time.Second))
	}
	if undone > 0 {
		live = min(live, undone)
	}
	if atomic.SwapInt64(&r.fleet.live, int64(live)) != int64(live) {
		r.Fleet(live)
	}
}

// noteUndone is a watcher's part, after it learnt of done markers: it
// writes the count of shards left to the control object when that is at
// most fleetShrink of the count written there (or of the width), at most
// once per Poll. Only the Watchers write (without Linger every child
// steals and scans). A failed write is only logged: the children keep
// their narrower share.
func (c *child) noteUndone(ctx context.Context) {
	r := c.r
	if r.Me.Index >= Watchers(c.width) {
		return
	}
	undone := c.run.Shards - c.sc.ndone
	ref := c.width
	for _, v := range []int{r.fleet.wrote, int(atomic.LoadInt64(&r.fleet.seen))} {
		if v > 0 {
			ref = min(ref, v)
		}
	}
	if undone <= 0 || float64(undone) > fleetShrink*float64(ref) || r.Now().Sub(r.fleet.tried) < r.Poll {
		return
	}
	r.fleet.tried = r.Now()
	wrote := false
	cur, err := r.Store.UpdateControl(ctx, c.run.ID, func(cur *Control) (*Control, error) {
		if cur.stops() || (cur != nil && cur.Undone > 0 && cur.Undone <= undone) {
			return nil, nil // stopping, or a lower count is there
		}
		next := Control{}
		if cur != nil {
			next = *cur
		}
		next.Undone, next.UndoneAt = undone, r.Now().UTC()
		wrote = true
		return &next, nil
	})
	if err != nil {
		c.log.Warn("shards left not written to the control object", "undone", undone, "err", err)
		return
	}
	if cur != nil && cur.Undone > 0 {
		r.fleet.wrote = cur.Undone
	}
	if wrote {
		c.log.Info("shards left written for the children's S3 share", "undone", undone)
	}
}

// loadRun is Store.LoadRun for a runner: the same one GET, which also
// gives the control watch the run's plan time for rampBound and applies
// the ramp's bound at once (the next read is up to ControlEvery away, and
// a short ramp may be over by then). The plan time is the earlier of the
// planner's CreatedAt and S3's LastModified of run.json: a planner's clock
// ahead (a laptop's) would make the bound too low, and S3's is right.
func (r *Runner) loadRun(ctx context.Context) (*imgbatch.Run, error) {
	run, mod, err := r.Store.loadRunAt(ctx, r.RunID)
	if err != nil {
		return nil, err
	}
	created := run.CreatedAt
	if !mod.IsZero() && (created.IsZero() || mod.Before(created)) {
		created = mod
	}
	if !created.IsZero() {
		atomic.StoreInt64(&r.fleet.created, created.UnixNano())
		r.sawFleet(nil, false)
	}
	return run, nil
}
