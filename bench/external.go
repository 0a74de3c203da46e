package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	version           string
}

// baselineSupports says why a baseline cannot make variant v, or "".
func baselineSupports(impl string, v imgbatch.Variant) string {
	switch impl {
	case ImplVipsthumbnail:
		if v.Fit != imgbatch.FitInside && v.Fit != imgbatch.FitCover {
			return "vipsthumbnail makes fit inside and cover only"
		}
	case ImplVipsResize:
		if v.Fit != imgbatch.FitInside {
			return "the vips-resize baseline makes fit inside only"
		}
	}
	return ""
}

// saveOptions is the libvips save suffix of a variant: "[Q=80,strip]".
func saveOptions(v imgbatch.Variant) string {
	if v.Format == imgbatch.FormatPNG {
		return "[strip]"
	}
	return fmt.Sprintf("[Q=%d,strip]", v.Quality)
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
// files…` with pool processes at a time, each given a batch of files.
func runVipsthumbnail(ctx context.Context, g *procGroup, env []string, files []string, v imgbatch.Variant, pool int, out string) (extOutcome, error) {
	var o extOutcome
	bs := batchSize(len(files), pool)
	type batch struct {
		n     int
		files []string
	}
	batches := make(chan batch)
	var okN, failN, bytesOut atomic.Int64
	eg, ectx := errgroup.WithContext(ctx)
	ext := imgbatch.Ext(v.Format)
	for range pool {
		eg.Go(func() error {
			for b := range batches {
				dir := filepath.Join(out, "b"+strconv.Itoa(b.n))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				args := []string{"-s", vipsthumbnailSize(v)}
				if v.Fit == imgbatch.FitCover {
					args = append(args, "-c")
				}
				args = append(args, "-o", filepath.Join(dir, "%s."+ext+saveOptions(v)))
				args = append(args, b.files...)
				runErr := g.run(command(ectx, env, "vipsthumbnail", args...))
				made := 0
				for _, f := range b.files {
					base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
					if fi, err := os.Stat(filepath.Join(dir, base+"."+ext)); err == nil {
						okN.Add(1)
						bytesOut.Add(fi.Size())
						made++
					} else {
						failN.Add(1)
					}
				}
				if runErr != nil && (made == 0 || ectx.Err() != nil) {
					return runErr
				}
				_ = os.RemoveAll(dir)
			}
			return nil
		})
	}
	eg.Go(func() error {
		defer close(batches)
		for i := 0; i < len(files); i += bs {
			select {
			case batches <- batch{n: i / bs, files: files[i:min(i+bs, len(files))]}:
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
	o.version = thumbnailerVersion(ctx)
	return o, nil
}

// runVipsResize runs `vips resize FILE OUT[Q=..,strip] SCALE` for every
// file, pool at a time: the whole image is decoded before it is scaled (no
// shrink-on-load), with one process start per image.
func runVipsResize(ctx context.Context, g *procGroup, env []string, files []File, paths []string, v imgbatch.Variant, pool int, out string) (extOutcome, error) {
	var o extOutcome
	if err := os.MkdirAll(out, 0o755); err != nil {
		return o, err
	}
	var okN, failN, bytesOut atomic.Int64
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(pool)
	for i, f := range files {
		eg.Go(func() error {
			scale := resizeScale(f.Width, f.Height, v)
			dst := filepath.Join(out, strconv.Itoa(i)+"."+imgbatch.Ext(v.Format))
			err := g.run(command(ectx, env, "vips", "resize", paths[i], dst+saveOptions(v), strconv.FormatFloat(scale, 'f', 8, 64)))
			if ectx.Err() != nil {
				return ectx.Err()
			}
			if fi, serr := os.Stat(dst); err == nil && serr == nil {
				okN.Add(1)
				bytesOut.Add(fi.Size())
				_ = os.Remove(dst)
			} else {
				failN.Add(1)
			}
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return o, err
	}
	if okN.Load() == 0 && failN.Load() > 0 {
		return o, errors.New("vips resize made no output")
	}
	o.succeeded, o.failed, o.bytesOut = int(okN.Load()), int(failN.Load()), bytesOut.Load()
	o.version = cliVersion(ctx)
	return o, nil
}

// resizeScale is the factor that fits w x h inside the variant's box.
func resizeScale(w, h int, v imgbatch.Variant) float64 {
	s := 1e9
	if v.Width > 0 && w > 0 {
		s = min(s, float64(v.Width)/float64(w))
	}
	if v.Height > 0 && h > 0 {
		s = min(s, float64(v.Height)/float64(h))
	}
	if s > 1 && !v.Upscale {
		s = 1
	}
	return s
}
