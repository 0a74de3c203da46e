package worker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// TestSearchCutAndCaps: the byte caps reach the encoder as a render
// option (the source's size for a keepSmallerSource variant, none for
// the others; the recipe's variants are handed over unchanged), and a
// variant whose search the wall clock stopped (vips.Result.TimeCut, set
// by search.c's safety net, see vips' TestSearchBudgetDeterministic) is
// named in the result's message.
func TestSearchCutAndCaps(t *testing.T) {
	s := newTestS3(t, "src", "out")
	src := photo(t, 400, 300, false)
	s.put(t, "src", "p.jpg", src)
	run := templRun(t,
		imgbatch.Variant{Name: "t", Width: 200, Format: imgbatch.FormatJPEG, Target: &imgbatch.QualityTarget{SSIM: 0.97}},
		imgbatch.Variant{Name: "k", Width: 300, Format: imgbatch.FormatJPEG, KeepSmallerSource: true})
	w := newTestWorker(s, Config{})
	var gotCaps []int64
	w.render = func(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, caps []int64, small bool) ([]vips.Result, *vips.Info, error) {
		gotCaps = slices.Clone(caps)
		if !slices.EqualFunc(vs, run.Recipe.Variants, func(a, b imgbatch.Variant) bool { return a.Name == b.Name }) {
			t.Errorf("variants %+v, want the recipe's", vs)
		}
		rs, facts, err := RenderWith(ctx, src, info, vs, caps, RenderOptions{}, small)
		if err == nil {
			rs[0].TimeCut = true
		}
		return rs, facts, err
	}
	r := succeeded(t, processAll(t, context.Background(), w, run, items("src", "p.jpg")), 1)[0]
	if want := []int64{0, int64(len(src))}; !slices.Equal(gotCaps, want) {
		t.Errorf("caps %v, want %v", gotCaps, want)
	}
	if !strings.Contains(r.Message, "search cut short by time (output depends on load): t after ") || strings.Contains(r.Message, "k after") {
		t.Errorf("message %q, want variant t named as cut short by time", r.Message)
	}
}

// TestSearchBudgetCutMessage: a variant whose search ran out of work
// budget before meeting its target (vips.Result.BudgetCut, set by
// search.c, see vips' TestSearchBudgetBeforePass) is written, and named
// in the result's message with the closest score found and its q.
func TestSearchBudgetCutMessage(t *testing.T) {
	s := newTestS3(t, "src", "out")
	s.put(t, "src", "p.jpg", photo(t, 400, 300, false))
	run := templRun(t,
		imgbatch.Variant{Name: "t", Width: 200, Format: imgbatch.FormatJPEG, Target: &imgbatch.QualityTarget{SSIM: 0.97}},
		imgbatch.Variant{Name: "u", Width: 300, Format: imgbatch.FormatJPEG, Target: &imgbatch.QualityTarget{SSIM: 0.97}})
	w := newTestWorker(s, Config{})
	var got vips.Result
	w.render = func(ctx context.Context, src []byte, info sniff.Info, vs []imgbatch.Variant, caps []int64, small bool) ([]vips.Result, *vips.Info, error) {
		rs, facts, err := RenderWith(ctx, src, info, vs, caps, RenderOptions{}, small)
		if err == nil {
			rs[0].BudgetCut = true
			got = rs[0]
		}
		return rs, facts, err
	}
	r := succeeded(t, processAll(t, context.Background(), w, run, items("src", "p.jpg")), 1)[0]
	want := fmt.Sprintf("target not met within the search's work budget: t best SSIM %.4f at jpeg q%d", got.Score, got.Quality)
	if got.Score == 0 || !strings.Contains(r.Message, want) || strings.Contains(r.Message, "u best") || strings.Contains(r.Message, "by time") {
		t.Errorf("message %q, want %q alone", r.Message, want)
	}
}
