package vips

import (
	"bytes"
	"math"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/imgbatch/imgbatch"
)

// withBounds sets the search's work budget and wall-clock safety net for
// one test.
func withBounds(t *testing.T, work float64, wallMs int) {
	t.Helper()
	oldWork, oldWall := searchWork, searchWallMs
	searchWork, searchWallMs = work, wallMs
	t.Cleanup(func() { searchWork, searchWallMs = oldWork, oldWall })
}

// busy keeps every core spinning until the test ends.
func busy(t *testing.T) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 2*runtime.NumCPU(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 1.0
			for !stop.Load() {
				for k := 0; k < 1e5; k++ {
					x = x*1.0000001 + 1e-9
				}
			}
			_ = x
		}()
	}
	t.Cleanup(func() { stop.Store(true); wg.Wait() })
}

// TestSearchBudgetDeterministic: when the work budget bounds a search
// (format auto: AVIF, WebP, JPEG), the same image and variant make the
// same probes and the same bytes on a quiet and on a saturated machine;
// when the wall clock (made 1 ms) stops it instead, the result says so.
func TestSearchBudgetDeterministic(t *testing.T) {
	src := searchPhotos(t, 1)[0]
	v := imgbatch.Variant{Name: "d", Width: 640, Height: 640, Format: imgbatch.FormatAuto,
		Formats: imgbatch.DefaultFormats, Target: target(0.98)}
	withBounds(t, 1e9, 1e9)
	free := renderOne(t, src, v)
	t.Logf("unbounded: %s q%d, %d probes, work %.0f", free.Format, free.Quality, free.Probes, free.Work)
	if free.TimeCut || free.Probes < 3 {
		t.Fatalf("precondition: unbounded search cut %v after %d probes; want >= 3 probes, uncut", free.TimeCut, free.Probes)
	}
	withBounds(t, free.Work/2, 1e9)
	quiet := renderOne(t, src, v)
	busy(t)
	loaded := renderOne(t, src, v)
	t.Logf("budget %.0f: %s q%d, %d probes, work %.0f; loaded: %d probes", searchWork, quiet.Format, quiet.Quality, quiet.Probes, quiet.Work, loaded.Probes)
	if quiet.Probes >= free.Probes || quiet.TimeCut {
		t.Errorf("budget %.0f: %d probes (unbounded %d), time cut %v; want the budget to bound it", searchWork, quiet.Probes, free.Probes, quiet.TimeCut)
	}
	if !bytes.Equal(quiet.Data, loaded.Data) || quiet.Probes != loaded.Probes || quiet.Work != loaded.Work || loaded.TimeCut {
		t.Errorf("busy machine: %d bytes, %d probes, work %.0f, cut %v; quiet: %d bytes, %d probes, work %.0f",
			len(loaded.Data), loaded.Probes, loaded.Work, loaded.TimeCut, len(quiet.Data), quiet.Probes, quiet.Work)
	}
	withBounds(t, 1e9, 1)
	cut := renderOne(t, src, v)
	if !cut.TimeCut || cut.Probes >= free.Probes || cut.Score < 0.98 {
		t.Errorf("1 ms wall: cut %v after %d probes, score %.4f; want a passing output marked cut", cut.TimeCut, cut.Probes, cut.Score)
	}
}

// TestSearchBudgetBoundsAVIF: an AVIF search of a 4 MP output stops at
// the probes its work budget allows: once an output passed, no probe
// starts that would take the work past the budget, so the work left is
// less than one more probe (at most 1130 a megapixel: AVIF effort 2 at
// q100, search.c probe_cost).
func TestSearchBudgetBoundsAVIF(t *testing.T) {
	src := searchPhotos(t, 1)[0]
	v := imgbatch.Variant{Name: "a", Width: 2560, Height: 2560, Format: imgbatch.FormatAVIF, Target: target(0.95)}
	withBounds(t, 1e9, 1e9)
	free := renderOne(t, src, v)
	perProbe := free.Work / float64(free.Probes)
	t.Logf("unbounded: q%d, %d probes, work %.0f (%.0f a probe, %dx%d)", free.Quality, free.Probes, free.Work, perProbe, free.Width, free.Height)
	if free.Probes < 3 {
		t.Fatalf("precondition: %d probes unbounded; want >= 3", free.Probes)
	}
	withBounds(t, 2.5*perProbe, 1e9)
	r := renderOne(t, src, v)
	maxProbe := float64(r.Width*r.Height) / 1e6 * 1130
	t.Logf("budget %.0f: q%d, %d probes, work %.0f, score %.4f", searchWork, r.Quality, r.Probes, r.Work, r.Score)
	if r.Probes >= free.Probes || r.Work > searchWork || searchWork-r.Work >= maxProbe || r.TimeCut || r.Score < 0.95 {
		t.Errorf("budget %.0f: %d probes (unbounded %d), work %.0f, cut %v, score %.4f; want fewer probes, within the budget by less than a probe (%.0f), passing",
			searchWork, r.Probes, free.Probes, r.Work, r.TimeCut, r.Score, maxProbe)
	}
}

