package sniff

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

var pngSignature = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}

// detect names the format of data (len(data) > 0) from magic bytes only. For
// refused formats it also returns a short description for the message.
// Binary signatures are checked before any text heuristic, so a WebP that
// happens to contain "<svg" is a WebP.
func detect(d []byte) (Format, string) {
	has := func(off int, magic string) bool {
		return len(d) >= off+len(magic) && string(d[off:off+len(magic)]) == magic
	}

	switch {
	case has(0, "\xff\xd8"):
		return JPEG, ""
	case looksPNG(d):
		return PNG, ""
	case has(0, "GIF8"):
		// libvips' GIF sniffer (and libnsgif) accept any "GIF8" prefix,
		// without checking for "7a"/"9a"; match them.
		return GIF, ""
	case has(0, "RIFF") && len(d) >= 12:
		if has(8, "WEBP") {
			return WebP, ""
		}
		return RIFF, fmt.Sprintf("RIFF container (type %q), not WebP", d[8:12])
	case has(0, "II*\x00"), has(0, "MM\x00*"), has(0, "II+\x00"), has(0, "MM\x00+"):
		return TIFF, ""
	case has(0, "IIRO"), has(0, "MMOR"), has(0, "IIU\x00"):
		return RAW, "camera raw image (ORF/RW2)"
	case has(4, "ftyp"):
		return classifyFtyp(d)
	case has(0, "\x00\x00\x00\x0cJXL \r\n\x87\n"), has(0, "\xff\x0a"):
		return JXL, "JPEG XL image"
	case has(0, "\x00\x00\x00\x0cjP  \r\n\x87\n"), has(0, "\xff\x4f\xff\x51"):
		return JPEG2000, "JPEG 2000 image"
	case looksBMP(d):
		return BMP, "BMP image"
	case looksICO(d):
		return ICO, "ICO/CUR icon"
	case has(0, "%PDF-"):
		return PDF, "PDF document"
	case has(0, "%!PS"), has(0, "\xc5\xd0\xd3\xc6"):
		return PostScript, "PostScript/EPS document"
	case has(0, "\x1f\x8b"):
		return Gzip, "gzip stream (SVGZ or other compressed data)"
	case has(0, "8BPS"):
		return PSD, "Photoshop PSD image"
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"), has(0, "BZh"), has(0, "\xfd7zXZ\x00"),
		has(0, "\x28\xb5\x2f\xfd"), has(0, "7z\xbc\xaf\x27\x1c"), has(0, "Rar!\x1a\x07"):
		return Archive, "compressed archive (zip/bzip2/xz/zstd/7z/rar)"
	case has(0, "\x76\x2f\x31\x01"):
		return EXR, "OpenEXR image"
	case has(0, "#?RADIANCE"), has(0, "#?RGBE"):
		return Radiance, "Radiance HDR image"
	case has(0, "SIMPLE  ="):
		return FITS, "FITS image"
	case has(0, "\x08\xf2\xa6\xb6"), has(0, "\xb6\xa6\xf2\x08"):
		return VIPS, "libvips native image"
	case has(0, "qoif"):
		return QOI, "QOI image"
	case has(128, "DICM"):
		return DICOM, "DICOM image"
	case looksPNM(d):
		return PNM, "PNM/PFM image"
	}
	return classifyText(d)
}

// looksPNG accepts the exact signature and damaged variants of it (a wrong
// byte, CR/LF conversions, case changes), so that a PNG with a broken
// signature is reported as a corrupt PNG rather than as unknown bytes.
func looksPNG(d []byte) bool {
	if bytes.HasPrefix(d, pngSignature) {
		return true
	}
	if len(d) >= 4 && (d[0] >= 0x80 || d[0] < 0x20) && strings.EqualFold(string(d[1:4]), "PNG") {
		return true
	}
	return len(d) >= 16 && string(d[12:16]) == "IHDR"
}

