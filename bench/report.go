package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/imgbatch/imgbatch"
)

// Report is the outcome of a benchmark run.
type Report struct {
	Name    string           `json:"name"`
	Started time.Time        `json:"started"`
	Seconds float64          `json:"seconds"`
	Machine Machine          `json:"machine"`
	Build   string           `json:"build,omitempty"` // the imgbatch binary of imgbatch's cases
	Dataset DatasetInfo      `json:"dataset"`
	Variant imgbatch.Variant `json:"variant"` // the single recipe's variant
	// Recipes the cases made (Result.Recipe names one).
	Recipes []imgbatch.Recipe `json:"recipes,omitempty"`
	Images  int               `json:"images"` // per case
	Repeat  int               `json:"repeat"`
	Results []Result          `json:"results"`
	// Quality of every case's outputs against the references, per
	// variant (measured after the timed runs).
	Quality []QualityRow `json:"quality,omitempty"`
	Notes   []string     `json:"notes,omitempty"`
}

// DatasetInfo describes the dataset of a report.
type DatasetInfo struct {
	Name    string `json:"name"`
	Origin  string `json:"origin"`
	Digest  string `json:"digest"`
	Summary string `json:"summary"`
	Files   int    `json:"files"`
}

// Result is one case's measurement (the median of its repetitions).
type Result struct {
	Case
	Label     string `json:"label"`
	Libvips   string `json:"libvips,omitempty"`
	Images    int    `json:"images"` // handled: succeeded + failed
	Succeeded int    `json:"succeeded"`
	Failed    int    `json:"failed"`

	Seconds   float64   `json:"seconds"` // wall clock, first process start to last exit
	ImgPerSec float64   `json:"imgPerSec"`
	MPPerSec  float64   `json:"mpPerSec"` // source megapixels of the good images per second
	Runs      []float64 `json:"runs"`     // img/s of every repetition

	// ImgPerCPUSec is images per CPU-second of the case's processes: what
	// a fleet pays per image, and less disturbed than throughput when the
	// machine is shared.
	ImgPerCPUSec float64 `json:"imgPerCpuSec"`
	// CPUMsPerImage is CPU milliseconds per source image (all its variants).
	CPUMsPerImage float64 `json:"cpuMsPerImage"`

	// SharpConcurrency is the libvips threads per operation sharp reported
	// running with; SharpBest marks the faster sharp setting of its
	// recipe and pool size, the one the × sharp ratios compare with.
	SharpConcurrency int  `json:"sharpConcurrency,omitempty"`
	SharpBest        bool `json:"sharpBest,omitempty"`

	// Quality of the case's outputs over all its variants (see
	// Report.Quality): outputs compared, PSNR (dB, RGB) and SSIM (luma)
	// means and worst.
	QualityN  int     `json:"qualityN,omitempty"`
	PSNRMean  float64 `json:"psnrMean,omitempty"`
	PSNRWorst float64 `json:"psnrWorst,omitempty"`
	SSIMMean  float64 `json:"ssimMean,omitempty"`
	SSIMWorst float64 `json:"ssimWorst,omitempty"`

	// Throughput (MP/s) over the baseline's at the same pool size, and the
	// same for megapixels per CPU-second; 0 when there is no baseline.
	VsVipsthumbnail    float64 `json:"vsVipsthumbnail,omitempty"`
	VsSharp            float64 `json:"vsSharp,omitempty"`
	VsVipsthumbnailCPU float64 `json:"vsVipsthumbnailCpu,omitempty"`
	VsSharpCPU         float64 `json:"vsSharpCpu,omitempty"`

	PeakRSS   int64 `json:"peakRSS"`          // bytes: the case's processes at once (sampled), at least the largest one's VmHWM
	SteadyRSS int64 `json:"steadyRSS"`        // bytes: median after the first fifth of the run
	GoPeak    int64 `json:"goPeak,omitempty"` // bytes: imgbatch's cases: the Go runtime's share of the peak
	RSSGrowth int64 `json:"rssGrowth"`        // bytes: last fifth minus second fifth

	CPUSeconds        float64 `json:"cpuSeconds"` // user + system of the case's processes
	CPUUtil           float64 `json:"cpuUtil"`    // CPUSeconds / Seconds / usable CPUs
	HarnessCPUSeconds float64 `json:"harnessCpuSeconds"`
	Processes         int     `json:"processes"`

	BytesIn  int64 `json:"bytesIn"`
	BytesOut int64 `json:"bytesOut"`
	// Pipeline cases: outputs bigger than their source, and copies of
	// the source (keepSmallerSource); the process mode does not know.
	Bigger int `json:"bigger,omitempty"`
	Copies int `json:"copies,omitempty"`

	Stages map[string]Latency `json:"stages,omitempty"`
	Errors map[string]int     `json:"errors,omitempty"`
	Error  string             `json:"error,omitempty"`

	RSS []RSSSample `json:"rss,omitempty"`
}

