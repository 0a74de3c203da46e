// Package bench measures imgbatch: how many images per second a machine
// turns into variants, at what latency, CPU and memory, against libvips'
// own vipsthumbnail and Node's sharp on the same files. It prepares the
// datasets (built-in ones from Debian's wallpapers, cached), runs every case
// in fresh processes, and writes the results as a markdown table, CSV,
// JSON and an SVG chart. `imgbatch bench` is its command line.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/worker"
)

// DefaultMaxPixels is the worker's default pixel budget.
const DefaultMaxPixels = 100_000_000

// StandardVariant is the standard case: fit inside 512x512, JPEG q80.
var StandardVariant = imgbatch.Variant{Name: "bench", Width: 512, Height: 512, Fit: imgbatch.FitInside, Format: imgbatch.FormatJPEG, Quality: 80}

// Run prepares the dataset, measures every case and, with ResultsDir set,
// writes results.md, results.csv, results.json and chart.svg. A case that
// fails is reported in its row and in the returned error; the others still
// run.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	started := time.Now()
	rc, rep, err := prepareRun(ctx, &o, started)
	if err != nil {
		return nil, err
	}
	defer rc.close()
	impls, err := rc.baselines(ctx, rep)
	if err != nil {
		return nil, err
	}
	cases := rc.cases(rep, impls)
	errs := rc.measureRounds(ctx, rep, cases)
	if ctx.Err() == nil && o.Quality > 0 {
		// After every timed run, so it cannot disturb them.
		q, notes, err := rc.qualityPass(ctx, cases)
		rep.Quality = q
		rep.Notes = append(rep.Notes, notes...)
		if err != nil {
			errs = append(errs, fmt.Errorf("quality: %w", err))
		}
		rep.attachQuality()
	}
	rc.describe(ctx, rep)
	rep.Seconds = time.Since(started).Seconds()
	if o.ResultsDir != "" {
		dir := filepath.Join(o.ResultsDir, o.Name)
		if err := rep.Write(dir); err != nil {
			return rep, err
		}
		fmt.Fprintf(o.Log, "results in %s\n", dir)
	}
	return rep, errors.Join(errs...)
}

// prepareRun makes the dataset, the list of images to run (the dataset
// repeated up to o.Images), the report's header and the shared context.
func prepareRun(ctx context.Context, o *Options, started time.Time) (*runCtx, *Report, error) {
	if o.CacheDir != "" {
		abs, err := filepath.Abs(o.CacheDir)
		if err != nil {
			return nil, nil, err
		}
		o.CacheDir = abs
	}
	ds, err := Prepare(ctx, o.Dataset, PrepareOptions{CacheDir: o.CacheDir, Wallpapers: o.Wallpapers, BadImages: o.BadImages, MaxPixels: o.MaxPixels, Log: o.Log})
	if err != nil {
		return nil, nil, err
	}
	n := o.Images
	if n <= 0 {
		n = len(ds.Files)
	}
	items := make([]File, n)
	for i := range items {
		items[i] = ds.Files[i%len(ds.Files)]
	}
	rep := &Report{
		Name: o.Name, Started: started.UTC(), Variant: o.Variant, Recipes: o.Recipes, Images: n, Repeat: o.Repeat,
		Dataset: DatasetInfo{Name: ds.Name, Origin: ds.Origin, Digest: ds.Digest(), Summary: ds.Summary(), Files: len(ds.Files)},
	}
	rc := &runCtx{o: *o, ds: ds, items: items, recipes: map[string]imgbatch.Recipe{}}
	for _, r := range o.Recipes {
		rc.recipes[r.Name] = r
		rc.recipeNames = append(rc.recipeNames, r.Name)
	}
	for _, f := range items {
		if !f.Broken {
			rc.good = append(rc.good, f)
		}
	}
	if rc.work, err = os.MkdirTemp("", "imgbatch-bench-"); err != nil {
		return nil, nil, err
	}
	return rc, rep, nil
}

// close removes what the run made: its work directory and embedded S3.
func (rc *runCtx) close() {
	if rc.s3 != nil {
		rc.s3.close()
	}
	os.RemoveAll(rc.work)
}

