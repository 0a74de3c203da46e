package vips

import (
	"encoding/binary"
	"errors"
)

// VP8X feature flags of the metadata chunks.
const (
	vp8xICC  = 0x20
	vp8xEXIF = 0x08
	vp8xXMP  = 0x04
)

// stripWebPMetadata drops the ICCP, EXIF and XMP chunks of an extended
// (VP8X) WebP and clears their flags. libvips 8.14.1's webpsave writes an
// EXIF chunk even when told to strip (it rebuilds EXIF from the image
// header), so stripped WebP output goes through here. Simple (VP8/VP8L)
// files have no metadata and are returned as they are.
func stripWebPMetadata(b []byte) ([]byte, error) { return stripWebP(b, false) }

// stripWebP is stripWebPMetadata, leaving the ICCP chunk and its flag when
// keepICC (a variant whose colour policy embeds a profile).
func stripWebP(b []byte, keepICC bool) ([]byte, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil, errors.New("not a WebP file")
	}
	if int(binary.LittleEndian.Uint32(b[4:8]))+8 != len(b) {
		return nil, errors.New("WebP RIFF size does not match the data")
	}
	out := make([]byte, 12, len(b))
	copy(out, b[:12])
	changed := false
	for off := 12; off < len(b); {
		if len(b)-off < 8 {
			return nil, errors.New("WebP chunk header cut short")
		}
		fourcc := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		end := off + 8 + size + size&1
		if size < 0 || end > len(b) || end < off {
			return nil, errors.New("WebP chunk runs past the end")
		}
		switch {
		case fourcc == "EXIF", fourcc == "XMP ", fourcc == "ICCP" && !keepICC:
			changed = true
		default:
			start := len(out)
			out = append(out, b[off:end]...)
			if fourcc == "VP8X" && size >= 1 {
				out[start+8] &^= vp8xEXIF | vp8xXMP
				if !keepICC {
					out[start+8] &^= vp8xICC
				}
			}
		}
		off = end
	}
	if !changed {
		return b, nil
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out, nil
}
