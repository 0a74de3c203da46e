package worker

import (
	"bytes"
	"context"
	"testing"

	"github.com/imgbatch/imgbatch"
)

// Encoder options travel from the recipe to the uploaded bytes, and are
// in the recipe's hash: changing one re-renders on an incremental run.
func TestEncoderOptionsThroughTheWorker(t *testing.T) {
	s := newTestS3(t, "src", "out")
	w := newTestWorker(s, Config{Incremental: true})
	s.put(t, "src", "a.jpg", photo(t, 320, 240, false))
	its := items("src", "a.jpg")
	variants := func(progressive bool) []imgbatch.Variant {
		return []imgbatch.Variant{
			{Name: "web", Width: 160, Format: imgbatch.FormatJPEG, Encoder: &imgbatch.EncoderOptions{Progressive: progressive}},
			{Name: "wide", Width: 96, Format: imgbatch.FormatWebP, Encoder: &imgbatch.EncoderOptions{ICC: imgbatch.ICCP3, Effort: encEffort(6)}},
		}
	}
	run := testRun(t, variants(true)...)
	o := processAll(t, context.Background(), w, run, its)
	r := o.results[0]
	if o.err != nil || r.Status != imgbatch.StatusSucceeded || len(r.Outputs) != 2 {
		t.Fatalf("first run: %v %+v", o.err, r)
	}
	jpg, webp := s.get(t, "out", r.Outputs[0].Key), s.get(t, "out", r.Outputs[1].Key)
	if !bytes.Contains(jpg, []byte{0xFF, 0xC2}) {
		t.Errorf("web: no SOF2 marker in %d bytes: not progressive", len(jpg))
	}
	if !bytes.Contains(webp[:64], []byte("ICCP")) {
		t.Errorf("wide: no ICCP chunk: the P3 profile was not kept")
	}
	if o := processAll(t, context.Background(), w, run, its); o.results[0].Status != imgbatch.StatusSkipped {
		t.Errorf("same recipe again: %s, want skipped", o.results[0].Status)
	}
	run2 := testRun(t, variants(false)...)
	if run2.RecipeHash == run.RecipeHash {
		t.Fatal("progressive on and off hash the same")
	}
	o = processAll(t, context.Background(), w, run2, its)
	if o.results[0].Status != imgbatch.StatusSucceeded {
		t.Fatalf("progressive off: %s, want rendered again", o.results[0].Status)
	}
	if jpg := s.get(t, "out", o.results[0].Outputs[0].Key); bytes.Contains(jpg, []byte{0xFF, 0xC2}) {
		t.Errorf("progressive off: still progressive")
	}
}

func encEffort(n int) *int { return &n }