// Latency is the headline latency of a case: render for process mode
// (decode, resize, encode), the whole item otherwise.
func (r Result) Latency() (string, Latency, bool) {
	for _, s := range []string{"render", "item"} {
		if l, ok := r.Stages[s]; ok && l.N > 0 {
			return s, l, true
		}
	}
	return "", Latency{}, false
}

// sharpBest is the faster (img/s) sharp setting of recipe at pool.
func (rep *Report) sharpBest(recipe string, pool int) *Result {
	var best *Result
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Impl == ImplSharp && r.Recipe == recipe && r.Pool == pool && r.Error == "" && r.MPPerSec > 0 &&
			(best == nil || r.ImgPerSec > best.ImgPerSec) {
			best = r
		}
	}
	return best
}

func (rep *Report) computeRatios() {
	base := func(impl, recipe string, pool int) *Result {
		if impl == ImplSharp {
			return rep.sharpBest(recipe, pool)
		}
		for i := range rep.Results {
			r := &rep.Results[i]
			if r.Impl == impl && r.Recipe == recipe && r.Pool == pool && len(r.Levers) == 0 && r.Error == "" && r.MPPerSec > 0 {
				return r
			}
		}
		return nil
	}
	for i := range rep.Results {
		rep.Results[i].SharpBest = false
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Error != "" {
			continue
		}
		perCPU := func(x *Result) float64 {
			if x.CPUSeconds <= 0 {
				return 0
			}
			return x.MPPerSec * x.Seconds / x.CPUSeconds
		}
		if b := base(ImplVipsthumbnail, r.Recipe, r.Pool); b != nil {
			r.VsVipsthumbnail = r.MPPerSec / b.MPPerSec
			if perCPU(b) > 0 {
				r.VsVipsthumbnailCPU = perCPU(r) / perCPU(b)
			}
		}
		if b := base(ImplSharp, r.Recipe, r.Pool); b != nil {
			b.SharpBest = true
			r.VsSharp = r.MPPerSec / b.MPPerSec
			if perCPU(b) > 0 {
				r.VsSharpCPU = perCPU(r) / perCPU(b)
			}
		}
	}
}

// attachQuality copies each case's quality, over all its variants, into
// its results.
func (rep *Report) attachQuality() {
	for i := range rep.Results {
		r := &rep.Results[i]
		r.QualityN, r.PSNRMean, r.PSNRWorst, r.SSIMMean, r.SSIMWorst = 0, 0, 0, 0, 0
		for _, q := range rep.Quality {
			if q.Error != "" || q.N == 0 || q.Impl != r.Impl || q.Recipe != r.Recipe || q.Sharp != r.Sharp {
				continue
			}
			if r.QualityN == 0 {
				r.PSNRWorst, r.SSIMWorst = q.PSNRWorst, q.SSIMWorst
			}
			r.PSNRMean += q.PSNRMean * float64(q.N)
			r.SSIMMean += q.SSIMMean * float64(q.N)
			r.QualityN += q.N
			r.PSNRWorst = min(r.PSNRWorst, q.PSNRWorst)
			r.SSIMWorst = min(r.SSIMWorst, q.SSIMWorst)
		}
		if r.QualityN > 0 {
			r.PSNRMean /= float64(r.QualityN)
			r.SSIMMean /= float64(r.QualityN)
		}
	}
}

