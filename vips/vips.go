// Package vips owns everything that touches libvips: its start-up (untrusted
// loaders blocked, operation cache off, per-operation concurrency), what
// the running libvips can read ([Supported]), and the one operation
// imgbatch needs, [Render]: every variant of a source image from one
// shrink-on-load decode, opened with the loader for the format sniffed
// from its bytes. No other package of the production path imports govips
// or libvips; bench uses govips on purpose for what must not share this
// package's code: the quality reference (a full-size decode resized with
// lanczos3) and the preparation of its datasets.
//
// It builds against one libvips only: the self-contained 8.18 build that
// sharp publishes on npm, pinned and installed by scripts/libvips-npm.sh
// (make and scripts/build.sh point cgo at it; older headers stop the build,
// see version.go). It has no ImageMagick loader (see magick_shim.go).
package vips

import (
	_ "embed"
	"log/slog"
	"os"
	"sort"
	"sync"

	govips "github.com/davidbyttow/govips/v2/vips"

	"github.com/imgbatch/imgbatch/sniff"
)

// #include <stdlib.h>
// #include "render.h"
import "C"

// Config of libvips for this process.
type Config struct {
	// Concurrency is libvips' worker threads per operation. imgbatch runs
	// one operation per core, so 1 is the default (see BenchmarkConcurrency).
	Concurrency int
	Log         *slog.Logger
}

var (
	startOnce sync.Once
	supported map[sniff.Format]bool
)

//go:embed probe/hevc-16x16.heic
var probeHEVC []byte

//go:embed probe/av1-16x16.avif
var probeAV1 []byte

// Start initialises libvips once per process; later calls do nothing.
// VIPS_BLOCK_UNTRUSTED is set before libvips starts, so loaders not fuzzed
// for hostile input (SVG, PDF, ImageMagick, matrix, …) refuse to run
// whatever the bytes say. Start then finds which input formats this
// libvips decodes (see Supported) and logs them with the version.
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
		supported = probeFormats()
		var formats []string
		for f, ok := range supported {
			if ok {
				formats = append(formats, string(f))
			}
		}
		sort.Strings(formats)
		log.Info("libvips started", "version", Version(), "path", LibraryPath(), "concurrency", c.Concurrency, "formats", formats)
	})
}

func started() bool { return supported != nil }

// Supported reports whether the running libvips decodes format f (after
// Start; false before). JPEG, PNG, GIF, WebP and TIFF need only their
// loader; HEIF and AVIF share libvips' heifload, whose libheif may lack a
// codec, so Start decodes a 16x16 sample of each: sharp's npm build of
// libvips decodes AVIF (AV1) but not HEIC (HEVC), Debian's decodes both.
// The worker should refuse an unsupported format as such, not as corrupt.
func Supported(f sniff.Format) bool { return supported[f] }

func probeFormats() map[sniff.Format]bool {
	m := map[sniff.Format]bool{}
	for _, f := range []sniff.Format{sniff.JPEG, sniff.PNG, sniff.GIF, sniff.WebP, sniff.TIFF} {
		l, _ := loaderFor(f)
		m[f] = C.imgb_loader_available(l) != 0
	}
	heif, _ := loaderFor(sniff.HEIF)
	m[sniff.HEIF] = C.imgb_loader_available(heif) != 0 && decodes(heif, probeHEVC)
	m[sniff.AVIF] = C.imgb_loader_available(heif) != 0 && decodes(heif, probeAV1)
	return m
}

func decodes(loader C.int, sample []byte) bool {
	p := C.CBytes(sample)
	defer C.free(p)
	return C.imgb_decodes(loader, p, C.size_t(len(sample))) != 0
}

// concurrency is libvips' current threads per operation.
func concurrency() int { return int(C.imgb_get_concurrency()) }

// setVipsConcurrency changes libvips' threads per operation for pipelines
// started afterwards (benchmarks compare 1 and 2).
func setVipsConcurrency(n int) { C.imgb_set_concurrency(C.int(n)) }

// liveObjects counts libvips objects alive, for leak checks in tests.
func liveObjects() int { return int(C.imgb_live_objects()) }
