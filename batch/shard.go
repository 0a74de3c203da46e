package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imgbatch/imgbatch"
)

// tryShard claims and processes shard n unless another child holds it.
// A fresh claim (epoch 1) means no one ever held the shard, so it cannot
// be done; before taking over an expired claim, the done marker is checked.
// It reports whether it got the lease.
func (r *Runner) tryShard(stop, work context.Context, run *imgbatch.Run, lea *Leaser, sc *scanner, c candidate, st *Stats, log *slog.Logger) (bool, error) {
	lay := imgbatch.LayoutOf(run)
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
		// Checkpointed: let the lease go, so that whoever goes on (a
		// resumed array, a stealer) need not wait out its TTL.
		lea.release(work, lease)
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
	broken, err := r.judge(work, run, sc, m)
	if err != nil {
		slog.Warn("tolerance not judged", "err", err)
		return true, nil
	}
	if broken && !sc.allDone() { // (the last shard: Finalize judges the same)
		fin, err := r.abort(work, run, imgbatch.ReasonTolerance, log)
		st.Finalized = fin
		if err != nil {
			return true, err
		}
		return true, ErrRunEnded
	}
	return true, nil
}

// processShard runs one claimed shard to its done marker: resume from the
// checkpoint of an earlier epoch, feed the Processor and collect its
// results under the lease's heartbeat, then publish. It returns a nil
// marker when another child finished the shard first.
func (r *Runner) processShard(stop, work context.Context, run *imgbatch.Run, lea *Leaser, lease *Lease, log *slog.Logger) (*DoneMarker, error) {
	started := r.Now()
	sw, err := r.resume(work, run, lease, log)
	if err != nil {
		return nil, err
	}
	// Heartbeat: renew the lease until the shard ends; a lost lease stops
	// it. The heartbeat owns the lease while it runs.
	hb := lea.keep(work, lease, log)
	defer hb.stop()
	all, err := sw.collect(stop, work, hb)
	if err != nil {
		return nil, err
	}
	// Fence: publish only while the lease is still ours. A child that
	// paused past its lease finds it taken here and writes nothing
	// (Leaser.fence: a lease written moments ago needs no GET).
	if err := lea.fence(work, lease); err != nil {
		return nil, err
	}
	return sw.publish(work, all, started)
}

// shardWork is one claimed shard on its way to its done marker.
type shardWork struct {
	r       *Runner
	run     *imgbatch.Run
	lay     imgbatch.Layout
	lease   *Lease
	items   []imgbatch.Item
	cp      *checkpointer
	resumed map[int]imgbatch.Result // results of earlier epochs, from the checkpoint
	log     *slog.Logger
}

// resume loads the shard's items and, for a shard held before (epoch > 1),
// the results its checkpoint already has. A checkpoint of a newer epoch
// means the lease is already gone.
func (r *Runner) resume(work context.Context, run *imgbatch.Run, lease *Lease, log *slog.Logger) (*shardWork, error) {
	lay := imgbatch.LayoutOf(run)
	items, err := r.Store.LoadShard(work, run.ID, lease.Shard)
	if err != nil {
		return nil, err
	}
	sw := &shardWork{r: r, run: run, lay: lay, lease: lease, items: items, log: log,
		resumed: map[int]imgbatch.Result{},
		cp:      &checkpointer{store: r.Store, key: lay.Progress(lease.Shard), epoch: lease.Epoch, owner: lease.Owner, now: r.Now}}
	if lease.Epoch <= 1 { // only a shard held before can have a checkpoint
		return sw, nil
	}
	prev, err := sw.cp.load(work)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		return sw, nil
	}
	if prev.Epoch > lease.Epoch {
		return nil, ErrLeaseLost
	}
	for _, res := range prev.Results {
		sw.resumed[res.Index] = res
	}
	if len(sw.resumed) > 0 {
		log.Info("resuming from checkpoint", "done", len(sw.resumed), "items", len(items))
	}
	return sw, nil
}

// collect runs the Processor over the items without a result and returns
// every result of the shard, or why the shard stops here.
func (sw *shardWork) collect(stop, work context.Context, hb *heartbeat) (map[int]imgbatch.Result, error) {
	resCh, procErr := sw.feed(stop, hb.ctx)
	fresh, cpErr := sw.gather(resCh, hb)
	perr := <-procErr
	hbErr := hb.stop()
	return sw.settle(stop, work, merged(sw.resumed, fresh), perr, cpErr, hbErr)
}

// feed starts the Processor under shardCtx and hands it the items that have
// no result yet, until stop. The Processor's results come on the first
// channel (closed when it returns), its error on the second.
func (sw *shardWork) feed(stop, shardCtx context.Context) (<-chan imgbatch.Result, <-chan error) {
	tasks := make(chan imgbatch.Task)
	resCh := make(chan imgbatch.Result, 64)
	procErr := make(chan error, 1)
	go func() {
		err := sw.r.Processor.Process(shardCtx, sw.run, tasks, func(res imgbatch.Result) { resCh <- res })
		close(resCh)
		procErr <- err
	}()
	// sw.resumed is only read here: it was filled before, and new results
	// go to gather's own map.
	go func() {
		defer close(tasks)
		for i, it := range sw.items {
			if _, ok := sw.resumed[i]; ok {
				continue
			}
			select {
			case tasks <- imgbatch.Task{Index: i, Item: it, Shard: sw.lease.Shard, Epoch: sw.lease.Epoch}:
			case <-stop.Done():
				return
			case <-shardCtx.Done():
				return
			}
		}
	}()
	return resCh, procErr
}