// sharpSummary says, per recipe and pool size, which sharp setting won and
// both settings' figures.
func (rep *Report) sharpSummary() []string {
	var out []string
	done := map[string]bool{}
	for _, r := range rep.Results {
		if r.Impl != ImplSharp {
			continue
		}
		k := r.Recipe + "@" + strconv.Itoa(r.Pool)
		if done[k] {
			continue
		}
		done[k] = true
		best := rep.sharpBest(r.Recipe, r.Pool)
		var parts []string
		for _, x := range rep.Results {
			if x.Impl != ImplSharp || x.Recipe != r.Recipe || x.Pool != r.Pool {
				continue
			}
			if x.Error != "" {
				parts = append(parts, fmt.Sprintf("%s failed", sharpSettingName(x.Sharp)))
				continue
			}
			parts = append(parts, fmt.Sprintf("%s (libvips threads %d) %.1f img/s, %.1f CPU ms/img", sharpSettingName(x.Sharp), x.SharpConcurrency, x.ImgPerSec, x.CPUMsPerImage))
		}
		won := "none ran"
		if best != nil {
			won = sharpSettingName(best.Sharp) + " won"
		}
		recipe := ""
		if r.Recipe != "" && r.Recipe != RecipeSingle {
			recipe = "recipe " + r.Recipe + ", "
		}
		out = append(out, fmt.Sprintf("sharp's best setting (%spool %d): %s — %s; the × sharp ratios compare with it", recipe, r.Pool, won, strings.Join(parts, " vs ")))
	}
	return out
}

func sharpSettingName(s string) string {
	switch s {
	case SharpConc1:
		return "concurrency(1)"
	case SharpDefault:
		return "default concurrency"
	}
	return s
}

// RSSBudget is the steady memory imgbatch may use on cores CPUs: 64 MiB +
// 48 MiB per core.
func RSSBudget(cores int) int64 { return (64 + 48*int64(cores)) << 20 }

