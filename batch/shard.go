package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/imgbatch/imgbatch"
)

// tryShard claims and processes shard n unless another child holds it.
// A fresh claim (epoch 1) means no one ever held the shard, so it cannot
// be done; before taking over an expired claim, the done marker is checked.
// It reports whether it got the lease.
func (r *Runner) tryShard(stop, work context.Context, run *imgbatch.Run, lea *Leaser, sc *scanner, c candidate, st *Stats, log *slog.Logger) (bool, error) {
	lay := imgbatch.Layout{RunID: run.ID}
	n := c.n
	lease, err := lea.acquireShard(work, n, c.fresh, func() (bool, error) {
		done, err := r.Store.Exists(work, lay.Done(n))
		if done {
			sc.markDone(n)
		}
		return done, err
	})
	if err != nil || lease == nil {
		return false, err
	}
	epoch := lease.Epoch
	slog := log.With("shard", n, "epoch", epoch)
	slog.Info("shard claimed")
	m, err := r.processShard(stop, work, run, lea, lease, slog)
	switch {
	case errors.Is(err, ErrLeaseLost):
		st.LeasesLost++
		slog.Warn("lease lost; another child finishes this shard")
		return true, nil
	case errors.Is(err, ErrStopped):
		return true, nil
	case err != nil:
		return true, err
	}
	sc.markDone(n)
	if m == nil { // another child wrote the done marker first
		return true, nil
	}
	st.Shards++
	if epoch > 1 {
		st.Stolen++
	}
	st.Counts.Merge(m.Counts)
	return true, nil
}

// processShard runs one claimed shard to its done marker. It returns a nil
// marker when another child finished the shard first.
func (r *Runner) processShard(stop, work context.Context, run *imgbatch.Run, lea *Leaser, lease *Lease, log *slog.Logger) (*DoneMarker, error) {
	lay := imgbatch.Layout{RunID: run.ID}
	shard, epoch, owner := lease.Shard, lease.Epoch, lease.Owner
	started := r.Now()
	items, err := r.Store.LoadShard(work, run.ID, shard)
	if err != nil {
		return nil, err
	}
	cp := &checkpointer{store: r.Store, key: lay.Progress(shard), epoch: epoch, owner: owner, now: r.Now}
	results := map[int]imgbatch.Result{}
	if epoch > 1 { // only a shard held before can have a checkpoint
		prev, err := cp.load(work)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			if prev.Epoch > epoch {
				return nil, ErrLeaseLost
			}
			for _, res := range prev.Results {
				results[res.Index] = res
			}
			if len(results) > 0 {
				log.Info("resuming from checkpoint", "done", len(results), "items", len(items))
			}
		}
	}

	// Heartbeat: renew the lease until the shard ends; a lost lease stops
	// it. The heartbeat owns the lease while it runs.
	hb := lea.keep(work, lease, log)
	shardCtx, cancelShard := hb.ctx, hb.cancel
	stopHeartbeat := hb.stop
	defer stopHeartbeat()

	tasks := make(chan imgbatch.Task)
	resCh := make(chan imgbatch.Result, 64)
	procErr := make(chan error, 1)
	go func() {
		err := r.Processor.Process(shardCtx, run, tasks, func(res imgbatch.Result) { resCh <- res })
		close(resCh)
		procErr <- err
	}()
	go func() {
		defer close(tasks)
		for i, it := range items {
			if _, ok := results[i]; ok {
				continue
			}
			select {
			case tasks <- imgbatch.Task{Index: i, Item: it, Shard: shard, Epoch: epoch}:
			case <-stop.Done():
				return
			case <-shardCtx.Done():
				return
			}
		}
	}()

	// results is read by the feeder above only for indexes it skips, which
	// were filled before it started; new results go to fresh indexes.
	fresh := map[int]imgbatch.Result{}
	sinceCP := 0
	lastCP := r.Now()
	var cpErr error
	for res := range resCh {
		fresh[res.Index] = res
		sinceCP++
		complete := len(results)+len(fresh) >= len(items) // the results file comes next
		if cpErr == nil && !complete && (sinceCP >= r.CheckpointEvery || r.Now().Sub(lastCP) >= r.CheckpointAfter) {
			if err := cp.save(shardCtx, merged(results, fresh)); err != nil {
				cpErr = err
				cancelShard()
				continue
			}
			sinceCP, lastCP = 0, r.Now()
		}
	}
	perr := <-procErr
	hbErr := stopHeartbeat()
	all := merged(results, fresh)
	if errors.Is(cpErr, ErrLeaseLost) || errors.Is(hbErr, ErrLeaseLost) {
		return nil, ErrLeaseLost
	}
	if perr != nil && !errors.Is(perr, context.Canceled) {
		// A fatal processor error ends the attempt: keep the results so far
		// (Timeout failures of looping files among them) so the retried
		// attempt does not meet the same files again.
		if cpErr == nil {
			if err := cp.save(work, all); err != nil {
				r.Log.Warn("checkpoint before exit failed", "shard", shard, "err", err)
			}
		}
		return nil, fmt.Errorf("shard %d: %w", shard, perr)
	}
	if cpErr != nil {
		return nil, cpErr
	}
	if len(all) < len(items) {
		// Stopping early: save what we have; the next owner resumes.
		if err := cp.save(work, all); err != nil {
			return nil, err
		}
		if stop.Err() != nil || work.Err() != nil {
			return nil, ErrStopped
		}
		return nil, fmt.Errorf("shard %d: processor returned %d of %d results", shard, len(all), len(items))
	}

	// Fence: publish only while the lease is still ours. A child that
	// paused past its lease finds it taken here and writes nothing.
	if err := lea.Check(work, lease); err != nil {
		return nil, err
	}
	rs := sortedResults(all)
	m := DoneMarker{Shard: shard, Epoch: epoch, Owner: owner, Results: lay.Results(shard, epoch),
		StartedAt: started.UTC(), FinishedAt: r.Now().UTC()}
	m.DurationMs = m.FinishedAt.Sub(m.StartedAt).Milliseconds()
	for _, res := range rs {
		m.Counts.Add(res)
	}
	if _, err := r.Store.Put(work, m.Results, encodeResults(rs), "application/x-ndjson", Cond{}); err != nil {
		return nil, err
	}
	doneTag, err := r.Store.PutJSON(work, lay.Done(shard), m, Cond{IfNoneMatch: true})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			log.Info("shard was finished by another child first")
			return nil, nil
		}
		return nil, err
	}
	log.Info("shard done", "succeeded", m.Counts.Succeeded, "failed", m.Counts.Failed, "skipped", m.Counts.Skipped, "ms", m.DurationMs)
	if r.Notifier != nil {
		if err := r.Notifier.ShardCompleted(work, run, m); err != nil {
			log.Warn("shard event not sent; it stays in the done marker for the finalizer", "err", err)
		} else {
			m.etag = doneTag
			r.Store.markEventSent(work, run.ID, m)
		}
	}
	return &m, nil
}

// merged is a copy of a with b laid over it.
func merged(a, b map[int]imgbatch.Result) map[int]imgbatch.Result {
	out := make(map[int]imgbatch.Result, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
