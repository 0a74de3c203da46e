// Package vips owns everything that touches libvips: its start-up (untrusted
// loaders blocked, operation cache off, per-operation concurrency), what
// the running libvips can read ([Supported]), and the one operation
// imgbatch needs, [Render]: every variant of a source image from one
// shrink-on-load decode, opened with the loader for the format sniffed
// from its bytes. No other package of the production path calls libvips,
// and this one does so through its own cgo only (start.c, render.c and its parts).
//
// govips (github.com/davidbyttow/govips/v2) remains where an independent
// path to libvips is the point, never to run imgbatch's work:
//   - bench/quality.go: the quality reference (the source decoded at full
//     size, upright, sRGB, resized with lanczos3), so that imgbatch's
//     outputs are not judged by its own code;
//   - bench/builtin.go: the preparation of the bench's built-in datasets
//     (crops, flips, rescales; photo thumbnails);
//   - this package's tests: decoding outputs to check their pixels and
//     metadata, making unusual inputs (16-bit, Lab, CMYK TIFF), and
//     BenchmarkRender's govips baseline.
//
// Each of them starts govips after Start with Start's settings
// (bench.startLibvips, TestMain here): govips' first call would otherwise
// start it with its own defaults, an operation cache among them. Because
// bench is linked into the imgbatch command, govips is in that binary too;
// magick_shim.go exists for its sake.
//
// It builds against one libvips only: the self-contained 8.18 build that
// sharp publishes on npm, pinned and installed by scripts/libvips-npm.sh
// (make and scripts/build.sh point cgo at it; older headers stop the build,
// see version.go). It has no ImageMagick loader (see magick_shim.go).
package vips

import (
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/imgbatch/imgbatch/sniff"
)

// #include <stdlib.h>
// #include <vips/vips.h>
// #include "render.h"
// #include "start.h"
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
		logger.Store(log)
		if C.imgb_start(C.int(c.Concurrency)) != 0 {
			panic(fmt.Sprintf("vips: libvips did not start: %s", C.GoString(C.vips_error_buffer())))
		}
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

// logger receives libvips' log messages (Start's Config.Log).
var logger atomic.Pointer[slog.Logger]

// imgbLog is start.c's GLib log handler: libvips warnings (truncated files
// and the like) are per-item detail, not process events, so messages of
// warning level and above go to the log at debug level; the rest (info,
// debug) are dropped.
//
//export imgbLog
func imgbLog(domain *C.char, level C.int, msg *C.char) {
	log := logger.Load()
	if log == nil || level > C.G_LOG_LEVEL_WARNING {
		return
	}
	log.Debug("libvips", "domain", C.GoString(domain), "level", int(level), "msg", C.GoString(msg))
}

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

// Concurrency is libvips' current threads per operation (Config.Concurrency
// after Start).
func Concurrency() int { return int(C.imgb_get_concurrency()) }

// setVipsConcurrency changes libvips' threads per operation for pipelines
// started afterwards (benchmarks compare 1 and 2).
func setVipsConcurrency(n int) { C.imgb_set_concurrency(C.int(n)) }

// liveObjects counts libvips objects alive, for leak checks in tests.
func liveObjects() int { return int(C.imgb_live_objects()) }
