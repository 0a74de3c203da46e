package sniff

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/internal/testutil"
)

// corpusFiles lists the files of the hostile-image corpus
// (testutil.BadImagesDir) named in its MANIFEST.tsv.
func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	var names []string
	for _, row := range testutil.BadImageRows(tb) {
		names = append(names, row["file"])
	}
	return names
}

func readCorpus(tb testing.TB, name string) []byte {
	tb.Helper()
	return testutil.BadImage(tb, name)
}

// want is the expected outcome of Inspect. For errors, Code, Format and a
// substring of Error() are checked; otherwise Info is compared whole.
type want struct {
	info    Info
	code    string
	format  Format
	message string
}

func ok(i Info) want { return want{info: i} }

func fails(code string, f Format, msg string) want {
	return want{code: code, format: f, message: msg}
}

// Expected results for every file of the corpus. The numbers come from the
// bytes (checked with xxd), not from the file names; where they differ it is
// noted.
var corpusWant = map[string]want{
	// Allowed formats, header readable. Budget decisions are the worker's.
	"avif-240x180-valid.avif":      ok(Info{Format: AVIF, Width: 240, Height: 180, Pages: 1}),
	"jpeg-8224x65312-fuzz.jpg":     ok(Info{Format: JPEG, Width: 8224, Height: 65312, Pages: 1}), // SOF1
	"jpeg-arithmetic-coded.jpg":    ok(Info{Format: JPEG, Width: 10, Height: 10, Pages: 1, Arithmetic: true}),
	"jpeg-cmyk-pil-sample.jpg":     ok(Info{Format: JPEG, Width: 100, Height: 100, Pages: 1, Orientation: 1}),
	"jpeg-exif-orientation-6.jpg":  ok(Info{Format: JPEG, Width: 308, Height: 231, Pages: 1, Orientation: 6}),
	"jpeg-named.png":               ok(Info{Format: JPEG, Width: 240, Height: 180, Pages: 1}),
	"jpeg-progressive-480x360.jpg": ok(Info{Format: JPEG, Width: 480, Height: 360, Pages: 1}),
	"jpeg-sof-65500x65500.jpg":     ok(Info{Format: JPEG, Width: 65500, Height: 65500, Pages: 1}),
	"jpeg-truncated-10pct.jpg":     ok(Info{Format: JPEG, Width: 480, Height: 360, Pages: 1}),
	"jpeg-truncated-50pct.jpg":     ok(Info{Format: JPEG, Width: 480, Height: 360, Pages: 1}),
	"jpeg-truncated-99pct.jpg":     ok(Info{Format: JPEG, Width: 480, Height: 360, Pages: 1}),

	"png-16bit-rgb.png":                    ok(Info{Format: PNG, Width: 256, Height: 192, Pages: 1}),
	"png-1x1-rgb.png":                      ok(Info{Format: PNG, Width: 1, Height: 1, Pages: 1}),
	"png-1x60000-gray.png":                 ok(Info{Format: PNG, Width: 1, Height: 60000, Pages: 1}),
	"png-bad-crc-idat.png":                 ok(Info{Format: PNG, Width: 160, Height: 120, Pages: 1}),
	"png-gray-alpha-8bit.png":              ok(Info{Format: PNG, Width: 200, Height: 150, Pages: 1}),
	"png-ihdr-100000x100000-tiny-idat.png": ok(Info{Format: PNG, Width: 100000, Height: 100000, Pages: 1}),
	"png-pngsuite-xhdn0g08-ihdr-crc.png":   ok(Info{Format: PNG, Width: 32, Height: 32, Pages: 1}), // CRC not checked
	"png-truncated-pillow.png":             ok(Info{Format: PNG, Width: 640, Height: 480, Pages: 1}),
	"png-ztxt-100mib-bomb.png":             ok(Info{Format: PNG, Width: 64, Height: 64, Pages: 1}),

	"gif-10000-frames-1x1.gif": ok(Info{Format: GIF, Width: 1, Height: 1, Pages: 10000, Animated: true,
		FrameExtentW: 1, FrameExtentH: 1}),
	// "GIF8  " signature (accepted by libvips); 32x32 screen, one frame of
	// 8224x8224 at (8224,8224), data truncated.
	"gif-16448x16448-fuzz.gif": ok(Info{Format: GIF, Width: 32, Height: 32, Pages: 1,
		FrameExtentW: 16448, FrameExtentH: 16448}),
	// 32x32 screen; the frame is 65535x1321 at (0,65280), so the extent is
	// 65535x66601 (not 65535x65535 as the name says).
	"gif-frame-65535x65535-pillow-bomb.gif": ok(Info{Format: GIF, Width: 32, Height: 32, Pages: 1,
		FrameExtentW: 65535, FrameExtentH: 66601}),
	"gif-frame-offset-65534-screen-65535.gif": ok(Info{Format: GIF, Width: 65535, Height: 65535, Pages: 1,
		FrameExtentW: 65535, FrameExtentH: 65535}),

	"tiff-1000000x1000000-one-strip.tif": ok(Info{Format: TIFF, Width: 1000000, Height: 1000000, Pages: 1}),
	"tiff-corrupt-icc-profile.tif":       ok(Info{Format: TIFF, Width: 96, Height: 64, Pages: 1}),
	// Old-style JPEG: the header is fine; libvips refuses the codec.
	"tiff-old-style-jpeg.tif": ok(Info{Format: TIFF, Width: 240, Height: 180, Pages: 1}),

	// VP8X 80x80 canvas, 9 ANMF frames, the largest reaching (67,67).
	"webp-animated-rotating-squares.webp": ok(Info{Format: WebP, Width: 80, Height: 80, Pages: 9, Animated: true,
		FrameExtentW: 67, FrameExtentH: 67}),
	"webp-looks-like-svg.webp": ok(Info{Format: WebP, Width: 256, Height: 256, Pages: 1}),

	// Allowed formats with unreadable or impossible headers.
	"jpeg-corrupt-header.jpg":                 fails(CodeCorrupt, JPEG, "before SOF"),
	"png-broken-pillow.png":                   fails(CodeCorrupt, PNG, "not IHDR"),
	"png-pngsuite-xs1n0g01-bad-signature.png": fails(CodeCorrupt, PNG, "bad PNG signature"),
	"png-zero-width-ihdr.png":                 fails(CodeCorrupt, PNG, "IHDR declares 0x3"),
	"gif-zero-width.gif":                      fails(CodeCorrupt, GIF, "logical screen is 0x32"),
	"tiff-libtiff-segfault-pillow.tif":        fails(CodeCorrupt, TIFF, "SamplesPerPixel 65535"),
	// Every strip starts past the end of the file: no pixels at all.
	"tiff-strips-past-eof-corrupt-icc-pillow.tif": fails(CodeCorrupt, TIFF, "image data missing: strip or tile 0 starts at byte 4909, past the end of the file (4221 bytes)"),

	// Not allowed.
	"empty.jpg":                                 fails(CodeEmpty, Unknown, "0 bytes"),
	"bmp-16x16-valid.bmp":                       fails(CodeUnsupportedFormat, BMP, "BMP image: format not allowed (allowed: jpeg, png, webp, gif, tiff, heif, avif)"),
	"ico-16x16-png.ico":                         fails(CodeUnsupportedFormat, ICO, "ICO"),
	"html-named.png":                            fails(CodeUnsupportedFormat, HTML, "HTML document"),
	"pdf-renamed.jpg":                           fails(CodeUnsupportedFormat, PDF, "PDF document"),
	"random-bytes.jpg":                          fails(CodeUnsupportedFormat, Unknown, "unrecognised bytes (4096 bytes, starts 0xf5 0xb1 0x65 0x22"),
	"svg-with-script.svg":                       fails(CodeUnsupportedFormat, SVG, "SVG/XML text"),
	"svgz-truncated-gzip-trailing-garbage.svgz": fails(CodeUnsupportedFormat, Gzip, "gzip stream"),
	"text-matrix-named.png":                     fails(CodeUnsupportedFormat, Matrix, "matrix"),
}

