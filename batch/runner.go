package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Task is one item of a shard handed to the processor.
type Task struct {
	Index int
	Item  imgbatch.Item
}

// Processor does the image work of tasks. It reads tasks until the channel
// is closed, calls emit once per task with its final result, and returns.
// Cancelling ctx aborts work in flight; an error return is fatal for the
// attempt (no credentials, missing bucket): the child exits non-zero.
type Processor interface {
	Process(ctx context.Context, run *imgbatch.Run, tasks <-chan Task, emit func(imgbatch.Result)) error
}

// Notifier tells the world about finished shards and runs (EventBridge in
// production). Implementations must be idempotent per event id.
type Notifier interface {
	ShardCompleted(ctx context.Context, run *imgbatch.Run, m DoneMarker) error
	RunFinished(ctx context.Context, run *imgbatch.Run, f Final) error
}

// Runner is the loop of one array child: claim shards (own slots first,
// then steal unclaimed or expired ones), process them with checkpoints,
// mark them done, and finalize the run if it was the last.
type Runner struct {
	Store     *Store
	RunID     string
	Me        Identity
	Processor Processor
	Notifier  Notifier
	Log       *slog.Logger

	LeaseTTL        time.Duration // default 2m
	CheckpointEvery int           // results between checkpoints (default 25)
	CheckpointAfter time.Duration // and at least this often (default 10s)
	Poll            time.Duration // while other children still hold shards (default min(LeaseTTL/4, 5s))
	Linger          bool          // stay until every shard is done, to steal expired leases (default true via NewRunner)
	Grace           time.Duration // after stop: time for work in flight (default 25s)
	Now             func() time.Time
}

// Stats of one child's work.
type Stats struct {
	Shards    int
	Counts    imgbatch.Counts
	Finalized bool
	Stopped   bool // stopped early (SIGTERM): the attempt should be retried
}

// ErrStopped means the child stopped on request with work left.
var ErrStopped = errors.New("stopped before the run was finished")

// Defaults of a Runner.
const (
	DefaultLeaseTTL = 2 * time.Minute
	DefaultGrace    = 25 * time.Second
)

