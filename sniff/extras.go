package sniff

import (
	"bytes"
	"encoding/binary"
)

// Extras is what a file carries besides its pixels that a re-encode by
// libvips would drop or change: the worker copies a source as a variant
// (keepSmallerSource) only when the variant would keep it too.
type Extras struct {
	EXIF bool // JPEG APP1 Exif, PNG eXIf, WebP EXIF
	XMP  bool // JPEG APP1 XMP, PNG iTXt XML:com.adobe.xmp, WebP XMP
	ICC  bool // an embedded colour profile: JPEG APP2, PNG iCCP, WebP ICCP
	// Other: comments, IPTC (APP13), text chunks, other APPn segments, an
	// APNG's animation (acTL): anything else a strip drops.
	Other bool
	// Components of a JPEG frame (4: CMYK or YCCK, which an output
	// converts to sRGB); 0 for other formats.
	Components int
	// BitDepth of a PNG's samples (16: an output is 8 bits); 0 otherwise.
	BitDepth int
}

// Any reports whether the file carries any metadata at all.
func (e Extras) Any() bool { return e.EXIF || e.XMP || e.ICC || e.Other }

// InspectExtras reads the metadata segments or chunks of a JPEG, PNG or
// WebP file (walking the whole chunk list, cheap: lengths only). ok is
// false for other formats, and for a file whose structure it cannot walk:
// the caller must then assume the worst.
func InspectExtras(d []byte) (e Extras, ok bool) {
	switch {
	case len(d) > 3 && d[0] == 0xff && d[1] == 0xd8:
		return jpegExtras(d)
	case bytes.HasPrefix(d, pngSignature):
		return pngExtras(d)
	case len(d) >= 20 && string(d[:4]) == "RIFF" && string(d[8:12]) == "WEBP":
		return webpExtras(d)
	}
	return e, false
}

// jpegExtras walks the markers up to the first scan (SOS): libjpeg and
// libvips read metadata only from there.
func jpegExtras(d []byte) (e Extras, ok bool) {
	for pos := 2; pos+4 <= len(d); {
		if d[pos] != 0xff {
			return e, false
		}
		m := d[pos+1]
		if m == 0xff || m == 0x01 || (m >= 0xd0 && m <= 0xd8) {
			pos += 1 + b2i(m != 0xff) // fill byte, or a marker without length
			continue
		}
		n := int(d[pos+2])<<8 | int(d[pos+3])
		if n < 2 || pos+2+n > len(d) {
			return e, false
		}
		seg := d[pos+4 : pos+2+n]
		switch {
		case m == 0xda: // SOS
			return e, e.Components > 0
		case isSOF(m) && len(seg) >= 6:
			e.Components = int(seg[5])
		case m == 0xe0, m == 0xee: // JFIF/JFXX, Adobe (colour transform)
		case m == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00")):
			e.EXIF = true
		case m == 0xe1 && bytes.HasPrefix(seg, []byte("http://ns.adobe.com/xap/1.0/")):
			e.XMP = true
		case m == 0xe2 && bytes.HasPrefix(seg, []byte("ICC_PROFILE\x00")):
			e.ICC = true
		case m >= 0xe1 && m <= 0xef, m == 0xfe: // other APPn, COM
			e.Other = true
		}
		pos += 2 + n
	}
	return e, false
}

// pngExtras walks every chunk to IEND: text and EXIF may follow IDAT.
func pngExtras(d []byte) (e Extras, ok bool) {
	for pos := 8; pos+8 <= len(d); {
		n := int(binary.BigEndian.Uint32(d[pos:]))
		typ := string(d[pos+4 : pos+8])
		if n < 0 || n > len(d)-pos-12 {
			return e, false
		}
		c := d[pos+8 : pos+8+n]
		switch typ {
		case "IHDR":
			if n >= 9 {
				e.BitDepth = int(c[8])
			}
		case "IEND":
			return e, e.BitDepth > 0
		case "eXIf":
			e.EXIF = true
		case "iCCP":
			e.ICC = true
		case "iTXt":
			if bytes.HasPrefix(c, []byte("XML:com.adobe.xmp\x00")) {
				e.XMP = true
			} else {
				e.Other = true
			}
		case "tEXt", "zTXt", "acTL":
			e.Other = true
		}
		pos += 12 + n
	}
	return e, false
}

// webpExtras walks the RIFF chunks.
func webpExtras(d []byte) (e Extras, ok bool) {
	end := min(len(d), int(binary.LittleEndian.Uint32(d[4:]))+8)
	for pos := 12; pos+8 <= end; {
		n := int(binary.LittleEndian.Uint32(d[pos+4:]))
		if n < 0 || n > end-pos-8 {
			return e, false
		}
		switch string(d[pos : pos+4]) {
		case "EXIF":
			e.EXIF = true
		case "XMP ":
			e.XMP = true
		case "ICCP":
			e.ICC = true
		}
		pos += 8 + n + n&1
	}
	return e, true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
