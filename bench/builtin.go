package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	govips "github.com/davidbyttow/govips/v2/vips"
	"golang.org/x/sync/errgroup"

	"github.com/imgbatch/imgbatch/sniff"
	"github.com/imgbatch/imgbatch/vips"
)

// Built-in datasets, prepared on first use from Debian's
// plasma-workspace-wallpapers (real photos and renders, up to 5120x2880)
// with libvips in this process (govips: the operations and parameters the
// vips command-line tools were once run with), and cached.
const (
	// DatasetPhotos: ≥ 200 JPEGs of 12 MP (4000x3000 or 3000x4000, q90):
	// seven crops, flips, rotations and rescales of each large wallpaper.
	DatasetPhotos = "photos"
	// DatasetMixed: JPEG, PNG and WebP from 400 px to 4000 px, phone-sized
	// wallpapers and screenshots as they are, and broken files from
	// testdata/bad-images.
	DatasetMixed = "mixed"
	// DatasetSmall: the photos set as web-sized JPEGs (800 px, q85).
	DatasetSmall = "small"
)

// Versions of the built-in recipes: bump one when its recipe changes, so a
// cache made by the old recipe is not taken for the new one.
var builtinVersion = map[string]string{DatasetPhotos: "v2", DatasetMixed: "v1", DatasetSmall: "v2"}

// BuiltinDatasets lists the built-in dataset names.
func BuiltinDatasets() []string { return []string{DatasetPhotos, DatasetMixed, DatasetSmall} }

// PrepareOptions say where built-in datasets are made and from what.
type PrepareOptions struct {
	// CacheDir holds prepared datasets (datasets/<name>-<version>/), the
	// downloaded .deb and its unpacked tree.
	CacheDir string
	// Wallpapers is an unpacked usr/share/wallpapers of
	// plasma-workspace-wallpapers; empty: apt-get download and dpkg -x it
	// into CacheDir (no installation).
	Wallpapers string
	// BadImages is the hostile corpus (testdata/bad-images) the mixed set
	// takes broken files from; empty or missing: no broken files.
	BadImages string
	MaxPixels int64
	Log       io.Writer
}

// brokenForMixed are the hostile files of the mixed set: each one must be
// refused by the guard with a readable reason (the demo uses the same).
var brokenForMixed = []string{
	"empty.jpg", "random-bytes.jpg", "pdf-renamed.jpg", "bmp-16x16-valid.bmp", "svg-with-script.svg",
	"jpeg-sof-65500x65500.jpg", "png-ihdr-100000x100000-tiny-idat.png", "png-broken-pillow.png",
	"svgz-truncated-gzip-trailing-garbage.svgz", "text-matrix-named.png",
}

// Prepare returns the dataset nameOrDir: a built-in name (prepared into the
// cache on first use) or a directory of images (write ./photos for a
// directory that has a built-in's name).
func Prepare(ctx context.Context, nameOrDir string, o PrepareOptions) (*Dataset, error) {
	if o.MaxPixels <= 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if _, ok := builtinVersion[nameOrDir]; !ok {
		fi, err := os.Stat(nameOrDir)
		if err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("dataset %q is neither a built-in (%s) nor a directory", nameOrDir, strings.Join(BuiltinDatasets(), ", "))
		}
		return LoadDir(filepath.Base(filepath.Clean(nameOrDir)), nameOrDir, o.MaxPixels)
	}
	if o.CacheDir == "" {
		return nil, errors.New("no cache directory for the built-in datasets")
	}
	cache, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return nil, err
	}
	o.CacheDir = cache
	root := filepath.Join(o.CacheDir, "datasets", nameOrDir+"-"+builtinVersion[nameOrDir])
	if d, err := readManifest(root); err == nil {
		return d, nil
	}
	startLibvips()
	tmp := root + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(tmp, imagesDir), 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "preparing dataset %s in %s (once; cached)\n", nameOrDir, root)
	var origin string
	switch nameOrDir {
	case DatasetPhotos:
		origin, err = makePhotos(ctx, o, filepath.Join(tmp, imagesDir))
	case DatasetSmall:
		origin, err = makeSmall(ctx, o, filepath.Join(tmp, imagesDir))
	case DatasetMixed:
		origin, err = makeMixed(ctx, o, filepath.Join(tmp, imagesDir))
	}
	if err != nil {
		return nil, fmt.Errorf("prepare dataset %s: %w", nameOrDir, err)
	}
	d, err := LoadDir(nameOrDir, filepath.Join(tmp, imagesDir), o.MaxPixels)
	if err != nil {
		return nil, err
	}
	d.Origin = origin
	if err := writeManifest(tmp, d); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, root); err != nil {
		return nil, err
	}
	d.Dir = filepath.Join(root, imagesDir)
	fmt.Fprintf(o.Log, "dataset %s: %s\n", nameOrDir, d.Summary())
	return d, nil
}

