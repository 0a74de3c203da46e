package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/bench"
)

// benchUsage and benchHelp are `imgbatch bench --help`.
const (
	benchUsage = "measure images/s, CPU per image, memory and output quality on a dataset, against vipsthumbnail and sharp"
	benchHelp  = `Sizes a fleet before a backfill: how many images per second one machine
turns into variants, at what CPU per image, latency and peak memory, and with
what output quality, for each pool size, next to libvips' own vipsthumbnail
and Node's sharp (--compare) on the same files.

Datasets (--dataset): a directory of images, or a built-in prepared once from
Debian's plasma-workspace-wallpapers (apt-get download + dpkg -x, nothing
installed) with libvips in this process, and cached under --cache-dir:
   photos   ≥ 200 JPEGs of 12 MP (crops, flips, rotations, rescales)
   mixed    JPEG/PNG/WebP from 400 to 4000 px, plus broken files
   small    the photos at 800 px, web-sized

Modes (--mode): process (files in, files out: the guard and vips.Thumbnail,
pool goroutines) and pipeline (a planned run worked by the real runner and
worker against the embedded S3). Every case runs in fresh processes.
Recipes (--recipe, comma separated, each a set of cases): single (the
--variant alone), default (imgbatch's default recipe: thumb 256 JPEG q80 +
web 1280 JPEG q82, every variant from one decode), or a recipe file (JSON or YAML, as imgbatch work reads it).
Baselines (--compare): vipsthumbnail (libvips' own, built on the same libvips
as imgbatch by scripts/vipsthumbnail-npm.sh; found in PATH or --vipsthumbnail;
pool processes, once per variant) and sharp (npm install into the cache; pool
operations in flight; several variants = one pipeline per image and a clone()
per variant), run with sharp.concurrency(1) and with sharp's default
concurrency (--sharp): the faster is "sharp" in the ratios, and the report
says which won.
Quality (--quality N): after the timed runs, every case runs once more on N
images (a fixed sample) and each output is compared with a reference made
by govips (full decode, upright, sRGB, lanczos3 to the output's size): PSNR
over RGB and SSIM of luma, mean and worst, and mean output bytes.
Levers (--lever) add imgbatch cases: arenas (glibc's default malloc arenas
instead of MALLOC_ARENA_MAX=2), trim (malloc_trim every second), reuse
(reused read buffers, process mode), vconcN (libvips threads per operation),
gogcN (GOGC=N), memlimitN (GOMEMLIMIT=N MiB), fetchN (N fetchers, pipeline);
join several with + (arenas+trim).

Results: a markdown table (printed), results.csv, results.json and chart.svg
(throughput and RSS against pool size) under --results-dir/--name.

Examples:
   imgbatch bench                                     # photos, process + pipeline, vs vipsthumbnail
   imgbatch bench --compare vipsthumbnail,sharp --recipe single,default --pool 2 --repeat 3
   imgbatch bench --compare vipsthumbnail,sharp --pool 1,2,3,4 --quality 0
   imgbatch bench --dataset mixed --mode process --lever arenas --lever trim
   imgbatch bench --dataset ./my-images --variant thumb:256x256:webp:75
   imgbatch bench --mode pipeline --pool 2 --images 10000 --compare none   # memory over 10,000 images`
)

func benchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "dataset", Aliases: []string{"d"}, Value: bench.DatasetPhotos, Usage: "photos, mixed, small, or a directory of images"},
		&cli.StringFlag{Name: "mode", Value: "process,pipeline", Usage: "imgbatch cases: process, pipeline (comma separated; none for baselines only)"},
		&cli.StringFlag{Name: "compare", Value: bench.ImplVipsthumbnail, Usage: "baselines: vipsthumbnail, sharp (comma separated; none)"},
		&cli.StringFlag{Name: "recipe", Value: bench.RecipeSingle, Usage: "recipes, comma separated: single (--variant), default (imgbatch's default recipe), or a recipe file (JSON or YAML, as work reads it)"},
		&cli.StringFlag{Name: "sharp", Value: "c1,default", Usage: "sharp settings to run, comma separated: c1 (sharp.concurrency(1)), default (sharp's default concurrency); the faster is the ratios' sharp"},
		&cli.IntFlag{Name: "quality", Value: bench.DefaultQualitySample, Usage: "images per case in the quality pass after the timed runs (0: no quality pass)"},
		&cli.StringFlag{Name: "vipsthumbnail", Usage: "the vipsthumbnail baseline's binary (default: vipsthumbnail in PATH; build it with scripts/vipsthumbnail-npm.sh)"},
		&cli.StringFlag{Name: "pool", Usage: "pool sizes, e.g. 1,2,3,4 (default: 1, CPUs, 2 × CPUs)"},
		&cli.StringSliceFlag{Name: "lever", Usage: "lever set to add as imgbatch cases: arenas, trim, reuse, vconcN, gogcN, memlimitN, fetchN; + joins (repeatable)"},
		&cli.StringFlag{Name: "variant", Value: "bench:512x512:jpeg:80", Usage: "the variant to make, name:WIDTHxHEIGHT[:format[:quality[:fit]]]"},
		&cli.IntFlag{Name: "images", Usage: "images per case: the dataset cycled to this many (default: each file once)"},
		&cli.IntFlag{Name: "repeat", Value: 1, Usage: "run every case this many times, interleaved, and report the median"},
		&cli.StringFlag{Name: "name", Usage: "results directory name under --results-dir (default: a UTC timestamp)"},
		&cli.StringFlag{Name: "results-dir", Value: filepath.Join("bench", "results"), Usage: "where results are written (empty: nowhere)"},
		&cli.StringFlag{Name: "cache-dir", EnvVars: []string{"IMGBATCH_BENCH_CACHE"}, Usage: "prepared datasets and sharp (default $XDG_CACHE_HOME/imgbatch or ~/.cache/imgbatch)"},
		&cli.StringFlag{Name: "wallpapers", Usage: "an unpacked usr/share/wallpapers of plasma-workspace-wallpapers (skips apt-get download)"},
		&cli.StringFlag{Name: "bad-images", Value: filepath.Join("testdata", "bad-images"), Usage: "hostile corpus the mixed dataset takes its broken files from"},
		&cli.Int64Flag{Name: "max-pixels", Value: bench.DefaultMaxPixels, Usage: "pixel budget of the guard, as imgbatch work --max-pixels"},
		&cli.StringFlag{Name: "profile", Usage: "write CPU and heap profiles of imgbatch's cases under this directory (go tool pprof)"},
		&cli.DurationFlag{Name: "case-timeout", Value: 30 * time.Minute, Usage: "give up on a case after this long"},
	}
}