// Write writes results.md, results.csv, results.json and chart.svg into dir.
func (rep *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"results.md":   []byte(rep.Markdown()),
		"results.json": append(j, '\n'),
		"chart.svg":    []byte(rep.SVG()),
	}
	var csvBuf strings.Builder
	if err := rep.WriteCSV(&csvBuf); err != nil {
		return err
	}
	files["results.csv"] = []byte(csvBuf.String())
	if len(rep.Quality) > 0 {
		var q strings.Builder
		if err := rep.WriteQualityCSV(&q); err != nil {
			return err
		}
		files["quality.csv"] = []byte(q.String())
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// ratios shows a throughput ratio and a per-CPU-second ratio: "1.21× / 1.10×".
func ratios(x, perCPU float64) string {
	if x == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f× / %.2f×", x, perCPU)
}

// Markdown is the report as a markdown document: the machine, the dataset,
// the main table, the stage latencies and notes.
func (rep *Report) Markdown() string {
	var b strings.Builder
	rep.mdHeader(&b)
	rep.mdResults(&b)
	rep.mdQuality(&b)
	rep.mdSources(&b)
	rep.mdStages(&b)
	rep.mdNotes(&b)
	return b.String()
}

// mdHeader is the list of what was measured where.
func (rep *Report) mdHeader(b *strings.Builder) {
	m := rep.Machine
	fmt.Fprintf(b, "# imgbatch bench: %s\n\n", rep.Name)
	fmt.Fprintf(b, "- machine: %d CPUs usable (%d online), %s, %.1f GiB RAM, %s, kernel %s, %s\n", m.UsableCPUs, m.CPUs, m.CPUModel, float64(m.MemTotal)/(1<<30), m.OS, m.Kernel, m.Go)
	fmt.Fprintf(b, "- libvips: imgbatch %s; vipsthumbnail %s%s; sharp %s\n", orDash(m.LibvipsImgbatch), orDash(m.LibvipsCLI), parenthesized(m.Vipsthumbnail), orDash(m.Sharp))
	if rep.Build != "" {
		fmt.Fprintf(b, "- imgbatch build: %s\n", rep.Build)
	}
	fmt.Fprintf(b, "- dataset: %s (digest %s) — %s; %d images per case\n", rep.Dataset.Name, rep.Dataset.Digest, rep.Dataset.Summary, rep.Images)
	recipes := rep.Recipes
	if len(recipes) == 0 {
		recipes = []imgbatch.Recipe{{Name: RecipeSingle, Variants: []imgbatch.Variant{rep.Variant}}}
	}
	for _, r := range recipes {
		fmt.Fprintf(b, "- recipe %s: %s\n", r.Name, describeRecipe(r))
	}
	fmt.Fprintf(b, "- every case in fresh processes, MALLOC_ARENA_MAX=2 unless +arenas; median of %d run(s); %s, %.0f s in all\n",
		rep.Repeat, rep.Started.Format(time.RFC3339), rep.Seconds)
	for _, l := range rep.sharpSummary() {
		fmt.Fprintf(b, "- %s\n", l)
	}
	fmt.Fprintf(b, "- memory budget (64 MiB + 48 MiB per core): %.0f MiB\n\n", mb(RSSBudget(m.UsableCPUs)))

}

// mdResults is the main table, a row per case.
func (rep *Report) mdResults(b *strings.Builder) {
	b.WriteString("| case | pool | img/s | CPU ms/img | img/CPU-s | MP/s | × vipsthumbnail (speed / per CPU) | × sharp (speed / per CPU) | PSNR dB mean (worst) | SSIM mean (worst) | latency p50 / p95 / p99 ms | peak RSS MiB (Go) | steady RSS MiB | RSS growth MiB | CPU | in → out MB | failed | runs img/s |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---|\n")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(b, "| %s | %d | error: %s |||||||||||||||\n", r.Label, r.Pool, strings.ReplaceAll(r.Error, "|", "/"))
			continue
		}
		label := r.Label
		if r.SharpBest {
			label = "**" + label + "** (best sharp)"
		}
		psnr, ssim := "–", "–"
		if r.QualityN > 0 {
			psnr = fmt.Sprintf("%.2f (%.2f)", r.PSNRMean, r.PSNRWorst)
			ssim = fmt.Sprintf("%.4f (%.4f)", r.SSIMMean, r.SSIMWorst)
		}
		lat := "–"
		if s, l, ok := r.Latency(); ok {
			lat = fmt.Sprintf("%.0f / %.0f / %.0f (%s)", l.P50, l.P95, l.P99, s)
		}
		runs := make([]string, len(r.Runs))
		for i, x := range r.Runs {
			runs[i] = fmt.Sprintf("%.1f", x)
		}
		peak := fmt.Sprintf("%.0f", mb(r.PeakRSS))
		if r.GoPeak > 0 {
			peak += fmt.Sprintf(" (%.0f)", mb(r.GoPeak))
		}
		fmt.Fprintf(b, "| %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %.0f | %+.0f | %.0f%% | %.0f → %.1f | %d | %s |\n",
			label, r.Pool, r.ImgPerSec, r.CPUMsPerImage, r.ImgPerCPUSec, r.MPPerSec, ratios(r.VsVipsthumbnail, r.VsVipsthumbnailCPU), ratios(r.VsSharp, r.VsSharpCPU), psnr, ssim, lat,
			peak, mb(r.SteadyRSS), mb(r.RSSGrowth), 100*r.CPUUtil, float64(r.BytesIn)/1e6, float64(r.BytesOut)/1e6, r.Failed, strings.Join(runs, ", "))
	}
}

// mdQuality is the quality table, a row per case and variant.
func (rep *Report) mdQuality(b *strings.Builder) {
	if len(rep.Quality) > 0 {
		b.WriteString("\nOutput quality against the reference (the source decoded at full size, upright, sRGB, lanczos3 to the output's exact size; govips): PSNR over RGB, SSIM of luma with 11x11 gaussian windows; per variant, over the quality sample:\n\n")
		b.WriteString("| case | variant | n | PSNR dB mean | PSNR worst | SSIM mean | SSIM worst | mean bytes | worst SSIM file |\n|---|---|---:|---:|---:|---:|---:|---:|---|\n")
		for _, q := range rep.Quality {
			if q.Error != "" {
				fmt.Fprintf(b, "| %s | %s | error: %s ||||||\n", q.Label, q.Variant, strings.ReplaceAll(q.Error, "|", "/"))
				continue
			}
			n := strconv.Itoa(q.N)
			if q.Missing > 0 {
				n += fmt.Sprintf(" (%d missing)", q.Missing)
			}
			fmt.Fprintf(b, "| %s | %s | %s | %.2f | %.2f | %.4f | %.4f | %.0f | %s |\n", q.Label, q.Variant, n, q.PSNRMean, q.PSNRWorst, q.SSIMMean, q.SSIMWorst, q.MeanBytes, q.WorstFile)
		}
	}
}