func (r *Runner) defaults() {
	if r.LeaseTTL <= 0 {
		r.LeaseTTL = DefaultLeaseTTL
	}
	if r.CheckpointEvery <= 0 {
		r.CheckpointEvery = 25
	}
	if r.CheckpointAfter <= 0 {
		r.CheckpointAfter = 10 * time.Second
	}
	if r.Poll <= 0 {
		r.Poll = min(r.LeaseTTL/4, 5*time.Second)
	}
	if r.Grace <= 0 {
		r.Grace = DefaultGrace
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
}

// Run works until every shard of the run is done (or, without Linger, until
// nothing is left to claim). Cancelling stop makes it stop taking work,
// finish what is in flight within Grace, checkpoint, and return ErrStopped.
func (r *Runner) Run(stop context.Context) (Stats, error) {
	r.defaults()
	// work outlives stop by the grace period.
	work, cancelWork := context.WithCancel(context.WithoutCancel(stop))
	defer cancelWork()
	go func() {
		select {
		case <-stop.Done():
			select {
			case <-time.After(r.Grace):
				cancelWork()
			case <-work.Done():
			}
		case <-work.Done():
		}
	}()

	var st Stats
	run, err := r.Store.LoadRun(work, r.RunID)
	if err != nil {
		return st, err
	}
	lea := &Leaser{Store: r.Store, RunID: run.ID, Me: r.Me, TTL: r.LeaseTTL, Now: r.Now}
	width := r.Me.ArraySize
	if width <= 0 {
		width = 1
	}
	log := r.Log // the caller puts runId, arrayIndex and attempt on it

	// Own slots first: i, i+W, i+2W …
	tried := map[int]bool{}
	for n := r.Me.Index; n < run.Shards; n += width {
		if stop.Err() != nil {
			break
		}
		tried[n] = true
		if err := r.tryShard(stop, work, run, lea, n, &st, log); err != nil {
			return st, err
		}
	}
	// Then steal whatever is unclaimed or expired, until all are done.
	for stop.Err() == nil {
		state, err := r.scan(work, run)
		if err != nil {
			return st, err
		}
		if state.done == run.Shards {
			break
		}
		progressed := false
		for _, n := range state.claimable(r.Now(), r.LeaseTTL) {
			if stop.Err() != nil {
				break
			}
			before := st.Shards
			if err := r.tryShard(stop, work, run, lea, n, &st, log); err != nil {
				return st, err
			}
			progressed = progressed || st.Shards > before
		}
		if progressed {
			continue
		}
		if !r.Linger {
			break
		}
		select {
		case <-stop.Done():
		case <-time.After(r.Poll):
		}
	}
	if stop.Err() != nil {
		st.Stopped = true
		log.Info("stopped on request", "shards", st.Shards)
		return st, ErrStopped
	}
	fin, err := r.finalizeIfComplete(work, run, log)
	if err != nil {
		return st, err
	}
	st.Finalized = fin
	return st, nil
}

// tryShard claims and processes shard n if it is neither done nor held.
func (r *Runner) tryShard(stop, work context.Context, run *imgbatch.Run, lea *Leaser, n int, st *Stats, log *slog.Logger) error {
	lay := imgbatch.Layout{RunID: run.ID}
	done, err := r.Store.Exists(work, lay.Done(n))
	if err != nil || done {
		return err
	}
	lease, err := lea.Acquire(work, n)
	if err != nil || lease == nil {
		return err
	}
	// The shard may have finished between our check and our claim.
	if done, err := r.Store.Exists(work, lay.Done(n)); err != nil || done {
		return err
	}
	slog := log.With("shard", n, "epoch", lease.Epoch)
	slog.Info("shard claimed")
	m, err := r.processShard(stop, work, run, lea, lease, slog)
	switch {
	case errors.Is(err, ErrLeaseLost):
		slog.Warn("lease lost; another child finishes this shard")
		return nil
	case errors.Is(err, ErrStopped):
		return nil
	case err != nil:
		return err
	}
	st.Shards++
	if m != nil {
		st.Counts.Merge(m.Counts)
	}
	return nil
}

// processShard runs one claimed shard to its done marker.
func (r *Runner) processShard(stop, work context.Context, run *imgbatch.Run, lea *Leaser, lease *Lease, log *slog.Logger) (*DoneMarker, error) {
	lay := imgbatch.Layout{RunID: run.ID}
	started := r.Now()
	items, err := r.Store.LoadShard(work, run.ID, lease.Shard)
	if err != nil {
		return nil, err
	}
	cp := &checkpointer{store: r.Store, key: lay.Progress(lease.Shard), epoch: lease.Epoch, owner: lease.Owner, now: r.Now}
	prev, err := cp.load(work)
	if err != nil {
		return nil, err
	}
	results := map[int]imgbatch.Result{}
	if prev != nil {
		if prev.Epoch > lease.Epoch {
			return nil, ErrLeaseLost
		}
		for _, res := range prev.Results {
			results[res.Index] = res
		}
		if len(results) > 0 {
			log.Info("resuming from checkpoint", "done", len(results), "items", len(items))
		}
	}

	// Heartbeat: renew the lease until the shard ends; a lost lease stops it.
	shardCtx, cancelShard := context.WithCancel(work)
	defer cancelShard()
	var lost error
	var lostMu sync.Mutex
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		t := time.NewTicker(r.LeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-shardCtx.Done():
				return
			case <-t.C:
				if err := lea.Renew(shardCtx, lease); err != nil {
					if shardCtx.Err() != nil {
						return
					}
					lostMu.Lock()
					lost = err
					lostMu.Unlock()
					log.Warn("lease renewal failed", "err", err)
					if errors.Is(err, ErrLeaseLost) {
						cancelShard()
						return
					}
				}
			}
		}
	}()
	defer func() { cancelShard(); <-hbDone }()

	tasks := make(chan Task)
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
			case tasks <- Task{Index: i, Item: it}:
			case <-stop.Done():
				return
			case <-shardCtx.Done():
				return
			}
		}
	}()

	sinceCP := 0
	lastCP := r.Now()
	var cpErr error
	for res := range resCh {
		results[res.Index] = res
		sinceCP++
		if cpErr == nil && (sinceCP >= r.CheckpointEvery || r.Now().Sub(lastCP) >= r.CheckpointAfter) {
			if err := cp.save(shardCtx, results); err != nil {
				cpErr = err
				cancelShard()
				continue
			}
			sinceCP, lastCP = 0, r.Now()
		}
	}
	if err := <-procErr; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("shard %d: %w", lease.Shard, err)
	}
	lostMu.Lock()
	hbErr := lost
	lostMu.Unlock()
	if errors.Is(cpErr, ErrLeaseLost) || errors.Is(hbErr, ErrLeaseLost) {
		return nil, ErrLeaseLost
	}
	if cpErr != nil {
		return nil, cpErr
	}
	// Save what we have (also when stopping early: the next attempt resumes).
	if err := cp.save(work, results); err != nil {
		return nil, err
	}
	if len(results) < len(items) {
		if stop.Err() != nil || work.Err() != nil {
			return nil, ErrStopped
		}
		return nil, fmt.Errorf("shard %d: processor returned %d of %d results", lease.Shard, len(results), len(items))
	}

	rs := sortedResults(results)
	m := DoneMarker{Shard: lease.Shard, Epoch: lease.Epoch, Owner: lease.Owner, Results: lay.Results(lease.Shard, lease.Epoch),
		StartedAt: started.UTC(), FinishedAt: r.Now().UTC()}
	m.DurationMs = m.FinishedAt.Sub(m.StartedAt).Milliseconds()
	for _, res := range rs {
		m.Counts.Add(res)
	}
	if _, err := r.Store.Put(work, m.Results, encodeResults(rs), "application/x-ndjson", Cond{}); err != nil {
		return nil, err
	}
	if _, err := r.Store.PutJSON(work, lay.Done(lease.Shard), m, Cond{IfNoneMatch: true}); err != nil {
		if errors.Is(err, ErrConflict) {
			log.Info("shard was finished by another child first")
			return nil, nil
		}
		return nil, err
	}
	log.Info("shard done", "succeeded", m.Counts.Succeeded, "failed", m.Counts.Failed, "skipped", m.Counts.Skipped, "ms", m.DurationMs)
	if r.Notifier != nil {
		if err := r.Notifier.ShardCompleted(work, run, m); err != nil {
			log.Warn("shard event not sent; it is re-sent at finalization", "err", err)
		}
	}
	return &m, nil
}