// gather reads results until the Processor returns, saving a checkpoint
// when checkpointDue (not when the results file comes next). A failed checkpoint stops the shard's work; it is
// returned with the results of this epoch.
func (sw *shardWork) gather(resCh <-chan imgbatch.Result, hb *heartbeat) (map[int]imgbatch.Result, error) {
	r := sw.r
	fresh := map[int]imgbatch.Result{}
	sinceCP := 0
	lastCP := r.Now()
	var cpErr error
	for res := range resCh {
		fresh[res.Index] = res
		sinceCP++
		complete := len(sw.resumed)+len(fresh) >= len(sw.items) // the results file comes next
		if cpErr == nil && !complete && sw.checkpointDue(sinceCP, lastCP) {
			if err := sw.cp.save(hb.ctx, merged(sw.resumed, fresh)); err != nil {
				cpErr = err
				hb.cancel()
				continue
			}
			sinceCP, lastCP = 0, r.Now()
		}
	}
	return fresh, cpErr
}

// checkpointDue reports whether since results, the last of them after
// lastCP, call for a checkpoint: CheckpointAfter since the last one (or the
// shard's start), or CheckpointEvery results when set. Time bounds what a
// crash costs; a count would make a shard of fast items pay a PUT per
// second of work it could redo as fast (issue 20: control requests/item).
func (sw *shardWork) checkpointDue(since int, lastCP time.Time) bool {
	r := sw.r
	if r.CheckpointEvery > 0 && since >= r.CheckpointEvery {
		return true
	}
	return r.Now().Sub(lastCP) >= r.CheckpointAfter
}

// settle decides from how the Processor, the checkpoints and the heartbeat
// ended whether all is the whole shard, ready to publish. A lost lease
// wins; a fatal Processor error, and a stop with work left, keep what
// there is in the checkpoint for the next owner.
func (sw *shardWork) settle(stop, work context.Context, all map[int]imgbatch.Result, perr, cpErr, hbErr error) (map[int]imgbatch.Result, error) {
	shard := sw.lease.Shard
	if errors.Is(cpErr, ErrLeaseLost) || errors.Is(hbErr, ErrLeaseLost) {
		return nil, ErrLeaseLost
	}
	if perr != nil && !errors.Is(perr, context.Canceled) {
		// A fatal processor error ends the attempt: keep the results so far
		// (Timeout failures of looping files among them) so the retried
		// attempt does not meet the same files again.
		if cpErr == nil {
			if err := sw.cp.save(work, all); err != nil {
				sw.r.Log.Warn("checkpoint before exit failed", "shard", shard, "err", err)
			}
		}
		return nil, fmt.Errorf("shard %d: %w", shard, perr)
	}
	if cpErr != nil {
		return nil, cpErr
	}
	if len(all) < len(sw.items) {
		// Stopping early: save what we have; the next owner resumes.
		if err := sw.cp.save(work, all); err != nil {
			return nil, err
		}
		if stop.Err() != nil || work.Err() != nil {
			return nil, ErrStopped
		}
		return nil, fmt.Errorf("shard %d: processor returned %d of %d results", shard, len(all), len(sw.items))
	}
	return all, nil
}

// publish writes the results file of this epoch, then the write-once done
// marker naming it, and sends "Shard Completed". It returns nil when
// another child's done marker was there first.
func (sw *shardWork) publish(work context.Context, all map[int]imgbatch.Result, started time.Time) (*DoneMarker, error) {
	r, l, log := sw.r, sw.lease, sw.log
	rs := sortedResults(all)
	m := DoneMarker{Shard: l.Shard, Epoch: l.Epoch, Owner: l.Owner, Results: sw.lay.Results(l.Shard, l.Epoch),
		StartedAt: started.UTC(), FinishedAt: r.Now().UTC()}
	m.DurationMs = m.FinishedAt.Sub(m.StartedAt).Milliseconds()
	for _, res := range rs {
		m.Counts.Add(res)
	}
	m.Requests = r.requestsSince()
	if _, err := r.Store.Put(work, m.Results, encodeResults(rs), "application/x-ndjson", Cond{}); err != nil {
		return nil, err
	}
	if r.Notifier != nil { // a child without one leaves its events to the finalizer at once
		m.EventBy = r.Now().Add(r.LeaseTTL).UTC()
	}
	doneTag, err := r.Store.PutJSON(work, sw.lay.Done(l.Shard), m, Cond{IfNoneMatch: true})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			log.Info("shard was finished by another child first")
			return nil, nil
		}
		return nil, err
	}
	r.requestsMarked(&m)
	log.Info("shard done", "succeeded", m.Counts.Succeeded, "failed", m.Counts.Failed, "skipped", m.Counts.Skipped, "ms", m.DurationMs)
	if r.Notifier != nil {
		m.etag = doneTag
		r.sendOwnShardEvent(work, sw.run, sw.lay, m, log)
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
