package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"

	govips "github.com/davidbyttow/govips/v2/vips"
	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/vips"
)

// DefaultQualitySample is how many images the quality pass compares per
// case unless Options.Quality says otherwise.
const DefaultQualitySample = 30

// PSNRCap is the PSNR (dB) an output identical to its reference counts as
// in means (PSNR itself returns +Inf for identical images).
const PSNRCap = 99

// QualityRow is the output quality of one case (recipe, implementation,
// sharp setting: pool size and levers do not change pixels) for one
// variant, over the sample: each output compared with the reference (the
// source decoded at full size, upright, in sRGB, resized with lanczos3 to
// exactly the output's dimensions, by govips: a code path apart from
// imgbatch's render.c).
type QualityRow struct {
	Impl    string `json:"impl"`
	Recipe  string `json:"recipe"`
	Sharp   string `json:"sharp,omitempty"`
	Label   string `json:"label"`
	Variant string `json:"variant"`
	// N outputs were compared; Missing sample images had no output.
	N       int `json:"n"`
	Missing int `json:"missing,omitempty"`
	// PSNR over R, G and B (8 bit), in dB, capped at PSNRCap; mean of the
	// outputs and the worst one.
	PSNRMean  float64 `json:"psnrMean"`
	PSNRWorst float64 `json:"psnrWorst"`
	// SSIM of luma (BT.601), 11x11 gaussian windows (σ 1.5), K1 0.01, K2
	// 0.03: mean of the outputs' SSIM and the worst one.
	SSIMMean  float64 `json:"ssimMean"`
	SSIMWorst float64 `json:"ssimWorst"`
	// MeanBytes is the mean size of the compared outputs.
	MeanBytes float64 `json:"meanBytes"`
	// WorstFile is the sample file of the worst SSIM.
	WorstFile string `json:"worstFile,omitempty"`
	Error     string `json:"error,omitempty"`
}

// qualitySample picks n files of fs spread evenly over it (all of them
// when n ≥ len(fs)): the same files every run of the same dataset.
func qualitySample(fs []File, n int) []File {
	if n <= 0 || n >= len(fs) {
		return slices.Clone(fs)
	}
	out := make([]File, n)
	for i := range out {
		out[i] = fs[i*len(fs)/n]
	}
	return out
}

// qualityFits says whether the reference (the whole source resized to the
// output's size) is what a variant of this fit should look like: inside
// and fill keep the whole frame; cover crops and contain pads.
func qualityFits(v imgbatch.Variant) bool {
	return v.Fit == imgbatch.FitInside || v.Fit == imgbatch.FitFill
}

// qualityPass runs every distinct (recipe, implementation, sharp setting)
// of cases once more, pool 1, on the quality sample, keeps the outputs
// and compares each with its reference. It runs after the timed runs.
func (rc *runCtx) qualityPass(ctx context.Context, cases []Case) ([]QualityRow, []string, error) {
	startLibvips()
	files := qualitySample(rc.ds.Good(), rc.o.Quality)
	if len(files) == 0 {
		return nil, nil, nil
	}
	var notes []string
	refs := &refCache{dir: filepath.Join(rc.o.CacheDir, "quality-refs", "libvips-"+vips.Version()), ds: rc.ds}
	fmt.Fprintf(rc.o.Log, "quality: %d images per case against full-decode lanczos3 references (libvips %s via govips)\n", len(files), vips.Version())
	var rows []QualityRow
	var errs []error
	seen := map[string]bool{}
	for _, c := range cases {
		qc := c.quality()
		if len(c.Levers) > 0 || seen[qc.Label()] {
			continue
		}
		seen[qc.Label()] = true
		recipe := rc.recipes[c.Recipe]
		run := qc
		run.Pool = 1
		out := filepath.Join(rc.work, "quality", dirName.Replace(run.Key()))
		_, err := rc.measure(ctx, run, files, files, out, true)
		for _, v := range recipe.Variants {
			row := QualityRow{Impl: qc.Impl, Recipe: qc.Recipe, Sharp: qc.Sharp, Label: qc.Label(), Variant: v.Name}
			switch {
			case err != nil:
				row.Error = err.Error()
			case !qualityFits(v):
				row.Error = "fit " + v.Fit + ": not compared (the reference keeps the whole frame)"
			default:
				row, err = refs.compare(ctx, row, files, func(i int) string { return outPath(out, v, i) })
				if err != nil {
					row.Error = err.Error()
				}
			}
			if row.Error != "" {
				errs = append(errs, fmt.Errorf("%s %s: %s", row.Label, row.Variant, row.Error))
			} else {
				fmt.Fprintf(rc.o.Log, "quality %-28s %-6s PSNR %5.2f dB (worst %5.2f)  SSIM %.4f (worst %.4f)  %6.0f bytes  n=%d\n",
					row.Label, row.Variant, row.PSNRMean, row.PSNRWorst, row.SSIMMean, row.SSIMWorst, row.MeanBytes, row.N)
			}
			rows = append(rows, row)
		}
		_ = os.RemoveAll(out)
		if ctx.Err() != nil {
			break
		}
	}
	return rows, notes, errors.Join(errs...)
}

