package batch

import (
	"context"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Early stop. The failure tolerance is judged as shards finish, not only by
// the finalizer: a run whose items all fail (AccessDenied, a wrong recipe)
// would otherwise pay for every GET and vCPU-second before "Run Failed".
//
// The judge is a child that just finished a shard that fails more than the
// tolerance allows (canTip: a healthier shard cannot tip the balance, so a
// healthy run pays nothing). It sums the counts of the done markers it
// knows: its own, and up to maxTallyReads more of the same range of shards
// per finished shard (one LIST page and a few GETs: bounded, and done
// markers are write-once, so each is read once per child). Every item counted ran, so the judgement is S3 Batch Operations'
// rule over the items run so far, from MinTasks items on, taken the
// cautious way: the done shards not read count as successes (breaks). Once
// it is broken, the child ends the run with Abort(ReasonTolerance): the control
// object tells the other children to stop between items, and the shards
// not done go to remaining.csv.

// maxTallyReads bounds the done markers a judge reads per finished shard.
const maxTallyReads = 8

// doneTally is what a child knows of the done shards' counts.
type doneTally struct {
	read   map[int]bool
	counts imgbatch.Counts
}

func (t *doneTally) add(m *DoneMarker) {
	if t.read == nil {
		t.read = map[int]bool{}
	}
	if m == nil || t.read[m.Shard] {
		return
	}
	t.read[m.Shard] = true
	t.counts.Merge(m.Counts)
}

// canBreakEarly reports whether the run's tolerance can break before the
// run ends: a run smaller than MinTasks items can only break a MaxFailed.
func canBreakEarly(run *imgbatch.Run) bool {
	t := run.Tolerance
	return t.MaxFailed > 0 || (run.Items >= t.MinTasks && t.MaxFailedPercent < 100)
}

// judge adds the done marker m, which this child just wrote, and reports
// whether the done shards it knows break the run's tolerance.
func (r *Runner) judge(ctx context.Context, run *imgbatch.Run, sc *scanner, m *DoneMarker) (bool, error) {
	if !canBreakEarly(run) || !canTip(run.Tolerance, m.Counts) {
		return false, nil
	}
	sc.tally.add(m)
	if err := r.readDoneNear(ctx, run, sc, m.Shard); err != nil {
		return false, err
	}
	c := sc.tally.counts
	if !run.Tolerance.Exceeded(c.Items, c.Failed) {
		return false, nil // the bound below is never above the sample's rate
	}
	done, err := r.countDone(ctx, run)
	if err != nil {
		return false, err
	}
	return sc.tally.breaks(run.Tolerance, done, run.ShardSize), nil
}

// canTip reports whether a shard with counts c can be the one that breaks
// the tolerance, so that its finisher must judge. Without MaxFailed, only
// a shard failing above MaxFailedPercent can: a run's failure rate is the
// item-weighted mean of its shards', so a broken run has such a shard, and
// its finisher judges. A healthy run at, say, 10% failures under a 50%
// bound then pays no LIST or GET per shard for judging.
func canTip(tol imgbatch.Tolerance, c imgbatch.Counts) bool {
	if c.Failed == 0 {
		return false
	}
	if tol.MaxFailed > 0 {
		return true
	}
	return float64(c.Failed)*100/float64(max(c.Items, 1)) > tol.MaxFailedPercent
}

// breaks reports whether the tolerance is broken for certain, by the
// shards read and whatever the other done shards hold: failures read are
// failures, and each done shard not read counts as ShardSize items that
// all succeeded. A sample of failing neighbours (a bad prefix: failures
// come in clusters) cannot stop a run whose other shards are healthy;
// a run whose shards all fail stops as soon as enough of them are read.
func (t *doneTally) breaks(tol imgbatch.Tolerance, doneShards, shardSize int) bool {
	c := t.counts
	if tol.MaxFailed > 0 && c.Failed > tol.MaxFailed {
		return true
	}
	if c.Items < tol.MinTasks || c.Items == 0 {
		return false
	}
	unread := max(doneShards-len(t.read), 0)
	total := c.Items + int64(unread)*int64(max(shardSize, 1))
	return float64(c.Failed)*100/float64(total) > tol.MaxFailedPercent
}

// countDone counts the run's done markers (keys only: one LIST page per
// 1,000 shards), asked only when the shards read already break the
// tolerance.
func (r *Runner) countDone(ctx context.Context, run *imgbatch.Run) (int, error) {
	n := 0
	err := r.Store.eachShardObject(ctx, run, "done", func(d int, _ time.Time) {
		if d >= 0 && d < run.Shards {
			n++
		}
	})
	return n, err
}

// readDoneNear lists the done markers of shard n's range (one LIST page)
// and reads up to maxTallyReads of those not read yet.
func (r *Runner) readDoneNear(ctx context.Context, run *imgbatch.Run, sc *scanner, n int) error {
	lay := imgbatch.LayoutOf(run)
	after := ""
	if run.Shards <= maxRangedShards {
		if lo := n / scanRange * scanRange; lo > 0 {
			after = lay.Done(lo - 1)
		}
	}
	var fresh []int
	visit := func(d int) {
		if d >= 0 && d < run.Shards {
			sc.markDone(d)
			if !sc.tally.read[d] && len(fresh) < maxTallyReads {
				fresh = append(fresh, d)
			}
		}
	}
	var err error
	if lo := n / scanRange * scanRange; spreadLayout(run) {
		err = r.Store.listSpreadRange(ctx, run, "done", lo, min(lo+scanRange, run.Shards), func(d int, _ time.Time) { visit(d) })
	} else {
		_, err = r.Store.ListPage(ctx, lay.DonePrefix(), after, scanRange, func(key string, _ time.Time) {
			if d, ok := shardOf(key); ok {
				visit(d)
			}
		})
	}
	if err != nil {
		return err
	}
	for _, d := range fresh {
		dm, err := r.Store.LoadDoneAt(ctx, lay, d)
		if err != nil {
			return err
		}
		sc.tally.add(dm)
	}
	return nil
}
