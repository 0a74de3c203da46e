package worker

import (
	"fmt"
	"strings"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/vips"
)

// noteSearchCut records a variant whose quality search was stopped by its
// wall-clock safety net rather than its work budget (vips/search.c): its
// output is valid but not the one a quieter machine would write. It also
// records one whose work budget ran out before any output met the target
// (r.BudgetCut): the closest output is written, as for a target no q
// reaches, and the message says how close it came.
func (j *job) noteSearchCut(v imgbatch.Variant, r vips.Result) {
	if r.TimeCut {
		j.timeCut = append(j.timeCut, fmt.Sprintf("%s after %d probes", v.Name, r.Probes))
	}
	if r.BudgetCut {
		j.budgetCut = append(j.budgetCut, fmt.Sprintf("%s best SSIM %.4f at %s q%d", v.Name, r.Score, r.Format, r.Quality))
	}
}

// notes are what a succeeded item's message tells beside its outputs, in
// this order:
//   - keepSmallerSource outputs left bigger than their source;
//   - outputs of an earlier format choice left beside the new one: imgbatch
//     deletes nothing (the job role has no s3:DeleteObject on outputs), and
//     picture.jsonl names the current key;
//   - searches cut short by time: those outputs depend on the machine's
//     load (a rerun on a quieter machine may write other bytes);
//   - searches that ran out of work budget before meeting their target:
//     their outputs are the closest found, the same on any machine.
func (j *job) notes() []string {
	var out []string
	for _, n := range []struct {
		label, sep string
		items      []string
	}{
		{"bigger than its source: ", "; ", j.bigger},
		{"left outputs of an earlier format choice: ", ", ", j.stale},
		{"search cut short by time (output depends on load): ", "; ", j.timeCut},
		{"target not met within the search's work budget: ", "; ", j.budgetCut},
	} {
		if len(n.items) > 0 {
			out = append(out, n.label+strings.Join(n.items, n.sep))
		}
	}
	return out
}

// withNotes appends notes to msg, "; " between them.
func withNotes(msg string, notes []string) string {
	if msg != "" {
		notes = append([]string{msg}, notes...)
	}
	return strings.Join(notes, "; ")
}
