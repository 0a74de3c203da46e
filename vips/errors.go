package vips

// #include <vips/vips.h>
import "C"

import (
	"fmt"
	"strings"

	"github.com/imgbatch/imgbatch/sniff"
)

// Kind is what a libvips failure means for the image. The kinds are also
// sentinels: errors.Is(err, vips.ErrUnsupported) holds for an *Error of
// that kind.
type Kind int

const (
	// ErrLoad: libvips could not decode the source (a bad header, corrupt
	// or truncated data, a decoder that gave up).
	ErrLoad Kind = iota + 1
	// ErrUnsupported: this libvips cannot decode the source at all: it has
	// no loader for it, the loader is blocked (VIPS_BLOCK_UNTRUSTED), or
	// libheif has no decoder for the codec inside a HEIF or AVIF.
	ErrUnsupported
	// ErrEncode: the source decoded, but a variant cannot be written in its
	// format (WebP is limited to 16383 pixels a side, for instance).
	ErrEncode
)

func (k Kind) Error() string {
	switch k {
	case ErrLoad:
		return "libvips could not decode the image"
	case ErrUnsupported:
		return "this libvips cannot decode the image"
	case ErrEncode:
		return "libvips could not encode a variant"
	}
	return fmt.Sprintf("libvips error kind %d", int(k))
}

// Error is a libvips failure on one image: its kind and libvips' message.
// libvips raises no limit or bomb refusal of its own that imgbatch relies
// on (the worker's guard refuses those before libvips sees the bytes); a
// decoder running out of memory or giving up on a hostile file is ErrLoad.
type Error struct {
	Kind Kind
	// Msg is libvips' error buffer: its first distinct lines joined with
	// "; ".
	Msg string
}

func (e *Error) Error() string { return e.Msg }

// Is reports whether target is e's Kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind
}

// lastError takes libvips' error buffer, after a failure on an image of
// format f, as an *Error: its first lines, joined, without duplicates.
// libvips keeps one process-wide error buffer: when two images fail at the
// same moment their messages may be joined in both errors.
func lastError(f sniff.Format) error {
	msg := C.GoString(C.vips_error_buffer())
	C.vips_error_clear()
	var lines []string
	seen := map[string]bool{}
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		// libvips 8.14's PNG loader fails on a bad IHDR CRC this way; the
		// reason went to the log as a warning.
		return &Error{Kind: ErrLoad, Msg: fmt.Sprintf("%s decoder failed without a message (libvips logged the reason as a warning)", f)}
	}
	if len(lines) > 4 {
		lines = lines[:4]
	}
	msg = strings.Join(lines, "; ")
	return &Error{Kind: kindOf(f, msg), Msg: msg}
}

// kindOf classifies libvips' message for an image of format f. libvips
// reports every failure the same way (-1 and a text buffer), so the text is
// all there is to go on; this is the one place that reads it.
func kindOf(f sniff.Format, msg string) Kind {
	low := strings.ToLower(msg)
	if containsAny(low, "not in a known format", "is not a known file format", "operation is blocked") {
		return ErrUnsupported
	}
	// libheif: "Unsupported feature: Unsupported codec", "No decoding
	// plugin installed for this compression format".
	if (f == sniff.HEIF || f == sniff.AVIF) && containsAny(low, "unsupported codec", "no decoding plugin", "unsupported feature") {
		return ErrUnsupported
	}
	// libtiff built without a codec the file uses: "Old-style JPEG
	// compression support is not configured" (TIFF Compression=6, which
	// sharp's libvips build cannot decode), "Sorry, requested compression
	// method is not configured". The file may be fine; this build cannot
	// read it.
	if f == sniff.TIFF && containsAny(low, "is not configured") {
		return ErrUnsupported
	}
	// A saver's message ("webpsave: ...", "vips_foreign_save_buffer: ..."):
	// the source decoded, a variant could not be written.
	// The quality search's own ("search: ...", vips/search.c) is of a
	// variant too.
	if containsAny(low, "save:", "save_buffer", "search:") {
		return ErrEncode
	}
	return ErrLoad
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
