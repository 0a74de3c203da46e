package htmlreport

import (
	"fmt"

	"github.com/imgbatch/imgbatch"
)

// Run states of the page's badge (its CSS class): a run that completed
// with failed items is a warning, not a success.
const (
	StateOK      = "ok"      // completed, nothing failed
	StateWarn    = "warn"    // completed with failed items
	StateFailed  = "failed"  // tolerance, cancelled, workers-failed
	StateRunning = "running" // not finalized
)

// outcome is the badge, the tolerance note and what to do next.
type outcome struct {
	State     string
	Label     string
	Tolerance string // beside the failed figure
	Hint      string // what to do next; empty for a clean run
	Redrive   string // the command the hint names
}

func outcomeOf(d Data) outcome {
	o := outcome{State: StateOK, Label: d.Status, Tolerance: toleranceNote(d)}
	redrive := "imgbatch redrive "
	if d.WorkBucket != "" {
		redrive += "--work-bucket " + d.WorkBucket + " "
	}
	switch {
	case d.Status == "running" || d.Status == "":
		o.State, o.Label = StateRunning, "running"
	case d.Status != "completed":
		o.State, o.Label = StateFailed, "failed"
		if d.Reason != "" {
			o.Label += ": " + d.Reason
		}
		if d.Reason == imgbatch.ReasonWorkersFailed {
			o.Hint = "The children's logs say why they failed (CloudWatch Logs; with imgbatch local, the data directory's logs/). "
		}
		if d.NotRun > 0 {
			o.Hint += fmt.Sprintf("%s items never ran: they are listed in %s. Once the cause is fixed, this starts them as a new run (add --items failed for the failed ones):", humanCount(d.NotRun), orDefault(d.Remaining, "remaining.csv"))
		} else {
			o.Hint += "Once the cause is fixed, this redrives the failed items (failed.csv) as a new run:"
		}
		o.Redrive = redrive + d.RunID
	case d.Counts.Failed > 0:
		o.State, o.Label = StateWarn, "completed with failures"
		o.Hint = fmt.Sprintf("%s items failed (by reason below; all in %s). Once the cause is fixed, this retries them as a new run:", humanCount(d.Counts.Failed), orDefault(d.FailedCSV, "failed.csv"))
		o.Redrive = redrive + d.RunID
	}
	return o
}

// toleranceNote says when failures fail the run: S3 Batch Operations'
// rule judges the failed share only from MinTasks items, so a small run
// whose items nearly all failed still completes. A run without failures
// needs no note.
func toleranceNote(d Data) string {
	t := d.Tolerance
	if t == (imgbatch.Tolerance{}) || d.Counts.Failed == 0 {
		return ""
	}
	var s string
	if t.MaxFailedPercent < 100 {
		s = fmt.Sprintf("The run fails when more than %g %% of its items fail, judged only from %s items", t.MaxFailedPercent, humanCount(t.MinTasks))
	} else {
		s = "No share of failed items fails the run"
	}
	if t.MaxFailed > 0 {
		s += fmt.Sprintf(", or when more than %s fail", humanCount(t.MaxFailed))
	}
	s += "."
	if d.Counts.Items < t.MinTasks && t.MaxFailedPercent < 100 {
		s += fmt.Sprintf(" This run has %s items, fewer than %s, so its share of failures is not judged.", humanCount(d.Counts.Items), humanCount(t.MinTasks))
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
