// Package sniff inspects an image's bytes in pure Go before libvips sees them.
//
// libvips 8.14 has fatal defects on hostile files: a tiny GIF whose frame
// offset overflows aborts the whole process, a gzip stream followed by extra
// bytes sends format detection into an endless loop, a 186-byte TIFF claiming
// 1,000,000 x 1,000,000 pixels spins for a minute. So the worker first calls
// [Inspect], which decides from the magic bytes what the file is (never from
// its name or Content-Type) and reads from the header how big it claims to
// be. Only an allowed format is then handed to libvips, and then to the
// loader for that format, not to libvips' own format guesser.
//
// Inspect never panics, allocates nothing proportional to the dimensions a
// header claims, and does work at most linear in len(data) (every walk over
// markers, chunks, blocks, boxes or IFDs advances by at least one byte per
// step, and the TIFF IFD chain is also capped at [MaxTIFFPages]). It does not
// decode pixels and does not check checksums: a file that passes Inspect may
// still fail to decode, and the worker must still set a deadline and a
// memory cap around libvips.
//
// Enforcing a pixel budget is the caller's job: use [Info.CanvasPixels] for
// the one-frame size a decoder will allocate and [Info.Pixels] for the total
// over all frames or pages.
package sniff

import (
	"fmt"
	"math"
	"strings"
)

// Format names a file type found from magic bytes. The allowed image formats
// are [JPEG], [PNG], [GIF], [WebP], [TIFF], [HEIF] and [AVIF]; the other
// values name things that are recognised only so they can be refused with a
// clear message.
type Format string

// Allowed image formats.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
	TIFF Format = "tiff"
	HEIF Format = "heif" // HEIC and other HEIF brands (HEVC, JPEG, … coded)
	AVIF Format = "avif"
)

// Recognised but refused formats.
const (
	BMP        Format = "bmp"
	ICO        Format = "ico" // also CUR
	SVG        Format = "svg"
	PDF        Format = "pdf"
	PostScript Format = "postscript"
	Gzip       Format = "gzip" // includes SVGZ
	PSD        Format = "psd"
	JXL        Format = "jxl"
	JPEG2000   Format = "jp2"
	JPEGLS     Format = "jpegls"
	PNM        Format = "pnm" // PBM, PGM, PPM, PAM, PFM
	EXR        Format = "exr"
	Radiance   Format = "hdr"
	FITS       Format = "fits"
	VIPS       Format = "vips" // libvips' native .v format
	QOI        Format = "qoi"
	DICOM      Format = "dicom"
	RAW        Format = "raw"     // camera raw formats that are not plain TIFF (ORF, RW2, CR3)
	ISOBMFF    Format = "isobmff" // MP4/QuickTime/… without a HEIF or AVIF brand
	RIFF       Format = "riff"    // RIFF container that is not WebP (AVI, WAV, …)
	Archive    Format = "archive" // zip, bzip2, xz, zstd, 7z, rar
	Matrix     Format = "matrix"  // libvips matrix text ("W H [scale offset]" first line)
	HTML       Format = "html"
	XML        Format = "xml"
	Text       Format = "text"
	Unknown    Format = "unknown"
)

// allowedList is the allow-list as it appears in refusal messages.
const allowedList = "jpeg, png, webp, gif, tiff, heif, avif"

// Allowed reports whether f is one of the image formats the worker may pass
// to libvips.
func (f Format) Allowed() bool {
	switch f {
	case JPEG, PNG, GIF, WebP, TIFF, HEIF, AVIF:
		return true
	}
	return false
}

// MaxTIFFPages caps how many IFDs of a TIFF are counted for [Info.Pages].
const MaxTIFFPages = 10000

// Info is what the header of an allowed image says. All sizes are as
// declared by the file, not checked against the data that follows.
type Info struct {
	Format Format

	// Width and Height are the size of the first frame or page as the
	// decoder will see it: JPEG SOF; PNG IHDR; GIF logical screen; WebP
	// VP8/VP8L frame or VP8X canvas; TIFF first IFD; HEIF/AVIF ispe of the
	// primary item (swapped for a 90/270 degree irot), best effort.
	Width, Height int

	// Pages is the number of frames or pages: GIF image descriptors, ANMF
	// chunks of an animated WebP, IFDs in the TIFF chain (capped at
	// MaxTIFFPages). It is 1 for stills, JPEG, PNG and HEIF/AVIF.
	Pages int

	// Orientation is the EXIF orientation 1..8 when found cheaply (JPEG APP1
	// Exif, PNG eXIf, WebP EXIF, TIFF tag 274), else 0.
	Orientation int

	// Animated is set for GIFs with more than one frame, WebPs with the
	// VP8X animation flag and HEIF/AVIF files with an image-sequence major
	// brand (avis, msf1, hevc, …).
	Animated bool

	// Arithmetic is set for JPEGs using arithmetic entropy coding
	// (SOF9-SOF11, SOF13-SOF15), which some libjpeg builds refuse.
	Arithmetic bool

	// FrameExtentW and FrameExtentH are, for GIF and animated WebP, the
	// largest right edge (left+width) and bottom edge (top+height) over all
	// frames. A frame may reach past the declared screen or canvas, and some
	// decoders (libnsgif) grow the canvas to fit it. 0 for other formats.
	FrameExtentW, FrameExtentH int
}

