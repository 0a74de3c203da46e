// Package vips owns everything that touches libvips (through govips): its
// start-up (untrusted loaders blocked, operation cache off, per-operation
// concurrency), and the one operation imgbatch needs, a shrink-on-load
// thumbnail encoded to a variant's format. No other package imports govips.
package vips

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch"
)

// Config of libvips for this process.
type Config struct {
	// Concurrency is libvips' worker threads per operation. imgbatch runs
	// one operation per core, so 1 is the default.
	Concurrency int
	Log         *slog.Logger
}

var (
	startOnce sync.Once
	version   string
)

// Start initialises libvips once per process. VIPS_BLOCK_UNTRUSTED is set
// before libvips starts, so loaders not fuzzed for hostile input (SVG, PDF,
// ImageMagick, matrix, …) refuse to run whatever the bytes say.
func Start(c Config) {
	startOnce.Do(func() {
		os.Setenv("VIPS_BLOCK_UNTRUSTED", "1")
		if c.Concurrency <= 0 {
			c.Concurrency = 1
		}
		log := c.Log
		if log == nil {
			log = slog.Default()
		}
		govips.LoggingSettings(func(domain string, level govips.LogLevel, msg string) {
			// libvips warnings (truncated files and the like) are per-item detail,
			// not process events: keep them at debug.
			log.Debug("libvips", "domain", domain, "level", int(level), "msg", msg)
		}, govips.LogLevelWarning)
		govips.Startup(&govips.Config{ConcurrencyLevel: c.Concurrency, MaxCacheFiles: 0, MaxCacheMem: 0, MaxCacheSize: 0})
		version = govips.Version
	})
}

// Version is the running libvips version (after Start).
func Version() string { return version }

// Result is one encoded variant.
type Result struct {
	Data          []byte
	Width, Height int
}

// maxCoord stands for "no limit" on one side of a box (VIPS_MAX_COORD).
const maxCoord = 10_000_000

// Thumbnail makes variant v from the encoded image src with libvips'
// shrink-on-load thumbnail (JPEG and WebP decode at reduced size; the full
// image is never decoded and then resized). The image is auto-rotated by
// its EXIF orientation, converted to sRGB, and metadata is stripped unless
// the variant keeps it.
func Thumbnail(src []byte, v imgbatch.Variant) (res Result, err error) {
	if len(src) == 0 {
		return res, errors.New("empty image")
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("libvips panicked: %v\n%s", p, debug.Stack())
		}
	}()
	w, h := v.Width, v.Height
	if w == 0 {
		w = maxCoord
	}
	if h == 0 {
		h = maxCoord
	}
	size := govips.SizeDown
	if v.Upscale {
		size = govips.SizeBoth
	}
	crop := govips.InterestingNone
	switch v.Fit {
	case imgbatch.FitCover:
		crop = govips.InterestingCentre
		if v.SmartCrop {
			crop = govips.InterestingAttention
		}
	case imgbatch.FitFill:
		size = govips.SizeForce
	}
	img, err := govips.NewThumbnailWithSizeFromBuffer(src, w, h, crop, size)
	if err != nil {
		return res, cleanErr(err)
	}
	defer img.Close()
	if err := toSRGB(img); err != nil {
		return res, err
	}
	if v.Fit == imgbatch.FitContain && (img.Width() != v.Width || img.Height() != v.Height) {
		bg := &govips.ColorRGBA{R: 255, G: 255, B: 255, A: 255}
		if v.Format != imgbatch.FormatJPEG {
			if !img.HasAlpha() {
				if err := img.AddAlpha(); err != nil {
					return res, cleanErr(err)
				}
			}
			bg = &govips.ColorRGBA{}
		}
		left, top := (v.Width-img.Width())/2, (v.Height-img.Height())/2
		if err := img.EmbedBackgroundRGBA(left, top, v.Width, v.Height, bg); err != nil {
			return res, cleanErr(err)
		}
	}
	data, err := export(img, v)
	if err != nil {
		return res, cleanErr(err)
	}
	return Result{Data: data, Width: img.Width(), Height: img.Height()}, nil
}

// toSRGB converts CMYK, 16-bit and tagged images to 8-bit sRGB using the
// embedded ICC profile when there is one.
func toSRGB(img *govips.ImageRef) error {
	interp := img.Interpretation()
	if img.HasICCProfile() || interp == govips.InterpretationCMYK {
		if err := img.TransformICCProfileWithFallback("srgb", "cmyk"); err != nil {
			if interp != govips.InterpretationCMYK {
				// A broken embedded profile: drop it rather than fail the item.
				img.RemoveICCProfile()
			} else {
				return cleanErr(err)
			}
		}
	}
	switch img.Interpretation() {
	case govips.InterpretationSRGB, govips.InterpretationBW:
	default:
		if err := img.ToColorSpace(govips.InterpretationSRGB); err != nil {
			return cleanErr(err)
		}
	}
	if img.BandFormat() != govips.BandFormatUchar {
		if err := img.Cast(govips.BandFormatUchar); err != nil {
			return cleanErr(err)
		}
	}
	return nil
}

func export(img *govips.ImageRef, v imgbatch.Variant) ([]byte, error) {
	strip := !v.KeepMetadata
	switch v.Format {
	case imgbatch.FormatJPEG:
		p := govips.NewJpegExportParams()
		p.Quality = v.Quality
		p.StripMetadata = strip
		if img.HasAlpha() {
			if err := img.Flatten(&govips.Color{R: 255, G: 255, B: 255}); err != nil {
				return nil, err
			}
		}
		b, _, err := img.ExportJpeg(p)
		return b, err
	case imgbatch.FormatPNG:
		p := govips.NewPngExportParams()
		p.StripMetadata = strip
		b, _, err := img.ExportPng(p)
		return b, err
	case imgbatch.FormatWebP:
		p := govips.NewWebpExportParams()
		p.Quality = v.Quality
		p.StripMetadata = strip
		b, _, err := img.ExportWebp(p)
		return b, err
	case imgbatch.FormatAVIF:
		p := govips.NewAvifExportParams()
		p.Quality = v.Quality
		p.StripMetadata = strip
		p.Speed = 8
		b, _, err := img.ExportAvif(p)
		return b, err
	}
	return nil, fmt.Errorf("unknown output format %q", v.Format)
}

// cleanErr turns govips' multi-line error (with a Go stack) into its first
// meaningful line: the libvips message.
func cleanErr(err error) error {
	msg := err.Error()
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "Stack:") || strings.HasPrefix(l, "goroutine ") || strings.Contains(l, ".go:") || strings.HasPrefix(l, "github.com/") || strings.HasPrefix(l, "runtime") || strings.HasPrefix(l, "main.") {
			continue
		}
		lines = append(lines, l)
		if len(lines) == 3 {
			break
		}
	}
	if len(lines) == 0 {
		return err
	}
	return errors.New(strings.Join(lines, "; "))
}
