package sniff

import "bytes"

// inspectJPEG walks markers from SOI (d starts FF D8), skipping segments by
// their length, to the first SOFn. It keeps walking to SOS for an APP1 Exif
// segment, because libjpeg reads every marker before the scan.
func inspectJPEG(d []byte) (Info, *Error) {
	info := Info{Format: JPEG, Pages: 1}
	sof := false
	pos := 2
walk:
	for {
		// libjpeg skips (with a warning) junk before a marker, and any
		// number of 0xFF fill bytes.
		for pos < len(d) && d[pos] != 0xff {
			pos++
		}
		for pos < len(d) && d[pos] == 0xff {
			pos++
		}
		if pos >= len(d) {
			break
		}
		m := d[pos]
		pos++
		switch {
		case m == 0x00:
			continue // stuffed zero: not a marker
		case m == 0x01 || (m >= 0xd0 && m <= 0xd8):
			continue // TEM, RST0-7, SOI: no length
		case m == 0xd9: // EOI
			break walk
		}
		if pos+2 > len(d) {
			break
		}
		length := int(d[pos])<<8 | int(d[pos+1])
		if length < 2 {
			if !sof {
				return info, corrupt(JPEG, "marker 0xFF%02X at offset %d has length %d", m, pos-2, length)
			}
			break
		}
		seg := d[pos+2 : min(pos+length, len(d))] // payload, clipped at EOF
		truncated := pos+length > len(d)

		switch {
		case m == 0xf7:
			return info, unsupported(JPEGLS, "JPEG-LS image")
		case isSOF(m):
			if sof {
				return info, corrupt(JPEG, "second SOF marker 0xFF%02X at offset %d", m, pos-2)
			}
			if len(seg) < 6 {
				return info, corrupt(JPEG, "truncated in SOF marker 0xFF%02X at offset %d", m, pos-2)
			}
			h := int(seg[1])<<8 | int(seg[2])
			w := int(seg[3])<<8 | int(seg[4])
			nc := int(seg[5])
			if w == 0 || h == 0 {
				return info, corrupt(JPEG, "SOF declares %dx%d", w, h)
			}
			if nc == 0 || length != 8+3*nc {
				return info, corrupt(JPEG, "SOF length %d does not match %d components", length, nc)
			}
			sof = true
			info.Width, info.Height = w, h
			info.Arithmetic = m >= 0xc9 && m != 0xcc
		case m == 0xda: // SOS
			if !sof {
				return info, corrupt(JPEG, "SOS before SOF at offset %d", pos-2)
			}
			break walk
		case m == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00")) && len(seg) >= 6:
			// libvips keeps the last Exif segment; do the same.
			if o := exifOrientation(seg[6:]); o != 0 {
				info.Orientation = o
			}
		}
		if truncated {
			if !sof {
				return info, corrupt(JPEG, "truncated in marker 0xFF%02X segment at offset %d before SOF (segment needs %d bytes, %d left)",
					m, pos-2, length, len(d)-pos)
			}
			break
		}
		pos += length
	}
	if !sof {
		return info, corrupt(JPEG, "no SOF marker before end of data (%d bytes)", len(d))
	}
	return info, nil
}

// isSOF reports whether m is a start-of-frame marker: C0-CF except DHT (C4),
// JPG (C8) and DAC (CC).
func isSOF(m byte) bool {
	return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc
}