// runState is a listing of a run's claims and done markers.
type runState struct {
	done    int
	isDone  map[int]bool
	claimed map[int]time.Time // shard -> last renewal (S3 LastModified of the claim)
	shards  int
}

func shardOf(key string) (int, bool) {
	base := key[strings.LastIndexByte(key, '/')+1:]
	base = strings.TrimSuffix(base, ".json")
	n, err := strconv.Atoi(base)
	return n, err == nil
}

func (r *Runner) scan(ctx context.Context, run *imgbatch.Run) (*runState, error) {
	lay := imgbatch.Layout{RunID: run.ID}
	st := &runState{isDone: map[int]bool{}, claimed: map[int]time.Time{}, shards: run.Shards}
	if err := r.Store.List(ctx, lay.DonePrefix(), func(key string, _ int64) error {
		if n, ok := shardOf(key); ok {
			st.isDone[n] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	st.done = len(st.isDone)
	if err := r.Store.ListDetailed(ctx, lay.Prefix()+"claims/", func(key string, mod time.Time) error {
		if n, ok := shardOf(key); ok {
			st.claimed[n] = mod
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return st, nil
}

// claimable lists shards not done whose claim is missing or looks expired
// (Acquire checks the lease itself before taking it).
func (s *runState) claimable(now time.Time, ttl time.Duration) []int {
	var out []int
	for n := 0; n < s.shards; n++ {
		if s.isDone[n] {
			continue
		}
		mod, ok := s.claimed[n]
		if !ok || now.Sub(mod) > ttl {
			out = append(out, n)
		}
	}
	return out
}