// benchChildCommand runs one case of a bench in a fresh process.
func benchChildCommand() *cli.Command {
	return &cli.Command{
		Name:   "child",
		Hidden: true,
		Usage:  "run one case of imgbatch's own code (spec on stdin, result on stdout); started by imgbatch bench",
		Action: func(c *cli.Context) error {
			return bench.RunChild(c.Context, os.Stdin, c.App.Writer)
		},
	}
}

func benchAction(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	o, err := benchOptionsFrom(c)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the imgbatch binary for the bench children: %w", err)
	}
	o.Self = []string{exe, "bench", "child"}
	o.Version = version
	o.SelfEnv = []string{"IMGBATCH_BE_MAIN=1"} // lets a test binary stand in for imgbatch
	rep, err := bench.Run(ctx, o)
	if rep != nil {
		fmt.Fprint(c.App.Writer, rep.Markdown())
	}
	return err
}

// benchOptionsFrom reads bench's flags; a bad one is a usage error.
func benchOptionsFrom(c *cli.Context) (bench.Options, error) {
	o, err := readBenchFlags(c)
	return o, usageErr(err)
}

func readBenchFlags(c *cli.Context) (bench.Options, error) {
	if c.Args().Len() > 0 {
		return bench.Options{}, fmt.Errorf("unexpected arguments %q (see imgbatch bench --help)", c.Args().Slice())
	}
	o := bench.Options{
		Dataset: c.String("dataset"), Images: c.Int("images"), Repeat: c.Int("repeat"),
		Name: c.String("name"), ResultsDir: c.String("results-dir"), CacheDir: c.String("cache-dir"),
		Wallpapers: c.String("wallpapers"), BadImages: c.String("bad-images"), MaxPixels: c.Int64("max-pixels"),
		CaseTimeout: c.Duration("case-timeout"), ProfileDir: c.String("profile"), Log: c.App.ErrWriter,
		Modes: benchList(c.String("mode")), Sharp: benchList(c.String("sharp")), Vipsthumbnail: c.String("vipsthumbnail"),
		Quality: c.Int("quality"), Compare: benchList(c.String("compare")),
	}
	for _, s := range o.Sharp {
		if s != bench.SharpConc1 && s != bench.SharpDefault {
			return o, fmt.Errorf("--sharp %q: want %s and/or %s", s, bench.SharpConc1, bench.SharpDefault)
		}
	}
	if o.Quality == 0 {
		o.Quality = -1 // none
	} else if o.Quality < 0 {
		return o, fmt.Errorf("--quality %d: want a number of images, or 0 for none", o.Quality)
	}
	if slices.Contains(o.Compare, bench.ImplVipsResize) {
		return o, fmt.Errorf("--compare %s is gone: it needed Debian's vips CLI, which imgbatch no longer uses", bench.ImplVipsResize)
	}
	var err error
	if o.Pools, err = parsePools(c.String("pool")); err != nil {
		return o, err
	}
	if o.Levers, err = bench.ParseLevers(splitList(c.StringSlice("lever"))); err != nil {
		return o, err
	}
	if o.Variant, err = imgbatch.ParseVariant(c.String("variant")); err != nil {
		return o, err
	}
	for _, name := range benchList(c.String("recipe")) {
		r, err := bench.ParseRecipe(name, o.Variant)
		if err != nil {
			return o, err
		}
		o.Recipes = append(o.Recipes, r)
	}
	if o.CacheDir == "" {
		if o.CacheDir, err = defaultCacheDir(); err != nil {
			return o, err
		}
	}
	return o, nil
}

// benchList splits a comma-separated list; "none" is the empty list.
func benchList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "none" {
			out = append(out, p)
		}
	}
	return out
}

func parsePools(s string) ([]int, error) {
	var out []int
	for _, p := range benchList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--pool %q: want positive integers, e.g. 1,2,4", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// defaultCacheDir is $XDG_CACHE_HOME/imgbatch, else ~/.cache/imgbatch.
func defaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "imgbatch"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: give --cache-dir: %w", err)
	}
	return filepath.Join(d, "imgbatch"), nil
}