// baselines finds what the implementations to run need (the
// vipsthumbnail binary, sharp, the embedded S3 of the pipeline mode); a
// baseline that cannot run is left out with a note.
func (rc *runCtx) baselines(ctx context.Context, rep *Report) ([]string, error) {
	o := rc.o
	impls := append(append([]string(nil), o.Modes...), o.Compare...)
	var err error
	if slices.Contains(impls, ImplVipsthumbnail) {
		if rc.vipsthumbnail, err = findVipsthumbnail(o.Vipsthumbnail); err != nil {
			fmt.Fprintf(o.Log, "vipsthumbnail left out: %v\n", err)
			rep.Notes = append(rep.Notes, "vipsthumbnail left out: "+err.Error())
			impls = slices.DeleteFunc(impls, func(s string) bool { return s == ImplVipsthumbnail })
		}
	}
	if slices.Contains(impls, ImplSharp) {
		if rc.sharpDir, err = sharpDir(ctx, o.CacheDir, o.Log); err != nil {
			rep.Notes = append(rep.Notes, "sharp left out: "+err.Error())
			impls = slices.DeleteFunc(impls, func(s string) bool { return s == ImplSharp })
		}
	}
	if slices.Contains(impls, ImplPipeline) {
		fmt.Fprintf(o.Log, "uploading %d files to the embedded S3\n", len(rc.ds.Files))
		if rc.s3, err = startS3Env(ctx, rc.ds); err != nil {
			return nil, err
		}
	}
	return impls, nil
}

// cases are the cases to measure: a baseline that cannot do a recipe is
// left out, with the reason in the notes.
func (rc *runCtx) cases(rep *Report, impls []string) []Case {
	o := rc.o
	return slices.DeleteFunc(Cases(rc.recipeNames, impls, o.Pools, o.Levers, o.Sharp), func(c Case) bool {
		why := baselineSupports(c.Impl, rc.recipes[c.Recipe])
		if why != "" && !slices.Contains(rep.Notes, why) {
			rep.Notes = append(rep.Notes, why)
		}
		return why != ""
	})
}

// measureRounds runs every case o.Repeat times, round after round, and
// puts each case's median run in the report. An interruption ends the
// rounds; what was measured is kept.
func (rc *runCtx) measureRounds(ctx context.Context, rep *Report, cases []Case) []error {
	runs := map[string][]Result{}
	var errs []error
	total := len(cases) * rc.o.Repeat
rounds:
	for round := range rc.o.Repeat {
		for i, c := range cases {
			if err := ctx.Err(); err != nil {
				errs = append(errs, err)
				rep.Notes = append(rep.Notes, fmt.Sprintf("interrupted after %d of %d case runs", round*len(cases)+i, total))
				break rounds
			}
			r, err := rc.runCase(ctx, c, round)
			if ctx.Err() != nil {
				continue // killed by the interruption: not a measurement
			}
			if err != nil {
				err = fmt.Errorf("%s: %w", c.Key(), err)
				errs = append(errs, err)
				r.Error = err.Error()
			}
			rc.logRun(round*len(cases)+i+1, total, c, r)
			runs[c.Key()] = append(runs[c.Key()], r)
		}
	}
	for _, c := range cases {
		if len(runs[c.Key()]) > 0 {
			rep.Results = append(rep.Results, median(runs[c.Key()]))
		}
	}
	rep.computeRatios()
	return errs
}

// logRun prints one case run's line of progress.
func (rc *runCtx) logRun(n, total int, c Case, r Result) {
	if r.Error != "" {
		fmt.Fprintf(rc.o.Log, "[%d/%d] %-26s pool %-2d FAILED: %s\n", n, total, c.Label(), c.Pool, r.Error)
		return
	}
	fmt.Fprintf(rc.o.Log, "[%d/%d] %-26s pool %-2d %6.1f img/s %6.1f MP/s  peak RSS %5.0f MiB  CPU %3.0f%%  (%d ok, %d failed)\n",
		n, total, c.Label(), c.Pool, r.ImgPerSec, r.MPPerSec, mb(r.PeakRSS), 100*r.CPUUtil, r.Succeeded, r.Failed)
}

// describe records the machine, the libvips of each side and the build.
func (rc *runCtx) describe(ctx context.Context, rep *Report) {
	rep.Machine = describeMachine(context.WithoutCancel(ctx), rep.Results)
	if rc.vipsthumbnail != "" {
		rep.Machine.Vipsthumbnail = rc.vipsthumbnail
		if rep.Machine.LibvipsCLI != "" && rep.Machine.LibvipsImgbatch != "" && rep.Machine.LibvipsCLI != rep.Machine.LibvipsImgbatch {
			rep.Notes = append(rep.Notes, fmt.Sprintf("vipsthumbnail (%s) runs libvips %s, imgbatch %s: not the same library, so that comparison is not like for like (build it with scripts/vipsthumbnail-npm.sh)", rc.vipsthumbnail, rep.Machine.LibvipsCLI, rep.Machine.LibvipsImgbatch))
		}
	}
	if len(rc.o.Modes) > 0 {
		rep.Build = buildID(rc.o.Self[0], rc.o.Version)
	}
}

