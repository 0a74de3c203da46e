package batch

import (
	"fmt"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Run states of `imgbatch status`: what an operator needs told apart.
const (
	StateWaiting         = "waiting"          // planned, no shard claimed yet
	StateRunning         = "running"          // children renew leases and finish shards
	StateStalled         = "stalled"          // not final, and nothing written for StallAfter: no live child
	StatePaused          = "paused"           // imgbatch pause
	StateEnding          = "ending"           // cancel or abort written, final.json not yet
	StateCompleted       = "completed"        // final, within its tolerance
	StateFailedTolerance = "failed-tolerance" // final: the failure tolerance broke (maybe stopped early)
	StateCancelled       = "cancelled"        // final: imgbatch cancel
	StateDead            = "dead"             // final: the array's children failed (workers-failed)
	StateFailed          = "failed"           // final: failed for another reason
)

func (sr *StatusReader) stallAfter() time.Duration {
	if sr.StallAfter > 0 {
		return sr.StallAfter
	}
	return 3 * DefaultLeaseTTL
}

// classify sets State and Hint.
func (st *RunStatus) classify(stallAfter time.Duration, now time.Time) {
	id := st.Run.ID
	if f := st.Final; f != nil {
		st.State, st.Hint = finalState(f, id)
		return
	}
	last := st.LastActivity
	if last.IsZero() {
		last = st.Run.CreatedAt
	}
	switch {
	case st.Control != nil && st.Control.Action == ActionPause:
		st.State, st.Hint = StatePaused, "resume with: imgbatch resume "+id
	case st.Control.ends():
		st.State, st.Hint = StateEnding, "the run is being ended ("+st.Control.Action+"); if it stays so, run: imgbatch cancel "+id
	case st.LastActivity.IsZero():
		st.State, st.Hint = StateWaiting, "no shard claimed yet; a run planned with --via none starts with: imgbatch submit --client-token <its token>"
	case now.Sub(last) > stallAfter:
		st.State = StateStalled
		st.Hint = fmt.Sprintf("nothing written for %s: no child is alive; check the Batch job, start workers again (imgbatch work --run-id %s) or end it: imgbatch cancel %s",
			now.Sub(last).Round(time.Second), id, id)
	default:
		st.State, st.Hint = StateRunning, "watch it: imgbatch status --watch 5s "+id
	}
}

// finalState is the state and hint of a finished run.
func finalState(f *Final, id string) (string, string) {
	redrive := "imgbatch redrive " + id
	switch {
	case f.Status == RunCompleted && f.Counts.Failed > 0:
		return StateCompleted, fmt.Sprintf("done; to retry its %d failed items: %s --items failed", f.Counts.Failed, redrive)
	case f.Status == RunCompleted:
		return StateCompleted, "done: nothing to do"
	case f.Reason == imgbatch.ReasonTolerance && f.Remaining != "":
		return StateFailedTolerance, "stopped early: fix the cause (see failures), then redrive the remaining items: " + redrive + " (and the failed ones: --items failed)"
	case f.Reason == imgbatch.ReasonTolerance:
		return StateFailedTolerance, "fix the cause (see failures), then redrive the failed items: " + redrive
	case f.Reason == imgbatch.ReasonCancelled:
		return StateCancelled, "redrive the remaining items: " + redrive
	case f.Reason == imgbatch.ReasonWorkersFailed:
		return StateDead, "the array's children failed (see their logs); fix that, then redrive the remaining items: " + redrive
	}
	return StateFailed, "see the reason; redrive with: " + redrive
}