// wallpaper is one image of the wallpapers package.
type wallpaper struct {
	path, name    string // name: Theme-dir-basename, unique
	format        string
	width, height int
	screenshot    bool
}

// wallpaperSet finds the wallpapers package's images (downloading and
// unpacking it when needed) and describes where they came from.
func wallpaperSet(ctx context.Context, o PrepareOptions) ([]wallpaper, string, error) {
	dir, origin, err := wallpaperDir(ctx, o)
	if err != nil {
		return nil, "", err
	}
	var out []wallpaper
	themes, err := os.ReadDir(dir)
	if err != nil {
		return nil, "", err
	}
	for _, t := range themes {
		contents := filepath.Join(dir, t.Name(), "contents")
		err := filepath.WalkDir(contents, func(p string, e os.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() {
				return err
			}
			ext := strings.ToLower(filepath.Ext(p))
			if ext != ".jpg" && ext != ".png" {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			info, err := sniff.Inspect(b)
			if err != nil {
				return nil
			}
			rel, _ := filepath.Rel(contents, p)
			rel = strings.TrimSuffix(filepath.ToSlash(rel), filepath.Ext(rel))
			out = append(out, wallpaper{
				path: p, name: t.Name() + "-" + strings.ReplaceAll(rel, "/", "-"),
				format: string(info.Format), width: info.Width, height: info.Height,
				screenshot: strings.HasPrefix(e.Name(), "screenshot"),
			})
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, "", err
		}
	}
	slices.SortFunc(out, func(a, b wallpaper) int { return strings.Compare(a.name, b.name) })
	if len(out) < 20 {
		return nil, "", fmt.Errorf("only %d images under %s: not an unpacked plasma-workspace-wallpapers", len(out), dir)
	}
	return out, origin, nil
}

// wallpaperDir returns an unpacked usr/share/wallpapers.
func wallpaperDir(ctx context.Context, o PrepareOptions) (dir, origin string, err error) {
	if o.Wallpapers != "" {
		if fi, err := os.Stat(o.Wallpapers); err != nil || !fi.IsDir() {
			return "", "", fmt.Errorf("--wallpapers %s is not a directory", o.Wallpapers)
		}
		return o.Wallpapers, "plasma-workspace-wallpapers unpacked in " + o.Wallpapers, nil
	}
	unpacked := filepath.Join(o.CacheDir, "wallpapers")
	dir = filepath.Join(unpacked, "usr", "share", "wallpapers")
	debDir := filepath.Join(o.CacheDir, "deb")
	deb := findDeb(debDir, filepath.Join(".cache", "deb"))
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir, "Debian " + debName(deb, "plasma-workspace-wallpapers"), nil
	}
	if deb == "" {
		if err := os.MkdirAll(debDir, 0o755); err != nil {
			return "", "", err
		}
		fmt.Fprintln(o.Log, "apt-get download plasma-workspace-wallpapers (about 94 MB, once)")
		if err := aptDownload(ctx, debDir); err != nil {
			return "", "", err
		}
		if deb = findDeb(debDir); deb == "" {
			return "", "", fmt.Errorf("apt-get download left no .deb in %s", debDir)
		}
	}
	tmp := unpacked + ".tmp"
	_ = os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", deb, tmp).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("dpkg -x %s: %v: %s", deb, err, out)
	}
	_ = os.RemoveAll(unpacked)
	if err := os.Rename(tmp, unpacked); err != nil {
		return "", "", err
	}
	return dir, "Debian " + debName(deb, "plasma-workspace-wallpapers"), nil
}

func findDeb(dirs ...string) string {
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "plasma-workspace-wallpapers_*.deb"))
		if len(m) > 0 {
			slices.Sort(m)
			return m[len(m)-1]
		}
	}
	return ""
}

func debName(deb, fallback string) string {
	if deb == "" {
		return fallback
	}
	// plasma-workspace-wallpapers_4%3a5.27.5-2_all.deb → plasma-workspace-wallpapers 4:5.27.5-2
	base := strings.TrimSuffix(filepath.Base(deb), ".deb")
	parts := strings.Split(base, "_")
	if len(parts) < 2 {
		return base
	}
	return parts[0] + " " + strings.ReplaceAll(parts[1], "%3a", ":")
}

func aptDownload(ctx context.Context, dir string) error {
	get := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "download", "plasma-workspace-wallpapers")
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	out, err := get()
	if err == nil {
		return nil
	}
	// A fresh machine may have no package lists yet.
	if u, uerr := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); uerr != nil {
		return fmt.Errorf("apt-get download plasma-workspace-wallpapers: %v: %s (and apt-get update: %v: %s)", err, out, uerr, u)
	}
	if out, err := get(); err != nil {
		return fmt.Errorf("apt-get download plasma-workspace-wallpapers: %v: %s", err, out)
	}
	return nil
}

