package batch

import (
	"context"
	"time"

	"github.com/imgbatch/imgbatch"
)

// ShardStatus is the state of one shard.
type ShardStatus struct {
	Shard  int    `json:"shard"`
	State  string `json:"state"` // pending, running, stalled (lease expired), done
	Owner  string `json:"owner,omitempty"`
	Epoch  int64  `json:"epoch,omitempty"`
	Done   int    `json:"done"` // items with a result
	Failed int    `json:"failed"`
}

// RunStatus is a run's progress as read from the work bucket.
type RunStatus struct {
	Run       imgbatch.Run    `json:"run"`
	Counts    imgbatch.Counts `json:"counts"` // items with a result so far
	Shards    []ShardStatus   `json:"shards,omitempty"`
	Pending   int             `json:"pendingShards"`
	Running   int             `json:"runningShards"`
	Stalled   int             `json:"stalledShards,omitempty"` // claimed, lease expired (read only with Detail)
	DoneCount int             `json:"doneShards"`
	Final     *Final          `json:"final,omitempty"`
	Failures  []FailureGroup  `json:"failures,omitempty"`
	Elapsed   time.Duration   `json:"elapsedNs"`
	PerSecond float64         `json:"itemsPerSecond"`
	ETA       time.Duration   `json:"etaNs,omitempty"`
	// State tells the run's situation apart (see state.go) and Hint says
	// what to do next, in one line.
	State        string    `json:"state"`
	Hint         string    `json:"hint"`
	Control      *Control  `json:"control,omitempty"`
	LastActivity time.Time `json:"lastActivity,omitzero"` // newest lease renewal or done marker
}

// Status reads the progress of a run once (see StatusReader).
func (s *Store) Status(ctx context.Context, runID string, now time.Time) (*RunStatus, error) {
	return (&StatusReader{Store: s, RunID: runID, Detail: true}).Status(ctx, now)
}

// StatusReader reads a run's progress, again and again for a watch: done
// markers are write-once, so each is read only once, and a refresh costs
// two LIST requests per thousand shards plus one GET per running shard
// (two with Detail). A finished run costs a few GETs (its per-shard list
// only with Detail).
type StatusReader struct {
	Store  *Store
	RunID  string
	Detail bool // per-shard states, owners and epochs (one more GET per running shard)
	// StallAfter is how long an unfinished run may go without a lease
	// renewed or a shard done before it is "stalled" (default 3 × DefaultLeaseTTL).
	StallAfter time.Duration

	run  *imgbatch.Run
	done map[int]*doneStatus
}

// doneStatus is what a done shard contributes to a status.
type doneStatus struct {
	marker   DoneMarker
	failures map[string]*FailureGroup // read once, only for shards with failures
}

// Status reads the run's progress now.
func (sr *StatusReader) Status(ctx context.Context, now time.Time) (*RunStatus, error) {
	if err := sr.loadRun(ctx); err != nil {
		return nil, err
	}
	run := sr.run
	st := &RunStatus{Run: *run}
	if err := sr.readFinal(ctx, st); err != nil {
		return nil, err
	}
	defer func() { st.classify(sr.stallAfter(), now) }()
	if st.Final == nil {
		ctl, _, err := sr.Store.LoadControl(ctx, run.ID)
		if err != nil {
			return nil, err
		}
		st.Control = ctl
	}
	if st.Final != nil && !sr.Detail {
		st.finish(run, st.Final.FinishedAt)
		return st, nil
	}
	done, err := sr.listShards(ctx, "done", st)
	if err != nil {
		return nil, err
	}
	claimed := map[int]bool{}
	if st.Final == nil {
		if claimed, err = sr.listShards(ctx, "claims", st); err != nil {
			return nil, err
		}
	}
	t := &tally{groups: map[string]*FailureGroup{}}
	st.DoneCount = 0
	for n := 0; n < run.Shards; n++ {
		ss, err := sr.shardStatus(ctx, st, t, n, done[n], claimed[n], now)
		if err != nil {
			return nil, err
		}
		if sr.Detail {
			st.Shards = append(st.Shards, ss)
		}
	}
	if st.Final != nil {
		st.finish(run, st.Final.FinishedAt)
		return st, nil
	}
	st.Counts = t.counts
	for _, g := range t.groups {
		st.Failures = append(st.Failures, *g)
	}
	sortFailures(st.Failures)
	st.finish(run, now)
	return st, nil
}

// loadRun reads run.json the first time.
func (sr *StatusReader) loadRun(ctx context.Context) error {
	if sr.run != nil {
		return nil
	}
	run, err := sr.Store.LoadRun(ctx, sr.RunID)
	if err != nil {
		return err
	}
	sr.run, sr.done = run, map[int]*doneStatus{}
	return nil
}

