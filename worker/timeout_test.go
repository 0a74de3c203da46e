package worker

import (
	"testing"
	"time"

	"github.com/imgbatch/imgbatch"
)

// The default item deadline grows by SearchItemTimeout per variant that
// searches; a deadline the user set is kept as it is.
func TestItemTimeoutGrowsWithSearches(t *testing.T) {
	run := &imgbatch.Run{Recipe: imgbatch.Recipe{Variants: []imgbatch.Variant{
		{Name: "thumb", Width: 256, Format: imgbatch.FormatJPEG, Quality: 80},
		{Name: "web", Width: 1280, Format: imgbatch.FormatAuto, Formats: []string{"avif", "webp", "jpeg"}},
		{Name: "t", Width: 640, Format: imgbatch.FormatJPEG, Target: &imgbatch.QualityTarget{SSIM: 0.98}},
		{Name: "k", Width: 640, Format: imgbatch.FormatJPEG, Quality: 82, KeepSmallerSource: true},
	}}}
	var def Config
	def.defaults()
	if got, want := def.itemTimeout(run), DefaultItemTimeout+3*SearchItemTimeout; got != want {
		t.Errorf("default deadline of a run with 3 searching variants: %s, want %s", got, want)
	}
	if got := def.itemTimeout(&imgbatch.Run{Recipe: imgbatch.DefaultRecipe}); got != DefaultItemTimeout {
		t.Errorf("default recipe: %s, want %s", got, DefaultItemTimeout)
	}
	set := Config{ItemTimeout: 7 * time.Second}
	set.defaults()
	if got := set.itemTimeout(run); got != 7*time.Second {
		t.Errorf("--item-timeout 7s: %s, want it kept", got)
	}
}