// probeScores runs fn with search.c's probe trace (IMGB_SEARCH_DEBUG) on
// stderr captured, and returns the SSIM of every probe it printed.
func probeScores(t *testing.T, fn func()) []float64 {
	t.Helper()
	if err := os.Setenv("IMGB_SEARCH_DEBUG", "1"); err != nil {
		t.Fatal(err)
	}
	defer os.Unsetenv("IMGB_SEARCH_DEBUG")
	f, err := os.CreateTemp(t.TempDir(), "trace")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { syscall.Dup3(saved, 2, 0); syscall.Close(saved) }()
		fn()
	}()
	trace, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	var scores []float64
	for _, m := range regexp.MustCompile(`ssim ([0-9.]+), work`).FindAllSubmatch(trace, -1) {
		x, _ := strconv.ParseFloat(string(m[1]), 64)
		scores = append(scores, x)
	}
	return scores
}

// TestSearchBudgetBeforePass: a target only AVIF near q100 meets on a
// 2560x1600 photo (JPEG tops out at ~0.9994), under a budget smaller than
// one AVIF probe at q100 (1130 a megapixel, search.c probe_cost): the
// budget stops the search although no output passed (JPEG q100, then
// WebP, fail; AVIF is never encoded); the output is the closest probe
// (the highest SSIM) with its real score, marked BudgetCut, the same
// bytes on a busy machine. Under a budget of 1 the first probe still
// runs, alone, over the budget.
func TestSearchBudgetBeforePass(t *testing.T) {
	src := searchPhotos(t, 1)[0]
	const ssim = 0.9995
	v := imgbatch.Variant{Name: "h", Width: 2560, Height: 2560, Format: imgbatch.FormatAuto, Formats: imgbatch.DefaultFormats,
		Target: &imgbatch.QualityTarget{SSIM: ssim, MinQuality: 30, MaxQuality: 100}}
	withBounds(t, 1e9, 1e9)
	free := renderOne(t, src, v)
	t.Logf("unbounded: %s q%d %.4f, %d probes, work %.0f", free.Format, free.Quality, free.Score, free.Probes, free.Work)
	if free.Score < ssim || free.BudgetCut || free.TimeCut {
		t.Fatalf("precondition: unbounded %s q%d scores %.4f (cut %v/%v); want the target met", free.Format, free.Quality, free.Score, free.BudgetCut, free.TimeCut)
	}
	withBounds(t, float64(free.Width*free.Height)/1e6*1130-1, 1e9)
	var quiet Result
	scores := probeScores(t, func() { quiet = renderOne(t, src, v) })
	t.Logf("budget %.0f: %s q%d %.4f, %d probes, work %.0f, scores %v", searchWork, quiet.Format, quiet.Quality, quiet.Score, quiet.Probes, quiet.Work, scores)
	if !quiet.BudgetCut || quiet.TimeCut || quiet.Score >= ssim || quiet.Score <= 0.5 || quiet.Work > searchWork || quiet.Probes >= free.Probes {
		t.Errorf("budget %.0f: %s q%d %.4f, %d probes, work %.0f, budget cut %v, time cut %v; want the closest output, fewer probes, within the budget, marked budget cut",
			searchWork, quiet.Format, quiet.Quality, quiet.Score, quiet.Probes, quiet.Work, quiet.BudgetCut, quiet.TimeCut)
	}
	if len(scores) != quiet.Probes || len(scores) == 0 || slices.Max(scores) != math.Round(quiet.Score*1e4)/1e4 {
		t.Errorf("probe trace %v (%d probes reported); want the output's score %.4f the highest", scores, quiet.Probes, quiet.Score)
	}
	busy(t)
	loaded := renderOne(t, src, v)
	if !bytes.Equal(quiet.Data, loaded.Data) || quiet.Probes != loaded.Probes || quiet.Work != loaded.Work || !loaded.BudgetCut || loaded.TimeCut {
		t.Errorf("busy machine: %d bytes, %d probes, work %.0f, cut %v/%v; quiet: %d bytes, %d probes, work %.0f",
			len(loaded.Data), loaded.Probes, loaded.Work, loaded.BudgetCut, loaded.TimeCut, len(quiet.Data), quiet.Probes, quiet.Work)
	}
	withBounds(t, 1, 1e9)
	one := renderOne(t, src, v)
	if one.Probes != 1 || one.Work <= 1 || !one.BudgetCut || len(one.Data) == 0 {
		t.Errorf("budget 1: %d probes, work %.0f, budget cut %v, %d bytes; want the first probe alone, over the budget", one.Probes, one.Work, one.BudgetCut, len(one.Data))
	}
}