// CanvasPixels is the pixel count of one frame as a decoder may allocate it:
// max(Width, FrameExtentW) x max(Height, FrameExtentH), saturating at
// math.MaxInt64. This is the number to hold against a per-image budget.
func (i Info) CanvasPixels() int64 {
	return mulSat(int64(max(i.Width, i.FrameExtentW)), int64(max(i.Height, i.FrameExtentH)))
}

// Pixels is width x height x pages, where width and height are those of
// CanvasPixels, saturating at math.MaxInt64. For a TIFF every page is counted
// at the size of the first one, which overestimates pyramids.
func (i Info) Pixels() int64 {
	return mulSat(i.CanvasPixels(), int64(max(i.Pages, 1)))
}

func mulSat(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// Error codes.
const (
	// CodeUnsupportedFormat: recognised but not allowed (BMP, SVG, PDF, …),
	// or not recognised at all.
	CodeUnsupportedFormat = "UnsupportedFormat"
	// CodeCorrupt: an allowed format whose header is unreadable or
	// impossible (truncated before the dimensions, zero width, …).
	CodeCorrupt = "Corrupt"
	// CodeEmpty: zero bytes.
	CodeEmpty = "Empty"
)

// Error is the error returned by Inspect. Format is the format found (for
// CodeUnsupportedFormat, the refused one; Unknown for unrecognised bytes).
type Error struct {
	Code   string
	Format Format
	Msg    string
}

func (e *Error) Error() string {
	switch e.Code {
	case CodeUnsupportedFormat:
		return "unsupported format: " + e.Msg
	case CodeCorrupt:
		return "corrupt " + string(e.Format) + ": " + e.Msg
	case CodeEmpty:
		return "empty file: " + e.Msg
	}
	return e.Code + ": " + e.Msg
}

func corrupt(f Format, format string, args ...any) *Error {
	return &Error{Code: CodeCorrupt, Format: f, Msg: fmt.Sprintf(format, args...)}
}

func unsupported(f Format, what string) *Error {
	return &Error{Code: CodeUnsupportedFormat, Format: f,
		Msg: what + ": format not allowed (allowed: " + allowedList + ")"}
}

// Inspect reads data, the whole file, and reports its format and the size
// its header claims. It returns an *Error when the file is empty
// (CodeEmpty), not an allowed format (CodeUnsupportedFormat) or an allowed
// format with an unreadable header (CodeCorrupt). On error the returned Info
// has only Format set.
//
// Inspect is safe on any input: it does not panic, its allocations do not
// depend on the sizes the file claims, and its running time is linear in
// len(data).
func Inspect(data []byte) (Info, error) {
	if len(data) == 0 {
		return Info{Format: Unknown}, &Error{Code: CodeEmpty, Format: Unknown, Msg: "0 bytes"}
	}
	f, what := detect(data)
	var (
		info Info
		err  *Error
	)
	switch f {
	case JPEG:
		info, err = inspectJPEG(data)
	case PNG:
		info, err = inspectPNG(data)
	case GIF:
		info, err = inspectGIF(data)
	case WebP:
		info, err = inspectWebP(data)
	case TIFF:
		info, err = inspectTIFF(data)
	case HEIF, AVIF:
		info, err = inspectHEIF(data, f)
	default:
		return Info{Format: f}, unsupported(f, what)
	}
	if err != nil {
		return Info{Format: err.Format}, err
	}
	return info, nil
}

// describeBytes names unrecognised data by its size and first bytes.
func describeBytes(d []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "unrecognised bytes (%d bytes, starts", len(d))
	n := min(len(d), 8)
	for _, c := range d[:n] {
		fmt.Fprintf(&b, " 0x%02x", c)
	}
	if len(d) > n {
		b.WriteString(" …")
	}
	b.WriteString(")")
	return b.String()
}
