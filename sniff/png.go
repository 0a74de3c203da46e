package sniff

import (
	"bytes"
	"encoding/binary"
)

// inspectPNG checks the signature and the IHDR chunk, which must come first.
// CRCs are not checked: libvips 8.18 ignores a bad IHDR CRC (8.14 rejects
// it), so a CRC alone is no reason to refuse. The chunks before IDAT are
// walked for an eXIf orientation.
func inspectPNG(d []byte) (Info, *Error) {
	info := Info{Format: PNG, Pages: 1}
	if !bytes.HasPrefix(d, pngSignature) {
		return info, corrupt(PNG, "bad PNG signature % x", d[:min(len(d), 8)])
	}
	if len(d) < 8+8+13 {
		return info, corrupt(PNG, "truncated before end of IHDR (%d bytes)", len(d))
	}
	length := binary.BigEndian.Uint32(d[8:])
	if typ := d[12:16]; string(typ) != "IHDR" {
		return info, corrupt(PNG, "first chunk is %q, not IHDR", typ)
	}
	if length != 13 {
		return info, corrupt(PNG, "IHDR length %d, want 13", length)
	}
	w := binary.BigEndian.Uint32(d[16:])
	h := binary.BigEndian.Uint32(d[20:])
	depth, ctype, comp, filter, interlace := d[24], d[25], d[26], d[27], d[28]
	const maxDim = 1<<31 - 1
	if w == 0 || h == 0 || w > maxDim || h > maxDim {
		return info, corrupt(PNG, "IHDR declares %dx%d", w, h)
	}
	if !pngDepthOK(ctype, depth) {
		return info, corrupt(PNG, "IHDR colour type %d with bit depth %d", ctype, depth)
	}
	if comp != 0 || filter != 0 || interlace > 1 {
		return info, corrupt(PNG, "IHDR compression %d, filter %d, interlace %d", comp, filter, interlace)
	}
	info.Width, info.Height = int(w), int(h)

	// Ancillary chunks before the image data: look for eXIf.
	for pos := 33; pos+8 <= len(d); {
		n := binary.BigEndian.Uint32(d[pos:])
		typ := string(d[pos+4 : pos+8])
		if typ == "IDAT" || typ == "IEND" || n > maxDim {
			break
		}
		end := uint64(pos) + 8 + uint64(n)
		if typ == "eXIf" {
			p := d[pos+8 : min(end, uint64(len(d)))]
			p = bytes.TrimPrefix(p, []byte("Exif\x00\x00"))
			info.Orientation = exifOrientation(p)
		}
		if end+4 > uint64(len(d)) {
			break
		}
		pos = int(end + 4) // skip the CRC
	}
	return info, nil
}

func pngDepthOK(ctype, depth byte) bool {
	switch ctype {
	case 0: // grey
		return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
	case 3: // palette
		return depth == 1 || depth == 2 || depth == 4 || depth == 8
	case 2, 4, 6: // RGB, grey+alpha, RGBA
		return depth == 8 || depth == 16
	}
	return false
}