// mdStages is the stage latencies and the failures by reason.
func (rep *Report) mdStages(b *strings.Builder) {
	b.WriteString("\nStage latencies (ms):\n\n| case | pool | stage | n | p50 | p95 | p99 | max |\n|---|---:|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		for _, s := range stageNames(r.Stages) {
			l := r.Stages[s]
			fmt.Fprintf(b, "| %s | %d | %s | %d | %.1f | %.1f | %.1f | %.1f |\n", r.Label, r.Pool, s, l.N, l.P50, l.P95, l.P99, l.Max)
		}
	}
	var errs []string
	for _, r := range rep.Results {
		for msg, n := range r.Errors {
			errs = append(errs, fmt.Sprintf("- %s@%d: %d × %s", r.Label, r.Pool, n, msg))
		}
	}
	slices.Sort(errs)
	if len(errs) > 0 {
		b.WriteString("\nFailures by reason:\n\n" + strings.Join(errs, "\n") + "\n")
	}
}

// mdNotes is how to read the figures, then the run's own notes.
func (rep *Report) mdNotes(b *strings.Builder) {
	b.WriteString("\nNotes:\n\n")
	notes := append([]string{
		"Throughput is source images (or source megapixels) per second of wall clock from the first process start to the last exit; a recipe case makes all its variants of each image. CPU ms/img is user + system CPU of the case's processes per source image. Ratios compare MP/s at the same recipe and pool size, then MP per CPU-second (the same as img/s and img per CPU-second when both handled the same images, as on photos), which a shared machine disturbs less.",
		"process: read → guard (sniff, pixel budget) → vips.Render (every variant from one decode) → write, pool goroutines in one process. pipeline: a planned run worked by batch.Runner + worker.New (pool processors, the worker's default fetchers and uploaders) against the embedded S3, which runs in the bench process on the same cores (its CPU is not in the case's CPU column).",
		"vipsthumbnail: pool processes at a time, each given a batch of files, -o %s.jpg[Q=80,strip], once per variant (it makes one size per run). sharp: pool operations in flight, cache off, .rotate().resize(w,h,{fit,withoutEnlargement}).flatten().jpeg({quality}); for several variants one sharp(file).rotate() pipeline per image and a clone() per variant; run with sharp.concurrency(1) (c1) and with sharp's default concurrency (default; 1 on glibc Linux without jemalloc, so the two may be the same), the faster is the one the ratios use. Both baselines only get the files imgbatch's guard accepts.",
		"Quality is measured after every timed run, on a fixed sample of the good files, by running each case once more at pool 1 and comparing every output with the reference (the source decoded at full size without shrink-on-load, turned upright, converted to sRGB, resized with lanczos3 to the output's exact dimensions, via govips: not imgbatch's render.c). PSNR is over R, G, B (identical images count as 99 dB), SSIM is Wang et al.'s on luma (BT.601) with 11x11 gaussian windows (σ 1.5); both are means over the sample with the worst image's value.",
		"Peak RSS sums the case's processes' VmHWM sampled every 50 ms (for imgbatch at least its own VmHWM at exit; in brackets the Go runtime's share, the rest is libvips and malloc); steady is the median VmRSS after the first fifth of the run; growth compares the last fifth with the second.",
	}, rep.Notes...)
	for _, n := range notes {
		b.WriteString("- " + n + "\n")
	}
}

func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func stageNames(m map[string]Latency) []string {
	order := []string{"read", "get", "guard", "render", "write", "put", "item"}
	var out []string
	for _, s := range order {
		if _, ok := m[s]; ok {
			out = append(out, s)
		}
	}
	for s := range m {
		if !slices.Contains(order, s) {
			out = append(out, s)
		}
	}
	return out
}