func looksBMP(d []byte) bool {
	if len(d) < 18 || d[0] != 'B' || d[1] != 'M' {
		return false
	}
	switch binary.LittleEndian.Uint32(d[14:]) { // DIB header size
	case 12, 16, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

func looksICO(d []byte) bool {
	return len(d) >= 6 && d[0] == 0 && d[1] == 0 && (d[2] == 1 || d[2] == 2) && d[3] == 0 &&
		binary.LittleEndian.Uint16(d[4:]) > 0
}

func looksPNM(d []byte) bool {
	if len(d) < 3 || d[0] != 'P' {
		return false
	}
	if !(d[1] >= '1' && d[1] <= '7') && d[1] != 'F' && d[1] != 'f' {
		return false
	}
	switch d[2] {
	case ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// ISOBMFF brands. Image-sequence brands also set Info.Animated.
var (
	avifBrands = map[string]bool{"avif": true, "avis": true}
	heifBrands = map[string]bool{"heic": true, "heix": true, "hevc": true, "hevx": true,
		"heim": true, "heis": true, "hevm": true, "hevs": true, "mif1": true, "msf1": true, "mif2": true}
	sequenceBrands = map[string]bool{"avis": true, "hevc": true, "hevx": true, "hevm": true,
		"hevs": true, "msf1": true}
)

// ftypBrands returns the major brand and the compatible brands (4 bytes
// each, concatenated) of the ftyp box at the start of d (d[4:8] == "ftyp"),
// bounded by the box and by d. It does not allocate.
func ftypBrands(d []byte) (major string, compat []byte) {
	if len(d) < 12 {
		return "", nil
	}
	end := len(d)
	if size := binary.BigEndian.Uint32(d); size < 16 {
		end = min(end, 16)
	} else if uint64(size) < uint64(end) {
		end = int(size)
	}
	if end > 16 {
		compat = d[16 : 16+(end-16)/4*4]
	}
	return string(d[8:12]), compat
}

// anyBrand reports whether one of the compatible brands is in set.
func anyBrand(compat []byte, set map[string]bool) bool {
	for p := 0; p+4 <= len(compat); p += 4 {
		if set[string(compat[p:p+4])] {
			return true
		}
	}
	return false
}

func classifyFtyp(d []byte) (Format, string) {
	major, compat := ftypBrands(d)
	generic := major == "mif1" || major == "msf1" || major == "mif2"
	switch {
	case avifBrands[major]:
		return AVIF, ""
	case heifBrands[major] && !generic:
		return HEIF, ""
	case anyBrand(compat, avifBrands):
		return AVIF, ""
	case generic, anyBrand(compat, heifBrands):
		return HEIF, ""
	case major == "crx ":
		return RAW, "Canon CR3 camera raw image"
	case major == "jp2 " || major == "jpx " || major == "jpm ":
		return JPEG2000, "JPEG 2000 image"
	case major == "qt  ":
		return ISOBMFF, "QuickTime movie"
	}
	return ISOBMFF, fmt.Sprintf("ISO BMFF file with brand %q (video/audio, not HEIF/AVIF)", major)
}

// classifyText handles everything without a binary signature: markup, the
// libvips matrix format, PDF with leading junk, other text, and finally
// unknown bytes.
func classifyText(d []byte) (Format, string) {
	if bytes.HasPrefix(d, []byte{0xfe, 0xff}) || bytes.HasPrefix(d, []byte{0xff, 0xfe}) {
		return Text, "UTF-16 text"
	}
	head := d[:min(len(d), 4096)]
	if !looksText(head[:min(len(head), 1024)]) {
		return Unknown, describeBytes(d)
	}
	// Acrobat accepts "%PDF-" anywhere in the first 1024 bytes.
	if bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-")) {
		return PDF, "PDF document"
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n\f")
	lower := bytes.ToLower(t)
	if len(t) > 0 && t[0] == '<' {
		switch {
		case bytes.HasPrefix(lower, []byte("<!doctype html")), bytes.HasPrefix(lower, []byte("<html")):
			return HTML, "HTML document"
		case bytes.Contains(t, []byte("<svg")):
			return SVG, "SVG/XML text"
		case bytes.Contains(lower, []byte("<html")), bytes.Contains(lower, []byte("<body")),
			bytes.Contains(lower, []byte("<head")):
			return HTML, "HTML document"
		default:
			return XML, "XML/markup text"
		}
	}
	if looksMatrix(t) {
		return Matrix, "libvips matrix text " + quoteStart(t)
	}
	return Text, "text " + quoteStart(t)
}

func quoteStart(t []byte) string {
	const n = 24
	if len(t) > n {
		return fmt.Sprintf("(starts %q …)", t[:n])
	}
	return fmt.Sprintf("(%q)", t)
}

// looksText reports whether b (a prefix of the file) is plausibly text: no
// control bytes other than whitespace and escape, and valid UTF-8 apart from
// a rune cut off at the end of b.
func looksText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1b) || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return !utf8.FullRune(b[i:]) // only a cut-off rune at the end is fine
		}
		i += size
	}
	return true
}

// looksMatrix matches the first line of a libvips matrix file:
// "width height [scale offset]" with positive integer width and height.
func looksMatrix(t []byte) bool {
	line := t[:min(len(t), 256)]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(string(line))
	if len(fields) != 2 && len(fields) != 4 {
		return false
	}
	for i, f := range fields {
		if i < 2 {
			if n, err := strconv.Atoi(f); err != nil || n <= 0 {
				return false
			}
		} else if _, err := strconv.ParseFloat(f, 64); err != nil {
			return false
		}
	}
	return true
}
