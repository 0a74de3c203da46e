package bench

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/worker"
)

// Options of a benchmark run.
type Options struct {
	Dataset string     // built-in name (photos, mixed, small) or directory
	Modes   []string   // imgbatch's cases: ImplProcess, ImplPipeline
	Compare []string   // baselines: ImplVipsthumbnail, ImplSharp
	Pools   []int      // pool sizes (goroutines, processes or operations in flight)
	Levers  [][]string // extra lever sets tried on imgbatch's cases
	Variant imgbatch.Variant
	// Recipes every case makes, in turn (default: RecipeSingle, the
	// Variant alone). ParseRecipe makes them from names and files.
	Recipes []imgbatch.Recipe
	// Sharp is the sharp baseline's settings, each a case (default: both
	// SharpConc1 and SharpDefault; the faster is the one ratios use).
	Sharp []string
	// Quality is how many images (a deterministic sample of the good
	// files) the quality pass compares per case after the timed runs:
	// 0 means DefaultQualitySample, < 0 none.
	Quality int
	// Vipsthumbnail is the vipsthumbnail binary of the baseline (default:
	// the one in PATH).
	Vipsthumbnail string
	Images        int // images per case: the dataset cycled to this many (0: each file once)
	Repeat        int // every case this many times, interleaved; the median is reported

	Name       string // results go to ResultsDir/Name (default: a timestamp)
	ResultsDir string // "" writes no files
	CacheDir   string // prepared datasets and sharp
	Wallpapers string // an unpacked usr/share/wallpapers (skips apt-get download)
	BadImages  string // testdata/bad-images, for the mixed set
	MaxPixels  int64
	ProfileDir string // CPU and heap profiles of imgbatch's cases: ProfileDir/<case>-<round>/

	// Self is the command line that runs `imgbatch bench child` (the
	// imgbatch binary and its arguments); SelfEnv is added to its
	// environment.
	Self    []string
	SelfEnv []string
	// Version is the version stamped into the binary (scripts/build.sh:
	// git describe); the report names it when the build has no VCS stamp
	// (GOFLAGS=-buildvcs=false).
	Version string

	CaseTimeout time.Duration // default 30 minutes
	Log         io.Writer     // progress
}

// defaults checks o and fills in what was left out.
func (o *Options) defaults() error {
	if o.Dataset == "" {
		o.Dataset = DatasetPhotos
	}
	if err := o.checkImpls(); err != nil {
		return err
	}
	if o.Quality == 0 {
		o.Quality = DefaultQualitySample
	}
	if len(o.Pools) == 0 {
		n := worker.UsableCPUs()
		o.Pools = slices.Compact([]int{1, n, 2 * n})
	}
	for _, p := range o.Pools {
		if p < 1 || p > 256 {
			return fmt.Errorf("pool size %d: use 1..256", p)
		}
	}
	if err := o.recipeDefaults(); err != nil {
		return err
	}
	o.plainDefaults()
	if len(o.Modes) > 0 && len(o.Self) == 0 {
		return errors.New("no command line for the imgbatch bench child")
	}
	return nil
}

// checkImpls checks the modes, baselines and sharp settings asked for.
func (o *Options) checkImpls() error {
	if len(o.Modes) == 0 && len(o.Compare) == 0 {
		return errors.New("nothing to measure: give a mode or a baseline")
	}
	for _, m := range o.Modes {
		if !Ours(m) {
			return fmt.Errorf("mode %q: use %s or %s", m, ImplProcess, ImplPipeline)
		}
	}
	for _, c := range o.Compare {
		switch c {
		case ImplVipsthumbnail, ImplSharp:
		case ImplVipsResize:
			return fmt.Errorf("baseline %s is gone: it ran Debian's vips CLI, which imgbatch no longer uses (its point, that a full decode costs 3-4x, is in bench/results; the quality pass's reference is a full decode + lanczos3)", c)
		default:
			return fmt.Errorf("baseline %q: use %s or %s", c, ImplVipsthumbnail, ImplSharp)
		}
	}
	if len(o.Sharp) == 0 {
		o.Sharp = []string{SharpConc1, SharpDefault}
	}
	for _, s := range o.Sharp {
		if s != SharpConc1 && s != SharpDefault {
			return fmt.Errorf("sharp setting %q: use %s or %s", s, SharpConc1, SharpDefault)
		}
	}
	return nil
}

// recipeDefaults normalizes the variant and recipes: without recipes, the
// one-variant recipe "single" of o.Variant (StandardVariant by default).
func (o *Options) recipeDefaults() error {
	if o.Variant.Name == "" {
		o.Variant = StandardVariant
	}
	r := imgbatch.Recipe{Name: RecipeSingle, Variants: []imgbatch.Variant{o.Variant}}
	if err := r.Normalize(); err != nil {
		return err
	}
	o.Variant = r.Variants[0]
	if len(o.Recipes) == 0 {
		o.Recipes = []imgbatch.Recipe{r}
	}
	seen := map[string]bool{}
	for i := range o.Recipes {
		rr := &o.Recipes[i]
		rr.Variants = slices.Clone(rr.Variants)
		if rr.Name == RecipeSingle && len(rr.Variants) == 0 {
			rr.Variants = []imgbatch.Variant{o.Variant}
		}
		if err := rr.Normalize(); err != nil {
			return fmt.Errorf("recipe %s: %w", rr.Name, err)
		}
		if seen[rr.Name] {
			return fmt.Errorf("recipe %s given twice", rr.Name)
		}
		seen[rr.Name] = true
	}
	return nil
}

// plainDefaults fills in the settings that need no checking.
func (o *Options) plainDefaults() {
	if o.Repeat <= 0 {
		o.Repeat = 1
	}
	if o.Name == "" {
		o.Name = time.Now().UTC().Format("20060102t150405z")
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.CaseTimeout <= 0 {
		o.CaseTimeout = 30 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}
