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
// The judge is a child that just finished a shard with failures (a healthy
// shard cannot tip the balance, so a healthy run pays nothing). It sums the
// counts of the done markers it knows: its own, and up to maxTallyReads more
// of the same range of shards per finished shard (one LIST page and a few
// GETs: bounded, and done markers are write-once, so each is read once per
// child). Every item counted ran, so the judgement is S3 Batch Operations'
// rule over the items run so far, from MinTasks items on. Once it is
// broken, the child ends the run with Abort(ReasonTolerance): the control
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
	if !canBreakEarly(run) || m.Counts.Failed == 0 {
		return false, nil
	}
	sc.tally.add(m)
	if err := r.readDoneNear(ctx, run, sc, m.Shard); err != nil {
		return false, err
	}
	c := sc.tally.counts
	return run.Tolerance.Exceeded(c.Items, c.Failed), nil
}

// readDoneNear lists the done markers of shard n's range (one LIST page)
// and reads up to maxTallyReads of those not read yet.
func (r *Runner) readDoneNear(ctx context.Context, run *imgbatch.Run, sc *scanner, n int) error {
	lay := imgbatch.Layout{RunID: run.ID}
	after := ""
	if run.Shards <= maxRangedShards {
		if lo := n / scanRange * scanRange; lo > 0 {
			after = lay.Done(lo - 1)
		}
	}
	var fresh []int
	_, err := r.Store.ListPage(ctx, lay.DonePrefix(), after, scanRange, func(key string, _ time.Time) {
		if d, ok := shardOf(key); ok && d >= 0 && d < run.Shards {
			sc.markDone(d)
			if !sc.tally.read[d] && len(fresh) < maxTallyReads {
				fresh = append(fresh, d)
			}
		}
	})
	if err != nil {
		return err
	}
	for _, d := range fresh {
		dm, err := r.Store.LoadDone(ctx, run.ID, d)
		if err != nil {
			return err
		}
		sc.tally.add(dm)
	}
	return nil
}
