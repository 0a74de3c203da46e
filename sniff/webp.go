package sniff

import (
	"bytes"
	"encoding/binary"
)

// inspectWebP reads the first chunk after "RIFF....WEBP": a VP8 key frame
// header, a VP8L header or a VP8X canvas. For VP8X it walks the remaining
// chunks (bounded by the RIFF size and the data) to count ANMF frames, find
// their extent and read an EXIF orientation.
func inspectWebP(d []byte) (Info, *Error) {
	info := Info{Format: WebP, Pages: 1}
	end := len(d)
	if riff := uint64(binary.LittleEndian.Uint32(d[4:])) + 8; riff < uint64(end) {
		end = int(riff) // libwebp ignores bytes after the RIFF payload
	}
	if end < 20 {
		return info, corrupt(WebP, "truncated before first chunk (%d bytes)", end)
	}
	fourcc := string(d[12:16])
	size := uint64(binary.LittleEndian.Uint32(d[16:]))
	p := d[20:min(uint64(end), 20+size)]

	switch fourcc {
	case "VP8 ":
		if len(p) < 10 {
			return info, corrupt(WebP, "truncated VP8 frame header")
		}
		if p[0]&1 != 0 {
			return info, corrupt(WebP, "VP8 frame is not a key frame")
		}
		if p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a {
			return info, corrupt(WebP, "bad VP8 start code % x", p[3:6])
		}
		info.Width = int(binary.LittleEndian.Uint16(p[6:]) & 0x3fff)
		info.Height = int(binary.LittleEndian.Uint16(p[8:]) & 0x3fff)
	case "VP8L":
		if len(p) < 5 {
			return info, corrupt(WebP, "truncated VP8L header")
		}
		if p[0] != 0x2f {
			return info, corrupt(WebP, "bad VP8L signature 0x%02x", p[0])
		}
		bits := binary.LittleEndian.Uint32(p[1:])
		if bits>>29 != 0 {
			return info, corrupt(WebP, "VP8L version %d", bits>>29)
		}
		info.Width = int(bits&0x3fff) + 1
		info.Height = int(bits>>14&0x3fff) + 1
	case "VP8X":
		if len(p) < 10 {
			return info, corrupt(WebP, "truncated VP8X chunk")
		}
		animated := p[0]&0x02 != 0
		info.Width = int(u24le(p[4:])) + 1
		info.Height = int(u24le(p[7:])) + 1
		frames := 0
		for pos := 20 + size + size&1; pos+8 <= uint64(end); {
			typ := string(d[pos : pos+4])
			n := uint64(binary.LittleEndian.Uint32(d[pos+4:]))
			c := d[pos+8 : min(uint64(end), pos+8+n)]
			switch typ {
			case "ANMF":
				frames++
				if len(c) >= 12 {
					info.FrameExtentW = max(info.FrameExtentW, 2*int(u24le(c[0:]))+int(u24le(c[6:]))+1)
					info.FrameExtentH = max(info.FrameExtentH, 2*int(u24le(c[3:]))+int(u24le(c[9:]))+1)
				}
			case "EXIF":
				info.Orientation = exifOrientation(bytes.TrimPrefix(c, []byte("Exif\x00\x00")))
			}
			pos += 8 + n + n&1
		}
		if animated {
			if frames == 0 {
				return info, corrupt(WebP, "animated WebP without ANMF frames")
			}
			info.Animated = true
			info.Pages = frames
		} else {
			info.FrameExtentW, info.FrameExtentH = 0, 0
		}
	default:
		return info, corrupt(WebP, "first chunk is %q, not VP8, VP8L or VP8X", fourcc)
	}
	if info.Width == 0 || info.Height == 0 {
		return info, corrupt(WebP, "%s declares %dx%d", fourcc, info.Width, info.Height)
	}
	return info, nil
}

func u24le(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
}
