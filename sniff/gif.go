package sniff

import "encoding/binary"

// inspectGIF reads the logical screen and walks the block stream, skipping
// extension and image data sub-blocks, to count image descriptors and find
// the largest frame extent. The walk stops at the trailer, at an unknown
// block type or at the end of data; each step advances at least one byte.
func inspectGIF(d []byte) (Info, *Error) {
	info := Info{Format: GIF}
	if len(d) < 13 {
		return info, corrupt(GIF, "truncated before end of logical screen descriptor (%d bytes)", len(d))
	}
	sw := int(binary.LittleEndian.Uint16(d[6:]))
	sh := int(binary.LittleEndian.Uint16(d[8:]))
	if sw == 0 || sh == 0 {
		return info, corrupt(GIF, "logical screen is %dx%d", sw, sh)
	}
	pos := 13
	if flags := d[10]; flags&0x80 != 0 {
		pos += 3 << (flags&7 + 1) // global colour table
	}
	frames, extW, extH := 0, 0, 0
walk:
	for pos < len(d) {
		switch d[pos] {
		case 0x21: // extension: introducer, label, sub-blocks
			pos = skipSubBlocks(d, pos+2)
		case 0x2c: // image descriptor
			if pos+10 > len(d) {
				break walk // truncated descriptor: not a frame
			}
			left := int(binary.LittleEndian.Uint16(d[pos+1:]))
			top := int(binary.LittleEndian.Uint16(d[pos+3:]))
			w := int(binary.LittleEndian.Uint16(d[pos+5:]))
			h := int(binary.LittleEndian.Uint16(d[pos+7:]))
			if w == 0 || h == 0 {
				return info, corrupt(GIF, "frame %d at offset %d is %dx%d", frames+1, pos, w, h)
			}
			frames++
			extW = max(extW, left+w)
			extH = max(extH, top+h)
			flags := d[pos+9]
			pos += 10
			if flags&0x80 != 0 {
				pos += 3 << (flags&7 + 1) // local colour table
			}
			pos = skipSubBlocks(d, pos+1) // LZW minimum code size, then data
		default: // 0x3b trailer, or junk that decoders treat as the end
			break walk
		}
	}
	if frames == 0 {
		return info, corrupt(GIF, "no image frames")
	}
	info.Width, info.Height = sw, sh
	info.Pages = frames
	info.Animated = frames > 1
	info.FrameExtentW, info.FrameExtentH = extW, extH
	return info, nil
}

// skipSubBlocks skips a chain of data sub-blocks starting at pos and returns
// the position after its zero terminator, or a position >= len(d) if the
// data ends first.
func skipSubBlocks(d []byte, pos int) int {
	for pos < len(d) {
		n := int(d[pos])
		pos++
		if n == 0 {
			return pos
		}
		pos += n
	}
	return pos
}