// runCtx is what the cases of one run share.
type runCtx struct {
	o        Options
	ds       *Dataset
	items    []File // every case's inputs, in order
	good     []File // the baselines' inputs: items without the broken files
	work     string
	s3       *s3Env
	sharpDir string
	// vipsthumbnail is the baseline's binary.
	vipsthumbnail string
	recipes       map[string]imgbatch.Recipe
	recipeNames   []string // in the order given
}

// env is the environment of a case's processes: this one's, without the
// settings a case controls, plus the case's.
func (rc *runCtx) env(c Case) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MALLOC_ARENA_MAX", "VIPS_CONCURRENCY", "UV_THREADPOOL_SIZE", "GOGC", "GOMEMLIMIT":
			continue
		}
		env = append(env, kv)
	}
	if !c.has(LeverArenas) {
		env = append(env, "MALLOC_ARENA_MAX=2") // as the Dockerfile sets it
	}
	return append(env, c.leverEnv()...)
}

func (rc *runCtx) paths(fs []File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = rc.ds.Path(f)
	}
	return out
}

// dirName makes a case key a directory name.
var dirName = strings.NewReplacer("+", "_", "@", "_", ":", "", " ", "_", "(", "_", ")", "")

// runCase measures one case once.
func (rc *runCtx) runCase(ctx context.Context, c Case, rep int) (Result, error) {
	out := filepath.Join(rc.work, dirName.Replace(c.Key())+"-"+strconv.Itoa(rep))
	defer os.RemoveAll(out)
	return rc.measure(ctx, c, rc.items, rc.good, out, false)
}

// measure runs case c on items (imgbatch) or good (the baselines, which
// are not given broken files) into out. With keep (the quality pass),
// every implementation leaves variant v of its i-th file at
// outPath(out, v, i): vipsthumbnail is run one file at a time for that and
// the pipeline's outputs are downloaded from the embedded S3.
func (rc *runCtx) measure(ctx context.Context, c Case, items, good []File, out string, keep bool) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, rc.o.CaseTimeout)
	defer cancel()
	r := Result{Case: c, Label: c.Label()}
	recipe := rc.recipes[c.Recipe]
	if len(recipe.Variants) == 0 {
		return r, fmt.Errorf("no recipe %q", c.Recipe)
	}
	spec, inputs, run, err := rc.childSpec(ctx, c, recipe, items, good, out, keep)
	if err != nil {
		return r, err
	}
	for _, f := range inputs {
		r.BytesIn += f.Size
	}
	var mp float64
	for _, f := range items {
		mp += f.MegaPixels()
	}

	g := newProcGroup()
	cpu0 := selfCPU()
	start := time.Now()
	childHWM, err := rc.execute(ctx, g, c, spec, recipe, good, out, keep, &r)
	wall := time.Since(start)
	harness := selfCPU() - cpu0
	u := g.finish()
	if err != nil {
		return r, err
	}
	if keep && c.Impl == ImplPipeline {
		if err := rc.s3.download(ctx, run, items, out); err != nil {
			return r, err
		}
	}
	r.figures(wall, mp, u, childHWM)
	r.HarnessCPUSeconds = harness.Seconds()
	return r, nil
}

// childSpec is what an imgbatch child of case c runs, the files whose
// bytes count as its input, and (pipeline mode) the planned run; the
// pipeline mode's run is planned in the embedded S3 here, before the clock.
func (rc *runCtx) childSpec(ctx context.Context, c Case, recipe imgbatch.Recipe, items, good []File, out string, keep bool) (ChildSpec, []File, *imgbatch.Run, error) {
	spec := ChildSpec{Mode: c.Impl, Pool: c.Pool, VipsConcurrency: c.vipsConcurrency(), Trim: c.has(LeverTrim), Reuse: c.has(LeverReuse), Fetchers: c.number(LeverFetch),
		Variant: recipe.Variants[0], Variants: recipe.Variants, MaxPixels: rc.o.MaxPixels}
	if rc.o.ProfileDir != "" && !keep {
		spec.ProfileDir = filepath.Join(rc.o.ProfileDir, filepath.Base(out))
	}
	switch c.Impl {
	case ImplProcess:
		spec.Files, spec.OutDir = rc.paths(items), out
		return spec, items, nil, nil
	case ImplPipeline:
		run, err := rc.s3.plan(ctx, items, recipe)
		if err != nil {
			return spec, nil, nil, err
		}
		spec.Endpoint, spec.WorkBucket, spec.RunID = rc.s3.srv.URL, bucketWork, run.ID
		return spec, items, run, nil
	}
	return spec, good, nil, nil
}