// readFinal fills in st from final.json and summary.json once the run is
// finalized.
func (sr *StatusReader) readFinal(ctx context.Context, st *RunStatus) error {
	lay := imgbatch.LayoutOf(sr.run)
	var fin Final
	if _, err := sr.Store.GetJSON(ctx, lay.Final(), &fin); err != nil {
		if IsNotFound(err) {
			return nil
		}
		return err
	}
	st.Final = &fin
	var sum Summary
	if _, err := sr.Store.GetJSON(ctx, lay.Summary(), &sum); err == nil {
		st.Failures = sum.Failures
	}
	st.Counts = fin.Counts
	st.DoneCount = sr.run.Shards
	return nil
}

// listShards lists the shard numbers of the keys under prefix, keeping the
// newest write in st.LastActivity (a lease renewal rewrites its claim).
func (sr *StatusReader) listShards(ctx context.Context, part string, st *RunStatus) (map[int]bool, error) {
	ns := map[int]bool{}
	err := sr.Store.eachShardObject(ctx, sr.run, part, func(n int, mod time.Time) {
		ns[n] = true
		if mod.After(st.LastActivity) {
			st.LastActivity = mod
		}
	})
	return ns, err
}

// tally sums the results seen by a status read of an unfinished run.
type tally struct {
	counts imgbatch.Counts
	groups map[string]*FailureGroup
}

// shardStatus is the state of shard n, counted in st and t.
func (sr *StatusReader) shardStatus(ctx context.Context, st *RunStatus, t *tally, n int, done, claimed bool, now time.Time) (ShardStatus, error) {
	ss := ShardStatus{Shard: n, State: "pending"}
	switch {
	case done:
		ds, err := sr.loadDone(ctx, n, st.Final == nil)
		if err != nil {
			return ss, err
		}
		m := ds.marker
		ss.State, ss.Owner, ss.Epoch = "done", m.Owner, m.Epoch
		ss.Done, ss.Failed = int(m.Counts.Items), int(m.Counts.Failed)
		t.counts.Merge(m.Counts)
		for _, g := range ds.failures {
			mergeGroup(t.groups, *g)
		}
		st.DoneCount++
	case claimed:
		if err := sr.runningStatus(ctx, &ss, t, now); err != nil {
			return ss, err
		}
		if ss.State == "stalled" {
			st.Stalled++
		} else {
			st.Running++
		}
	default:
		st.Pending++
	}
	return ss, nil
}

// runningStatus reads a claimed shard's lease (with Detail: running or
// stalled) and its checkpoint.
func (sr *StatusReader) runningStatus(ctx context.Context, ss *ShardStatus, t *tally, now time.Time) error {
	lay := imgbatch.LayoutOf(sr.run)
	ss.State = "running"
	if sr.Detail {
		var l Lease
		if _, err := sr.Store.GetJSON(ctx, lay.Claim(ss.Shard), &l); err == nil {
			ss.Owner, ss.Epoch = l.Owner, l.Epoch
			if now.After(l.ExpiresAt) {
				ss.State = "stalled"
			}
		}
	}
	var p Progress
	if _, err := sr.Store.GetJSON(ctx, lay.Progress(ss.Shard), &p); err != nil {
		if IsNotFound(err) {
			return nil
		}
		return err
	}
	ss.Done = len(p.Results)
	for _, r := range p.Results {
		t.counts.Add(r)
		if r.Status == imgbatch.StatusFailed {
			ss.Failed++
			addFailure(t.groups, r)
		}
	}
	return nil
}

// finish fills in the rates.
func (st *RunStatus) finish(run *imgbatch.Run, end time.Time) {
	st.Elapsed = end.Sub(run.CreatedAt)
	if st.Elapsed > 0 {
		st.PerSecond = float64(st.Counts.Items) / st.Elapsed.Seconds()
	}
	if st.Final == nil && st.PerSecond > 0 {
		left := run.Items - st.Counts.Items
		st.ETA = time.Duration(float64(left) / st.PerSecond * float64(time.Second))
	}
}

// loadDone reads the done marker of shard n once, and the failures of its
// results when it has any and they are wanted.
func (sr *StatusReader) loadDone(ctx context.Context, n int, failures bool) (*doneStatus, error) {
	if ds := sr.done[n]; ds != nil && (ds.failures != nil || !failures || ds.marker.Counts.Failed == 0) {
		return ds, nil
	}
	ds := sr.done[n]
	if ds == nil {
		m, err := sr.Store.LoadDoneAt(ctx, imgbatch.LayoutOf(sr.run), n)
		if err != nil {
			return nil, err
		}
		ds = &doneStatus{marker: *m}
		sr.done[n] = ds
	}
	if failures && ds.marker.Counts.Failed > 0 {
		rs, err := sr.Store.ReadResults(ctx, ds.marker.Results)
		if err != nil {
			return nil, err
		}
		ds.failures = map[string]*FailureGroup{}
		for _, r := range rs {
			if r.Status == imgbatch.StatusFailed {
				addFailure(ds.failures, r)
			}
		}
	}
	return ds, nil
}