// measured is one output's comparison.
type measured struct {
	psnr, ssim float64
	bytes      int64
	ok         bool
}

// compare fills row with the comparison of output(i) against the reference
// of files[i], for every i.
func (rc *refCache) compare(ctx context.Context, row QualityRow, files []File, output func(int) string) (QualityRow, error) {
	ms := make([]measured, len(files))
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, f := range files {
		g.Go(func() error {
			p := output(i)
			fi, err := os.Stat(p)
			if err != nil {
				return nil // missing: counted below
			}
			out, err := decodeRGB(p)
			if err != nil {
				return fmt.Errorf("decode %s's output: %w", f.Rel, err)
			}
			ref, err := rc.get(f, out.w, out.h)
			if err != nil {
				return fmt.Errorf("reference of %s at %dx%d: %w", f.Rel, out.w, out.h, err)
			}
			ms[i] = measured{psnr: min(PSNR(out, ref), PSNRCap), ssim: SSIM(out, ref), bytes: fi.Size(), ok: true}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return row, err
	}
	row.PSNRWorst, row.SSIMWorst = math.Inf(1), math.Inf(1)
	var bytes int64
	for i, m := range ms {
		if !m.ok {
			row.Missing++
			continue
		}
		row.N++
		row.PSNRMean += m.psnr
		row.SSIMMean += m.ssim
		bytes += m.bytes
		row.PSNRWorst = min(row.PSNRWorst, m.psnr)
		if m.ssim < row.SSIMWorst {
			row.SSIMWorst, row.WorstFile = m.ssim, files[i].Rel
		}
	}
	if row.N == 0 {
		// No worst of nothing: +Inf would make the report's JSON unwritable.
		row.PSNRWorst, row.SSIMWorst = 0, 0
		return row, errors.New("no outputs to compare")
	}
	row.PSNRMean /= float64(row.N)
	row.SSIMMean /= float64(row.N)
	row.MeanBytes = float64(bytes) / float64(row.N)
	return row, nil
}

// RGB is an 8-bit sRGB image, 3 bytes a pixel, rows top to bottom.
type RGB struct {
	w, h int
	pix  []byte
}

// NewRGB wraps pixels (len w*h*3).
func NewRGB(w, h int, pix []byte) RGB { return RGB{w: w, h: h, pix: pix} }

// PSNR is the peak signal-to-noise ratio of a against b over the R, G and
// B samples, in dB: +Inf when they are identical, and NaN when their sizes
// differ.
func PSNR(a, b RGB) float64 {
	if a.w != b.w || a.h != b.h || len(a.pix) != len(b.pix) || len(a.pix) == 0 {
		return math.NaN()
	}
	var sum float64
	for i := range a.pix {
		d := float64(a.pix[i]) - float64(b.pix[i])
		sum += d * d
	}
	if sum == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/(sum/float64(len(a.pix))))
}

// luma is BT.601 Y' of every pixel (as JPEG's YCbCr), 0..255.
func luma(a RGB) []float64 {
	y := make([]float64, a.w*a.h)
	for i := range y {
		p := a.pix[3*i : 3*i+3]
		y[i] = 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
	}
	return y
}

// ssimKernel is the 11-tap gaussian (σ 1.5) of Wang et al. 2004,
// normalized; SSIM applies it along both axes.
var ssimKernel = func() []float64 {
	k := make([]float64, 11)
	var s float64
	for i := range k {
		x := float64(i - 5)
		k[i] = math.Exp(-x * x / (2 * 1.5 * 1.5))
		s += k[i]
	}
	for i := range k {
		k[i] /= s
	}
	return k
}()

// SSIM is the mean structural similarity of the lumas of a and b (Wang,
// Bovik, Sheikh, Simoncelli 2004): 11x11 gaussian windows with σ 1.5 at
// every position where the window fits, L 255, K1 0.01, K2 0.03. 1 for
// identical images; NaN when their sizes differ. An image smaller than a
// window is one window of uniform weights.
func SSIM(a, b RGB) float64 {
	if a.w != b.w || a.h != b.h || len(a.pix) != len(b.pix) || len(a.pix) == 0 {
		return math.NaN()
	}
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	x, y := luma(a), luma(b)
	ssim := func(mx, my, sxx, syy, sxy float64) float64 {
		vx, vy, cxy := sxx-mx*mx, syy-my*my, sxy-mx*my
		return ((2*mx*my + c1) * (2*cxy + c2)) / ((mx*mx + my*my + c1) * (vx + vy + c2))
	}
	w, h, k := a.w, a.h, len(ssimKernel)
	if w < k || h < k {
		var mx, my, sxx, syy, sxy float64
		n := float64(len(x))
		for i := range x {
			mx += x[i] / n
			my += y[i] / n
			sxx += x[i] * x[i] / n
			syy += y[i] * y[i] / n
			sxy += x[i] * y[i] / n
		}
		return ssim(mx, my, sxx, syy, sxy)
	}
	// Horizontal pass of the five sums, then vertical, "valid" positions only.
	ow, oh := w-k+1, h-k+1
	var hs [5][]float64
	for q := range hs {
		hs[q] = make([]float64, ow*h)
	}
	for r := range h {
		row := r * w
		for c := range ow {
			var s0, s1, s2, s3, s4 float64
			for t, kt := range ssimKernel {
				xv, yv := x[row+c+t], y[row+c+t]
				s0 += kt * xv
				s1 += kt * yv
				s2 += kt * xv * xv
				s3 += kt * yv * yv
				s4 += kt * xv * yv
			}
			o := r*ow + c
			hs[0][o], hs[1][o], hs[2][o], hs[3][o], hs[4][o] = s0, s1, s2, s3, s4
		}
	}
	var total float64
	for r := range oh {
		for c := range ow {
			var v [5]float64
			for t, kt := range ssimKernel {
				o := (r+t)*ow + c
				for q := range v {
					v[q] += kt * hs[q][o]
				}
			}
			total += ssim(v[0], v[1], v[2], v[3], v[4])
		}
	}
	return total / float64(ow*oh)
}

// toSRGB8 turns an image into 8-bit sRGB without alpha: its ICC profile
// (if any) applied, converted to sRGB, flattened on white (as JPEG
// outputs are), cast to 8 bits.
func toSRGB8(img *govips.ImageRef) error {
	if img.HasICCProfile() {
		if err := img.TransformICCProfile(govips.SRGBIEC6196621ICCProfilePath); err != nil {
			return fmt.Errorf("icc_transform: %w", err)
		}
	}
	if img.Interpretation() != govips.InterpretationSRGB || img.BandFormat() != govips.BandFormatUchar {
		if err := img.ToColorSpace(govips.InterpretationSRGB); err != nil {
			return fmt.Errorf("colourspace: %w", err)
		}
	}
	if img.HasAlpha() {
		if err := img.Flatten(&govips.Color{R: 255, G: 255, B: 255}); err != nil {
			return fmt.Errorf("flatten: %w", err)
		}
	}
	if img.BandFormat() != govips.BandFormatUchar {
		if err := img.Cast(govips.BandFormatUchar); err != nil {
			return err
		}
	}
	if img.Bands() != 3 {
		return fmt.Errorf("%d bands after conversion to sRGB", img.Bands())
	}
	return nil
}

// rgbOf is the pixels of an 8-bit sRGB image.
func rgbOf(img *govips.ImageRef) (RGB, error) {
	pix, err := img.ToBytes()
	if err != nil {
		return RGB{}, err
	}
	w, h := img.Width(), img.Height()
	if len(pix) != w*h*3 {
		return RGB{}, fmt.Errorf("%d bytes for %dx%d RGB", len(pix), w, h)
	}
	return RGB{w: w, h: h, pix: pix}, nil
}

// decodeRGB decodes an output file with govips (as stored: no rotation).
func decodeRGB(path string) (RGB, error) {
	startLibvips()
	b, err := os.ReadFile(path)
	if err != nil {
		return RGB{}, err
	}
	img, err := govips.NewImageFromBuffer(b)
	if err != nil {
		return RGB{}, err
	}
	defer img.Close()
	if err := toSRGB8(img); err != nil {
		return RGB{}, err
	}
	return rgbOf(img)
}

// Reference makes the quality reference of a source: decoded at full size
// (no shrink-on-load), turned upright by its EXIF orientation, in sRGB,
// resized with lanczos3 (vips_resize, horizontal and vertical scales apart)
// to exactly w x h.
func Reference(src []byte, w, h int) (RGB, error) {
	startLibvips()
	img, err := govips.NewImageFromBuffer(src)
	if err != nil {
		return RGB{}, err
	}
	defer img.Close()
	if err := img.AutoRotate(); err != nil {
		return RGB{}, fmt.Errorf("autorot: %w", err)
	}
	if err := toSRGB8(img); err != nil {
		return RGB{}, err
	}
	sw, sh := img.Width(), img.Height()
	if sw != w || sh != h {
		// vips_resize rounds the output size to the nearest pixel:
		// aim at the middle of the target pixel.
		hs, vs := float64(w)/float64(sw), float64(h)/float64(sh)
		if err := img.ResizeWithVScale(hs, vs, govips.KernelLanczos3); err != nil {
			return RGB{}, fmt.Errorf("resize: %w", err)
		}
	}
	if img.Width() != w || img.Height() != h {
		return RGB{}, fmt.Errorf("resized to %dx%d, not %dx%d", img.Width(), img.Height(), w, h)
	}
	return rgbOf(img)
}

// refCache keeps references on disk (dir/<source sha256>-<w>x<h>.rgb,
// raw pixels) so a second run of the same dataset does not decode the
// 12 MP sources again; dir names the libvips version that made them.
type refCache struct {
	dir string
	ds  *Dataset
	mu  sync.Mutex
}

func (rc *refCache) get(f File, w, h int) (RGB, error) {
	name := ""
	if rc.dir != "" && f.SHA256 != "" {
		name = filepath.Join(rc.dir, f.SHA256[:32]+"-"+strconv.Itoa(w)+"x"+strconv.Itoa(h)+".rgb")
		if b, err := os.ReadFile(name); err == nil && len(b) == w*h*3 {
			return RGB{w: w, h: h, pix: b}, nil
		}
	}
	src, err := os.ReadFile(rc.ds.Path(f))
	if err != nil {
		return RGB{}, err
	}
	ref, err := Reference(src, w, h)
	if err != nil {
		return RGB{}, err
	}
	if name != "" {
		rc.mu.Lock()
		err := os.MkdirAll(rc.dir, 0o755)
		rc.mu.Unlock()
		if err == nil {
			tmp := name + ".tmp" + strconv.Itoa(os.Getpid())
			if os.WriteFile(tmp, ref.pix, 0o644) == nil {
				_ = os.Rename(tmp, name)
			}
		}
	}
	return ref, nil
}