// execute runs case c (the timed part) and records into r what the
// implementation reports; it returns the child's peak RSS when it has one.
func (rc *runCtx) execute(ctx context.Context, g *procGroup, c Case, spec ChildSpec, recipe imgbatch.Recipe, good []File, out string, keep bool, r *Result) (int64, error) {
	env := rc.env(c)
	switch c.Impl {
	case ImplProcess, ImplPipeline:
		cr, err := rc.runSelf(ctx, g, env, spec)
		r.GoPeak, r.Bigger, r.Copies = cr.GoPeak, cr.Bigger, cr.Copies
		r.Libvips, r.Succeeded, r.Failed, r.BytesIn, r.BytesOut, r.Stages, r.Errors = cr.Libvips, cr.Succeeded, cr.Failed, cr.BytesIn, cr.BytesOut, cr.Stages, cr.Errors
		return cr.VmHWM, err
	}
	var eo extOutcome
	var err error
	switch c.Impl {
	case ImplVipsthumbnail:
		bs := 0
		if keep {
			bs = 1
		}
		eo, err = runVipsthumbnail(ctx, g, env, rc.vipsthumbnail, rc.paths(good), recipe, c.Pool, bs, keep, out)
	case ImplSharp:
		eo, err = runSharp(ctx, g, env, rc.sharpDir, rc.paths(good), recipe, c.Pool, c.Sharp, out)
	default:
		err = fmt.Errorf("unknown implementation %q", c.Impl)
	}
	r.Libvips, r.Succeeded, r.Failed, r.BytesOut, r.Stages, r.Errors = eo.version, eo.succeeded, eo.failed, eo.bytesOut, eo.stages, eo.errors
	r.SharpConcurrency = eo.sharpConcurrency
	return 0, err
}

// figures derives the rates, CPU and memory figures of a finished run.
func (r *Result) figures(wall time.Duration, mp float64, u usage, childHWM int64) {
	r.Images = r.Succeeded + r.Failed
	r.Seconds = wall.Seconds()
	r.ImgPerSec = float64(r.Images) / r.Seconds
	r.MPPerSec = mp / r.Seconds
	r.CPUSeconds = u.cpu.Seconds()
	if r.CPUSeconds > 0 {
		r.ImgPerCPUSec = float64(r.Images) / r.CPUSeconds
	}
	if r.Images > 0 {
		r.CPUMsPerImage = 1000 * r.CPUSeconds / float64(r.Images)
	}
	r.CPUUtil = r.CPUSeconds / r.Seconds / float64(worker.UsableCPUs())
	r.PeakRSS = max(u.peak, childHWM)
	r.SteadyRSS, r.RSSGrowth = steadyRSS(u.samples)
	r.Processes = u.processes
	r.RSS = downsample(u.samples, 200)
	r.Runs = []float64{r.ImgPerSec}
}

// runSelf runs spec in a fresh `imgbatch bench child`.
func (rc *runCtx) runSelf(ctx context.Context, g *procGroup, env []string, spec ChildSpec) (ChildResult, error) {
	var cr ChildResult
	in, err := json.Marshal(spec)
	if err != nil {
		return cr, err
	}
	cmd := command(ctx, append(env, rc.o.SelfEnv...), rc.o.Self[0], rc.o.Self[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := g.run(cmd); err != nil {
		return cr, err
	}
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	if len(lines) == 0 || len(lines[len(lines)-1]) == 0 {
		return cr, errNoResult
	}
	if err := json.Unmarshal(lines[len(lines)-1], &cr); err != nil {
		return cr, fmt.Errorf("child result %q: %w", lines[len(lines)-1], err)
	}
	return cr, nil
}

// median picks the repetition with the median throughput (of two, the
// faster: on a shared machine the slower one mostly measures the others)
// and lists every repetition's throughput in it.
func median(rs []Result) Result {
	var ok []Result
	var all []float64
	for _, r := range rs {
		if r.Error == "" {
			ok = append(ok, r)
			all = append(all, r.ImgPerSec)
		}
	}
	if len(ok) == 0 {
		return rs[len(rs)-1]
	}
	sorted := slices.Clone(ok)
	slices.SortFunc(sorted, func(a, b Result) int {
		switch {
		case a.ImgPerSec < b.ImgPerSec:
			return -1
		case a.ImgPerSec > b.ImgPerSec:
			return 1
		}
		return 0
	})
	m := sorted[len(sorted)/2]
	m.Runs = all
	return m
}

func downsample(s []RSSSample, n int) []RSSSample {
	if len(s) <= n {
		return s
	}
	out := make([]RSSSample, 0, n)
	for i := range n {
		out = append(out, s[i*len(s)/n])
	}
	return out
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