// WriteCSV writes one row per case; stage latencies are columns
// <stage>_p50_ms, _p95_ms, _p99_ms.
func (rep *Report) WriteCSV(w interface{ Write([]byte) (int, error) }) error {
	stages := map[string]Latency{}
	for _, r := range rep.Results {
		for s := range r.Stages {
			stages[s] = Latency{}
		}
	}
	names := stageNames(stages)
	cw := csv.NewWriter(w)
	head := []string{"name", "dataset", "recipe", "impl", "levers", "sharp_setting", "sharp_best", "sharp_concurrency", "pool", "libvips", "images", "succeeded", "failed", "seconds", "img_per_s", "cpu_ms_per_img", "mp_per_s", "img_per_cpu_s",
		"vs_vipsthumbnail", "vs_sharp", "vs_vipsthumbnail_cpu", "vs_sharp_cpu", "quality_n", "psnr_mean_db", "psnr_worst_db", "ssim_mean", "ssim_worst", "runs_img_per_s", "peak_rss_mib", "go_peak_mib", "steady_rss_mib", "rss_growth_mib", "cpu_util", "cpu_s", "harness_cpu_s",
		"bytes_in", "bytes_out", "error"}
	for _, s := range names {
		head = append(head, s+"_p50_ms", s+"_p95_ms", s+"_p99_ms")
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	f := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	for _, r := range rep.Results {
		runs := make([]string, len(r.Runs))
		for i, x := range r.Runs {
			runs[i] = f(x, 2)
		}
		recipe := r.Recipe
		if recipe == "" {
			recipe = RecipeSingle
		}
		row := []string{rep.Name, rep.Dataset.Name, recipe, r.Impl, strings.Join(r.Levers, "+"), r.Sharp, strconv.FormatBool(r.SharpBest), strconv.Itoa(r.SharpConcurrency), strconv.Itoa(r.Pool), r.Libvips,
			strconv.Itoa(r.Images), strconv.Itoa(r.Succeeded), strconv.Itoa(r.Failed), f(r.Seconds, 3), f(r.ImgPerSec, 2), f(r.CPUMsPerImage, 2), f(r.MPPerSec, 2), f(r.ImgPerCPUSec, 2),
			f(r.VsVipsthumbnail, 3), f(r.VsSharp, 3), f(r.VsVipsthumbnailCPU, 3), f(r.VsSharpCPU, 3),
			strconv.Itoa(r.QualityN), f(r.PSNRMean, 3), f(r.PSNRWorst, 3), f(r.SSIMMean, 5), f(r.SSIMWorst, 5), strings.Join(runs, ";"), f(mb(r.PeakRSS), 1), f(mb(r.GoPeak), 1), f(mb(r.SteadyRSS), 1), f(mb(r.RSSGrowth), 1),
			f(r.CPUUtil, 3), f(r.CPUSeconds, 2), f(r.HarnessCPUSeconds, 2), strconv.FormatInt(r.BytesIn, 10), strconv.FormatInt(r.BytesOut, 10), r.Error}
		for _, s := range names {
			if l, ok := r.Stages[s]; ok {
				row = append(row, f(l.P50, 2), f(l.P95, 2), f(l.P99, 2))
			} else {
				row = append(row, "", "", "")
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteQualityCSV writes one row per case and variant of the quality pass.
func (rep *Report) WriteQualityCSV(w interface{ Write([]byte) (int, error) }) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"name", "dataset", "recipe", "impl", "sharp_setting", "variant", "n", "missing", "psnr_mean_db", "psnr_worst_db", "ssim_mean", "ssim_worst", "mean_bytes", "worst_ssim_file", "error"}); err != nil {
		return err
	}
	f := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	for _, q := range rep.Quality {
		if err := cw.Write([]string{rep.Name, rep.Dataset.Name, q.Recipe, q.Impl, q.Sharp, q.Variant, strconv.Itoa(q.N), strconv.Itoa(q.Missing),
			f(q.PSNRMean, 3), f(q.PSNRWorst, 3), f(q.SSIMMean, 5), f(q.SSIMWorst, 5), f(q.MeanBytes, 0), q.WorstFile, q.Error}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// mdSources is, for pipeline cases, how many outputs came out bigger than
// their source and how many are copies of it (keepSmallerSource: issue
// 16's "no output is larger than its source").
func (rep *Report) mdSources(b *strings.Builder) {
	var rows []Result
	for _, r := range rep.Results {
		if r.Impl == ImplPipeline && r.Error == "" {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\nOutputs against their sources (pipeline cases):\n\n| case | items | outputs bigger than their source | copies of the source |\n|---|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %d | %d | %d |\n", r.Label, r.Succeeded, r.Bigger, r.Copies)
	}
}