// thumbnail is `vips thumbnail path … W --height H --size both --crop c`.
func thumbnail(path string, w, h int, crop govips.Interesting) (*govips.ImageRef, error) {
	img, err := govips.NewThumbnailWithSizeFromFile(path, w, h, crop, govips.SizeBoth)
	if err != nil {
		return nil, fmt.Errorf("thumbnail %s: %w", path, err)
	}
	return img, nil
}

// materialize computes img once (into an uncompressed TIFF in memory, as
// the CLI's intermediate .v file did on disk), so the crops made from it
// do not each decode the source again.
func materialize(img *govips.ImageRef) (*govips.ImageRef, error) {
	defer img.Close()
	b, _, err := img.ExportTiff(&govips.TiffExportParams{Compression: govips.TiffCompressionNone})
	if err != nil {
		return nil, fmt.Errorf("materialize: %w", err)
	}
	return govips.NewImageFromBuffer(b)
}

// save writes img as the vips CLI's "path.jpg[Q=n]", "path.png" or
// "path.webp[Q=n]" would (metadata kept, the savers' defaults).
func save(img *govips.ImageRef, path, format string, q int) error {
	var b []byte
	var err error
	switch format {
	case "jpg":
		b, _, err = img.ExportJpeg(&govips.JpegExportParams{Quality: q, SubsampleMode: govips.VipsForeignSubsampleAuto})
	case "png":
		b, _, err = img.ExportPng(&govips.PngExportParams{Compression: 6, Filter: govips.PngFilterNone})
	case "webp":
		b, _, err = img.ExportWebp(&govips.WebpExportParams{Quality: q, ReductionEffort: 4})
	default:
		return fmt.Errorf("save %s: unknown format %s", path, format)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

func parallel(ctx context.Context) (*errgroup.Group, context.Context) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	return g, ctx
}

// largePhotos are the wallpapers of at least 4 MP: the sources of the
// photos set.
func largePhotos(ws []wallpaper) []wallpaper {
	var out []wallpaper
	for _, w := range ws {
		if !w.screenshot && w.width*w.height >= 4_000_000 {
			out = append(out, w)
		}
	}
	return out
}

// makePhotos writes seven 12 MP JPEGs (q90) per large wallpaper: the
// wallpaper scaled to cover 4400x3300 (3300x4400 when portrait), then three
// 4000x3000 crops at different places, a mirrored crop, a crop turned 180°,
// a crop turned 90° (portrait) and the whole frame scaled to 4000x3000.
func makePhotos(ctx context.Context, o PrepareOptions, out string) (string, error) {
	ws, origin, err := wallpaperSet(ctx, o)
	if err != nil {
		return "", err
	}
	srcs := largePhotos(ws)
	g, gctx := parallel(ctx)
	for _, w := range srcs {
		g.Go(func() error { return photoVariants(gctx, w, out) })
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: 7 crops/flips/rotations/rescales at 12 MP (JPEG q90) of each of its %d images of ≥ 4 MP, made with libvips %s", origin, len(srcs), vips.Version()), nil
}

func photoVariants(ctx context.Context, w wallpaper, out string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bw, bh, cw, ch := 4400, 3300, 4000, 3000
	if w.height > w.width {
		bw, bh, cw, ch = bh, bw, ch, cw
	}
	dx, dy := bw-cw, bh-ch
	t, err := thumbnail(w.path, bw, bh, govips.InterestingCentre)
	if err != nil {
		return err
	}
	base, err := materialize(t)
	if err != nil {
		return err
	}
	defer base.Close()
	// JPEG cannot hold alpha: flatten RGBA wallpapers on white first
	// (only those: flatten makes one band of an image without alpha).
	if b := base.Bands(); b == 2 || b == 4 {
		if err := base.Flatten(&govips.Color{R: 255, G: 255, B: 255}); err != nil {
			return err
		}
	}
	dst := func(k int) string { return filepath.Join(out, fmt.Sprintf("%s-%d.jpg", w.name, k)) }
	crop := func(x, y int) (*govips.ImageRef, error) {
		c, err := base.Copy()
		if err != nil {
			return nil, err
		}
		if err := c.ExtractArea(x, y, cw, ch); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	// scale as the CLI was given it: 6 decimals.
	scale, _ := strconv.ParseFloat(strconv.FormatFloat(float64(cw)/float64(bw), 'f', 6, 64), 64)
	steps := []func() (*govips.ImageRef, error){
		func() (*govips.ImageRef, error) { return crop(dx/2, dy/2) },
		func() (*govips.ImageRef, error) { return crop(0, 0) },
		func() (*govips.ImageRef, error) { return crop(dx, dy) },
		func() (*govips.ImageRef, error) {
			c, err := crop(0, dy)
			if err == nil {
				err = c.Flip(govips.DirectionHorizontal)
			}
			return c, err
		},
		func() (*govips.ImageRef, error) {
			c, err := crop(dx, 0)
			if err == nil {
				err = c.Rotate(govips.Angle180)
			}
			return c, err
		},
		func() (*govips.ImageRef, error) {
			c, err := crop(dx/2, dy/2)
			if err == nil {
				err = c.Rotate(govips.Angle90)
			}
			return c, err
		},
		func() (*govips.ImageRef, error) {
			c, err := base.Copy()
			if err == nil {
				err = c.Resize(scale, govips.KernelLanczos3)
			}
			return c, err
		},
	}
	for k, step := range steps {
		img, err := step()
		if err == nil {
			err = save(img, dst(k+1), "jpg", 90)
		}
		if img != nil {
			img.Close()
		}
		if err != nil {
			return fmt.Errorf("%s, variant %d: %w", w.name, k+1, err)
		}
	}
	return nil
}

// makeSmall scales every image of the photos set to fit 800x800 (q85).
func makeSmall(ctx context.Context, o PrepareOptions, out string) (string, error) {
	photos, err := Prepare(ctx, DatasetPhotos, o)
	if err != nil {
		return "", err
	}
	g, gctx := parallel(ctx)
	for _, f := range photos.Good() {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			img, err := thumbnail(photos.Path(f), 800, 800, govips.InterestingNone)
			if err != nil {
				return err
			}
			defer img.Close()
			return save(img, filepath.Join(out, strings.TrimSuffix(f.Rel, ".jpg")+"-800.jpg"), "jpg", 85)
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return fmt.Sprintf("the photos set (%s) scaled to fit 800x800, JPEG q85, with libvips %s", photos.Digest(), vips.Version()), nil
}

// makeMixed writes two renditions of each large wallpaper in rotating
// formats (JPEG q85, PNG, WebP q80) and sizes (640 to 4000 px on the long
// side), copies the phone-sized wallpapers and every third screenshot as
// they are, and adds the broken files.
func makeMixed(ctx context.Context, o PrepareOptions, out string) (string, error) {
	ws, origin, err := wallpaperSet(ctx, o)
	if err != nil {
		return "", err
	}
	formats := []struct {
		ext string
		q   int
	}{{"jpg", 85}, {"png", 0}, {"webp", 80}}
	sizes := []int{4000, 3000, 2048, 1600, 1024, 640}
	g, gctx := parallel(ctx)
	srcs := largePhotos(ws)
	for i, w := range srcs {
		for j, pick := range [][2]int{{i % 3, i % 6}, {(i + 1) % 3, (i + 3) % 6}} {
			format, size := formats[pick[0]], sizes[pick[1]]
			name := fmt.Sprintf("%03d-%s-%d.%s", 2*i+j, w.name, size, format.ext)
			g.Go(func() error {
				if err := gctx.Err(); err != nil {
					return err
				}
				img, err := thumbnail(w.path, size, size, govips.InterestingNone)
				if err != nil {
					return err
				}
				defer img.Close()
				return save(img, filepath.Join(out, name), format.ext, format.q)
			})
		}
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	shots, phones := 0, 0
	for _, w := range ws {
		switch {
		case w.screenshot:
			if shots%3 == 0 {
				if err := copyFile(w.path, filepath.Join(out, "shot-"+w.name+filepath.Ext(w.path))); err != nil {
					return "", err
				}
			}
			shots++
		case w.width*w.height < 4_000_000:
			if err := copyFile(w.path, filepath.Join(out, "phone-"+w.name+filepath.Ext(w.path))); err != nil {
				return "", err
			}
			phones++
		}
	}
	broken := 0
	if o.BadImages != "" {
		for _, name := range brokenForMixed {
			p := filepath.Join(o.BadImages, name)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if err := copyFile(p, filepath.Join(out, "broken-"+name)); err != nil {
				return "", err
			}
			broken++
		}
	}
	return fmt.Sprintf("%s: %d renditions (JPEG/PNG/WebP, 640-4000 px, libvips %s), %d phone-sized wallpapers, %d screenshots; %d broken files from %s",
		origin, 2*len(srcs), vips.Version(), phones, (shots+2)/3, broken, o.BadImages), nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// thumbnailerVersion is the libvips version of the vipsthumbnail binary
// bin ("8.18.8").
func thumbnailerVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "--vips-version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "libvips ")
}
