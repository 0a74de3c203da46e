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
	Variant imgbatch.Variant `json:"variant"`
	Images  int              `json:"images"` // per case
	Repeat  int              `json:"repeat"`
	Results []Result         `json:"results"`
	Notes   []string         `json:"notes,omitempty"`
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

func (rep *Report) computeRatios() {
	base := func(impl string, pool int) *Result {
		for i := range rep.Results {
			r := &rep.Results[i]
			if r.Impl == impl && r.Pool == pool && len(r.Levers) == 0 && r.Error == "" && r.MPPerSec > 0 {
				return r
			}
		}
		return nil
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
		if b := base(ImplVipsthumbnail, r.Pool); b != nil {
			r.VsVipsthumbnail = r.MPPerSec / b.MPPerSec
			if perCPU(b) > 0 {
				r.VsVipsthumbnailCPU = perCPU(r) / perCPU(b)
			}
		}
		if b := base(ImplSharp, r.Pool); b != nil {
			r.VsSharp = r.MPPerSec / b.MPPerSec
			if perCPU(b) > 0 {
				r.VsSharpCPU = perCPU(r) / perCPU(b)
			}
		}
	}
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
	m := rep.Machine
	fmt.Fprintf(&b, "# imgbatch bench: %s\n\n", rep.Name)
	fmt.Fprintf(&b, "- machine: %d CPUs usable (%d online), %s, %.1f GiB RAM, %s, kernel %s, %s\n", m.UsableCPUs, m.CPUs, m.CPUModel, float64(m.MemTotal)/(1<<30), m.OS, m.Kernel, m.Go)
	fmt.Fprintf(&b, "- libvips: imgbatch %s; vipsthumbnail %s; sharp %s\n", orDash(m.LibvipsImgbatch), orDash(m.LibvipsCLI), orDash(m.Sharp))
	if rep.Build != "" {
		fmt.Fprintf(&b, "- imgbatch build: %s\n", rep.Build)
	}
	fmt.Fprintf(&b, "- dataset: %s (digest %s) — %s; %d images per case\n", rep.Dataset.Name, rep.Dataset.Digest, rep.Dataset.Summary, rep.Images)
	fmt.Fprintf(&b, "- variant: fit %s %dx%d, %s q%d; every case in fresh processes, MALLOC_ARENA_MAX=2 unless +arenas; median of %d run(s); %s, %.0f s in all\n",
		rep.Variant.Fit, rep.Variant.Width, rep.Variant.Height, rep.Variant.Format, rep.Variant.Quality, rep.Repeat, rep.Started.Format(time.RFC3339), rep.Seconds)
	fmt.Fprintf(&b, "- memory budget (64 MiB + 48 MiB per core): %.0f MiB\n\n", mb(RSSBudget(m.UsableCPUs)))

	b.WriteString("| case | pool | img/s | MP/s | img/CPU-s | × vipsthumbnail (speed / per CPU) | × sharp (speed / per CPU) | latency p50 / p95 / p99 ms | peak RSS MiB (Go) | steady RSS MiB | RSS growth MiB | CPU | in → out MB | failed | runs img/s |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---|\n")
	for _, r := range rep.Results {
		if r.Error != "" {
			fmt.Fprintf(&b, "| %s | %d | error: %s ||||||||||||\n", r.Label, r.Pool, strings.ReplaceAll(r.Error, "|", "/"))
			continue
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
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f | %s | %s | %s | %s | %.0f | %+.0f | %.0f%% | %.0f → %.1f | %d | %s |\n",
			r.Label, r.Pool, r.ImgPerSec, r.MPPerSec, r.ImgPerCPUSec, ratios(r.VsVipsthumbnail, r.VsVipsthumbnailCPU), ratios(r.VsSharp, r.VsSharpCPU), lat,
			peak, mb(r.SteadyRSS), mb(r.RSSGrowth), 100*r.CPUUtil, float64(r.BytesIn)/1e6, float64(r.BytesOut)/1e6, r.Failed, strings.Join(runs, ", "))
	}
	b.WriteString("\nStage latencies (ms):\n\n| case | pool | stage | n | p50 | p95 | p99 | max |\n|---|---:|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Results {
		for _, s := range stageNames(r.Stages) {
			l := r.Stages[s]
			fmt.Fprintf(&b, "| %s | %d | %s | %d | %.1f | %.1f | %.1f | %.1f |\n", r.Label, r.Pool, s, l.N, l.P50, l.P95, l.P99, l.Max)
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
	b.WriteString("\nNotes:\n\n")
	notes := append([]string{
		"Throughput is images (or source megapixels) per second of wall clock from the first process start to the last exit; ratios compare MP/s at the same pool size, then MP per CPU-second (user + system of the case's processes), which a shared machine disturbs less.",
		"process: read → guard (sniff, pixel budget) → vips.Thumbnail → write, pool goroutines in one process. pipeline: a planned run worked by batch.Runner + worker.New (pool processors, the worker's default fetchers and uploaders: 2×pool and 4×pool) against the embedded S3, which runs in the bench process on the same cores (its CPU is not in the case's CPU column).",
		"vipsthumbnail: pool processes at a time, each given a batch of files, -o %s.jpg[Q=80,strip]; sharp: pool operations in flight, sharp's default libvips concurrency, cache off; both only get the files imgbatch's guard accepts.",
		"Peak RSS sums the case's processes' VmHWM sampled every 50 ms (for imgbatch at least its own VmHWM at exit; in brackets the Go runtime's share, the rest is libvips and malloc); steady is the median VmRSS after the first fifth of the run; growth compares the last fifth with the second.",
	}, rep.Notes...)
	for _, n := range notes {
		b.WriteString("- " + n + "\n")
	}
	return b.String()
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
	head := []string{"name", "dataset", "impl", "levers", "pool", "libvips", "images", "succeeded", "failed", "seconds", "img_per_s", "mp_per_s", "img_per_cpu_s",
		"vs_vipsthumbnail", "vs_sharp", "vs_vipsthumbnail_cpu", "vs_sharp_cpu", "runs_img_per_s", "peak_rss_mib", "go_peak_mib", "steady_rss_mib", "rss_growth_mib", "cpu_util", "cpu_s", "harness_cpu_s",
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
		row := []string{rep.Name, rep.Dataset.Name, r.Impl, strings.Join(r.Levers, "+"), strconv.Itoa(r.Pool), r.Libvips,
			strconv.Itoa(r.Images), strconv.Itoa(r.Succeeded), strconv.Itoa(r.Failed), f(r.Seconds, 3), f(r.ImgPerSec, 2), f(r.MPPerSec, 2), f(r.ImgPerCPUSec, 2),
			f(r.VsVipsthumbnail, 3), f(r.VsSharp, 3), f(r.VsVipsthumbnailCPU, 3), f(r.VsSharpCPU, 3), strings.Join(runs, ";"), f(mb(r.PeakRSS), 1), f(mb(r.GoPeak), 1), f(mb(r.SteadyRSS), 1), f(mb(r.RSSGrowth), 1),
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
