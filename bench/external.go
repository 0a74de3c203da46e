package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
)

// maxCoord stands for "no limit" on one side (libvips' VIPS_MAX_COORD).
const maxCoord = 10_000_000

// extOutcome is what an external baseline produced.
type extOutcome struct {
	succeeded, failed int
	bytesOut          int64
	stages            map[string]Latency
	errors            map[string]int
	version           string
	sharpConcurrency  int // libvips threads per sharp operation, as sharp reported it
}

// baselineSupports says why a baseline cannot make recipe r, or "".
func baselineSupports(impl string, r imgbatch.Recipe) string {
	for _, v := range r.Variants {
		if impl == ImplVipsthumbnail && v.Fit != imgbatch.FitInside && v.Fit != imgbatch.FitCover {
			return fmt.Sprintf("vipsthumbnail left out of recipe %s: it makes fit inside and cover only", r.Name)
		}
	}
	return ""
}

// saveOptions is the libvips save suffix of a variant: "[Q=80,strip]",
// with its encoder options (encoder.go).
func saveOptions(v imgbatch.Variant) string {
	o := []string{"strip"}
	if keepsICC(v) {
		o = []string{"keep=icc"}
	}
	if v.Format != imgbatch.FormatPNG {
		o = append([]string{fmt.Sprintf("Q=%d", v.Quality)}, o...)
	}
	return "[" + strings.Join(append(o, encoderSaveOptions(v)...), ",") + "]"
}

// vipsthumbnailSize is vipsthumbnail's -s geometry of a variant: "512x512>"
// (">" shrinks only, like imgbatch without Upscale).
func vipsthumbnailSize(v imgbatch.Variant) string {
	w, h := v.Width, v.Height
	if w == 0 {
		w = maxCoord
	}
	if h == 0 {
		h = maxCoord
	}
	s := fmt.Sprintf("%dx%d", w, h)
	if !v.Upscale {
		s += ">"
	}
	return s
}

// batchSize spreads n files over pool processes in several batches each,
// so that none waits long for the last one; at most 16 files per process
// start.
func batchSize(n, pool int) int {
	return max(1, min(16, n/(pool*8)))
}

// runVipsthumbnail runs `vipsthumbnail -s WxH -o OUT/%s.jpg[Q=80,strip]
// files…` with pool processes at a time, each given a batch of files (bs
// files; 0: batchSize), once per variant of the recipe (vipsthumbnail makes
// one size per run: every variant decodes the source again). With keep,
// the outputs stay, renamed to outPath(out, v, index of the file);
// otherwise each batch's are deleted once counted.
func runVipsthumbnail(ctx context.Context, g *procGroup, env []string, bin string, files []string, r imgbatch.Recipe, pool, bs int, keep bool, out string) (extOutcome, error) {
	var o extOutcome
	if bs <= 0 {
		bs = batchSize(len(files), pool)
	}
	type batch struct {
		n     int // index of its first file
		files []string
	}
	batches := make(chan batch)
	var okN, failN, bytesOut atomic.Int64
	eg, ectx := errgroup.WithContext(ctx)
	for range pool {
		eg.Go(func() error {
			for b := range batches {
				made := make([]int, len(b.files)) // variants made per file
				for _, v := range r.Variants {
					ext := imgbatch.Ext(v.Format)
					dir := filepath.Join(out, v.Name, "b"+strconv.Itoa(b.n))
					if err := os.MkdirAll(dir, 0o755); err != nil {
						return err
					}
					args := append([]string{"-s", vipsthumbnailSize(v)}, vipsthumbnailProfile(v)...)
					if v.Fit == imgbatch.FitCover {
						args = append(args, "-c")
					}
					args = append(args, "-o", filepath.Join(dir, "%s."+ext+saveOptions(v)))
					args = append(args, b.files...)
					runErr := g.run(command(ectx, env, bin, args...))
					n := 0
					for k, f := range b.files {
						base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
						p := filepath.Join(dir, base+"."+ext)
						if fi, err := os.Stat(p); err == nil {
							bytesOut.Add(fi.Size())
							made[k]++
							n++
							if keep {
								if err := os.Rename(p, outPath(out, v, b.n+k)); err != nil {
									return err
								}
							}
						}
					}
					if runErr != nil && (n == 0 || ectx.Err() != nil) {
						return runErr
					}
					_ = os.RemoveAll(dir)
				}
				for _, m := range made {
					if m == len(r.Variants) {
						okN.Add(1)
					} else {
						failN.Add(1)
					}
				}
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer close(batches)
		for i := 0; i < len(files); i += bs {
			select {
			case batches <- batch{n: i, files: files[i:min(i+bs, len(files))]}:
			case <-ectx.Done():
				return ectx.Err()
			}
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return o, err
	}
	o.succeeded, o.failed, o.bytesOut = int(okN.Load()), int(failN.Load()), bytesOut.Load()
	o.version = thumbnailerVersion(ctx, bin)
	return o, nil
}

// findVipsthumbnail is the vipsthumbnail baseline's binary: flag (a path),
// else vipsthumbnail in PATH. It must be libvips' own vipsthumbnail built
// on the same libvips as imgbatch (scripts/vipsthumbnail-npm.sh); the
// report names the version it runs on.
func findVipsthumbnail(flag string) (string, error) {
	hint := "build it on the pinned npm libvips with scripts/vipsthumbnail-npm.sh <libvips prefix> (make bench does) and put its bin/ in PATH or give --vipsthumbnail"
	if flag != "" {
		fi, err := os.Stat(flag)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("--vipsthumbnail %s is not an executable file: %s", flag, hint)
		}
		return filepath.Abs(flag)
	}
	p, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		return "", fmt.Errorf("no vipsthumbnail in PATH: %s", hint)
	}
	return filepath.Abs(p)
}