func checkResult(t *testing.T, got Info, err error, w want) {
	t.Helper()
	if w.code == "" {
		if err != nil {
			t.Fatalf("Inspect: unexpected error %v", err)
		}
		if got != w.info {
			t.Fatalf("Inspect:\n got %+v\nwant %+v", got, w.info)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Inspect: got %+v, %v; want *Error %s", got, err, w.code)
	}
	if e.Code != w.code || e.Format != w.format {
		t.Fatalf("Inspect: got code %s format %s (%v); want %s %s", e.Code, e.Format, err, w.code, w.format)
	}
	if !strings.Contains(err.Error(), w.message) {
		t.Fatalf("Inspect: error %q does not mention %q", err, w.message)
	}
	if got != (Info{Format: w.format}) {
		t.Fatalf("Inspect: on error Info should carry only Format, got %+v", got)
	}
}

func TestCorpus(t *testing.T) {
	names := corpusFiles(t)
	if len(names) == 0 {
		t.Fatal("MANIFEST.tsv lists no files")
	}
	listed := map[string]bool{}
	for _, name := range names {
		listed[name] = true
		t.Run(name, func(t *testing.T) {
			w, found := corpusWant[name]
			if !found {
				t.Fatalf("no expectation for corpus file %s: add it to corpusWant", name)
			}
			got, err := Inspect(readCorpus(t, name))
			checkResult(t, got, err, w)
		})
	}
	for name := range corpusWant {
		if !listed[name] {
			t.Errorf("corpusWant has %s, which MANIFEST.tsv does not list", name)
		}
	}
}

// The worker's budget (README: 268,402,689 px per frame or canvas) must be
// able to refuse every bomb from Info alone; the ok files are all small.
func TestCorpusBudget(t *testing.T) {
	const budget = 268402689
	over := map[string]bool{
		"jpeg-8224x65312-fuzz.jpg":                true,
		"jpeg-sof-65500x65500.jpg":                true,
		"png-ihdr-100000x100000-tiny-idat.png":    true,
		"gif-16448x16448-fuzz.gif":                true,
		"gif-frame-65535x65535-pillow-bomb.gif":   true,
		"gif-frame-offset-65534-screen-65535.gif": true,
		"tiff-1000000x1000000-one-strip.tif":      true,
	}
	for _, name := range corpusFiles(t) {
		info, err := Inspect(readCorpus(t, name))
		if err != nil {
			continue
		}
		if got := info.CanvasPixels() > budget; got != over[name] {
			t.Errorf("%s: CanvasPixels %d over budget = %v, want %v", name, info.CanvasPixels(), got, over[name])
		}
	}
}

// Inspect must not allocate in proportion to what a header claims.
func TestCorpusAllocations(t *testing.T) {
	for _, name := range corpusFiles(t) {
		data := readCorpus(t, name)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			_, _ = Inspect(data)
		}
		runtime.ReadMemStats(&after)
		if perCall := (after.TotalAlloc - before.TotalAlloc) / 10; perCall > 16*1024 {
			t.Errorf("%s: Inspect allocated %d bytes per call", name, perCall)
		}
	}
}
