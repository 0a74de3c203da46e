package batch

import (
	"context"
	"sort"
	"time"

	"github.com/imgbatch/imgbatch"
)

// ShardStatus is the state of one shard.
type ShardStatus struct {
	Shard  int    `json:"shard"`
	State  string `json:"state"` // pending, running, done
	Owner  string `json:"owner,omitempty"`
	Epoch  int64  `json:"epoch,omitempty"`
	Done   int    `json:"done"` // items with a result
	Failed int    `json:"failed"`
}

// RunStatus is a run's progress as read from the work bucket.
type RunStatus struct {
	Run       imgbatch.Run    `json:"run"`
	Counts    imgbatch.Counts `json:"counts"` // items with a result so far
	Shards    []ShardStatus   `json:"shards"`
	Pending   int             `json:"pendingShards"`
	Running   int             `json:"runningShards"`
	DoneCount int             `json:"doneShards"`
	Final     *Final          `json:"final,omitempty"`
	Failures  []FailureGroup  `json:"failures,omitempty"`
	Elapsed   time.Duration   `json:"elapsedNs"`
	PerSecond float64         `json:"itemsPerSecond"`
	ETA       time.Duration   `json:"etaNs,omitempty"`
}

// Status reads the progress of a run: done markers, claims and
// checkpoints. It costs one GET per unfinished shard, so it suits people and
// dashboards rather than hot loops.
func (s *Store) Status(ctx context.Context, runID string, now time.Time) (*RunStatus, error) {
	run, err := s.LoadRun(ctx, runID)
	if err != nil {
		return nil, err
	}
	lay := imgbatch.Layout{RunID: runID}
	st := &RunStatus{Run: *run}
	var fin Final
	if _, err := s.GetJSON(ctx, lay.Final(), &fin); err == nil {
		st.Final = &fin
		var sum Summary
		if _, err := s.GetJSON(ctx, lay.Summary(), &sum); err == nil {
			st.Failures = sum.Failures
		}
	} else if !IsNotFound(err) {
		return nil, err
	}
	done := map[int]bool{}
	if err := s.List(ctx, lay.DonePrefix(), func(key string, _ int64) error {
		if n, ok := shardOf(key); ok {
			done[n] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	claimed := map[int]bool{}
	if err := s.List(ctx, lay.Prefix()+"claims/", func(key string, _ int64) error {
		if n, ok := shardOf(key); ok {
			claimed[n] = true
		}
		return nil
	}); err != nil {
		return nil, err
	}
	groups := map[string]*FailureGroup{}
	for n := 0; n < run.Shards; n++ {
		ss := ShardStatus{Shard: n, State: "pending"}
		var results []imgbatch.Result
		switch {
		case done[n]:
			ss.State = "done"
			m, err := s.LoadDone(ctx, runID, n)
			if err != nil {
				return nil, err
			}
			ss.Owner, ss.Epoch = m.Owner, m.Epoch
			st.Counts.Merge(m.Counts)
			ss.Done, ss.Failed = int(m.Counts.Items), int(m.Counts.Failed)
			if st.Final == nil && m.Counts.Failed > 0 {
				if results, err = s.ReadResults(ctx, m.Results); err != nil {
					return nil, err
				}
			}
			st.DoneCount++
		case claimed[n]:
			ss.State = "running"
			var l Lease
			if _, err := s.GetJSON(ctx, lay.Claim(n), &l); err == nil {
				ss.Owner, ss.Epoch = l.Owner, l.Epoch
			}
			var p Progress
			if _, err := s.GetJSON(ctx, lay.Progress(n), &p); err == nil {
				results = p.Results
				ss.Done = len(p.Results)
			}
			for _, r := range p.Results {
				st.Counts.Add(r)
				if r.Status == imgbatch.StatusFailed {
					ss.Failed++
				}
			}
			st.Running++
		default:
			st.Pending++
		}
		if st.Final == nil {
			for _, r := range results {
				if r.Status != imgbatch.StatusFailed {
					continue
				}
				g := groups[r.ErrorCode]
				if g == nil {
					g = &FailureGroup{ErrorCode: r.ErrorCode, Example: r.Message}
					groups[r.ErrorCode] = g
				}
				g.Count++
				if len(g.Keys) < 5 {
					g.Keys = append(g.Keys, r.Item.Key)
				}
			}
		}
		st.Shards = append(st.Shards, ss)
	}
	if st.Final == nil {
		for _, g := range groups {
			st.Failures = append(st.Failures, *g)
		}
		sort.Slice(st.Failures, func(i, j int) bool { return st.Failures[i].Count > st.Failures[j].Count })
	}
	end := now
	if st.Final != nil {
		end = st.Final.FinishedAt
		st.Counts = st.Final.Counts
	}
	st.Elapsed = end.Sub(run.CreatedAt)
	if st.Elapsed > 0 {
		st.PerSecond = float64(st.Counts.Items) / st.Elapsed.Seconds()
	}
	if st.Final == nil && st.PerSecond > 0 {
		left := run.Items - st.Counts.Items
		st.ETA = time.Duration(float64(left) / st.PerSecond * float64(time.Second))
	}
	return st, nil
}
