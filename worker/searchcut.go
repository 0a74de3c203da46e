package worker

import (
	"fmt"
	"strings"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/vips"
)

// noteTimeCut records a variant whose quality search was stopped by its
// wall-clock safety net rather than its work budget (vips/search.c): its
// output is valid but not the one a quieter machine would write. It also
// records one whose work budget ran out before any output met the target
// (r.BudgetCut): the closest output is written, as for a target no q
// reaches, and the message says how close it came.
func (j *job) noteTimeCut(v imgbatch.Variant, r vips.Result) {
	if r.TimeCut {
		j.timeCut = append(j.timeCut, fmt.Sprintf("%s after %d probes", v.Name, r.Probes))
	}
	if r.BudgetCut {
		j.budgetCut = append(j.budgetCut, fmt.Sprintf("%s best SSIM %.4f at %s q%d", v.Name, r.Score, r.Format, r.Quality))
	}
}

// timeCutMessage adds to a result's message the variants whose search
// was cut short by time, so that a user sees which outputs depend on the
// machine's load (a rerun on a quieter machine may write other bytes).
func timeCutMessage(msg string, cut []string) string {
	if len(cut) == 0 {
		return msg
	}
	s := "search cut short by time (output depends on load): " + strings.Join(cut, "; ")
	if msg == "" {
		return s
	}
	return msg + "; " + s
}

// budgetCutMessage adds to a result's message the variants whose search
// ran out of work budget before meeting their target: their outputs are
// the closest found, the same on any machine.
func budgetCutMessage(msg string, cut []string) string {
	if len(cut) == 0 {
		return msg
	}
	s := "target not met within the search's work budget: " + strings.Join(cut, "; ")
	if msg == "" {
		return s
	}
	return msg + "; " + s
}
