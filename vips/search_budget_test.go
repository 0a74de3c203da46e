package vips

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
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
