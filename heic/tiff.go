package heic

import (
	"encoding/binary"
	"fmt"
	"io"
)

// TIFF tags written by writeTIFFHeader.
const (
	tagImageWidth      = 256
	tagImageLength     = 257
	tagBitsPerSample   = 258
	tagCompression     = 259
	tagPhotometric     = 262
	tagStripOffsets    = 273
	tagSamplesPerPixel = 277
	tagRowsPerStrip    = 278
	tagStripByteCounts = 279
	tagPlanarConfig    = 284
	tagExtraSamples    = 338
	tagICCProfile      = 34675
)

// tiffHeaderSize is the size of what writeTIFFHeader writes: the pixels
// (one strip) follow.
func tiffHeaderSize(channels int, icc []byte) int {
	n := 8 + 2 + tiffTags(channels, icc)*12 + 4 + 8
	return n + len(icc) + len(icc)&1
}

func tiffTags(channels int, icc []byte) int {
	n := 10
	if channels == 4 {
		n++
	}
	if len(icc) > 0 {
		n++
	}
	return n
}

// writeTIFFHeader writes a little-endian baseline TIFF header for an
// uncompressed, chunky, 8-bit RGB (channels 3) or RGBA (4, unassociated
// alpha) image of w × h in one strip, with the ICC profile when given and
// no orientation tag (the pixels are upright). The caller writes the
// w × h × channels pixel bytes, row by row, right after it.
func writeTIFFHeader(out io.Writer, w, h, channels int, icc []byte) error {
	if channels != 3 && channels != 4 {
		return fmt.Errorf("tiff: %d channels", channels)
	}
	pixels := uint64(w) * uint64(h) * uint64(channels)
	hdr := tiffHeaderSize(channels, icc)
	if w <= 0 || h <= 0 || pixels+uint64(hdr) > 1<<32-1 {
		return fmt.Errorf("tiff: %dx%d×%d does not fit a classic TIFF", w, h, channels)
	}
	ntags := tiffTags(channels, icc)
	ifdEnd := 8 + 2 + ntags*12 + 4
	bpsOff := ifdEnd     // BitsPerSample values: 4 SHORTs (8 bytes)
	iccOff := bpsOff + 8 // ICC profile
	pixOff := hdr        // the strip
	b := make([]byte, 0, hdr)
	le := binary.LittleEndian
	b = append(b, 'I', 'I', 42, 0)
	b = le.AppendUint32(b, 8)
	b = le.AppendUint16(b, uint16(ntags))
	tag := func(t, typ uint16, count, value uint32) {
		b = le.AppendUint16(b, t)
		b = le.AppendUint16(b, typ)
		b = le.AppendUint32(b, count)
		if typ == 3 && count == 1 { // SHORT, left-justified in the value field
			b = le.AppendUint16(b, uint16(value))
			b = le.AppendUint16(b, 0)
			return
		}
		b = le.AppendUint32(b, value)
	}
	const short, long, undefined = 3, 4, 7
	tag(tagImageWidth, long, 1, uint32(w))
	tag(tagImageLength, long, 1, uint32(h))
	tag(tagBitsPerSample, short, uint32(channels), uint32(bpsOff))
	tag(tagCompression, short, 1, 1)
	tag(tagPhotometric, short, 1, 2) // RGB
	tag(tagStripOffsets, long, 1, uint32(pixOff))
	tag(tagSamplesPerPixel, short, 1, uint32(channels))
	tag(tagRowsPerStrip, long, 1, uint32(h))
	tag(tagStripByteCounts, long, 1, uint32(pixels))
	tag(tagPlanarConfig, short, 1, 1) // chunky
	if channels == 4 {
		tag(tagExtraSamples, short, 1, 2) // unassociated alpha
	}
	if len(icc) > 0 {
		tag(tagICCProfile, undefined, uint32(len(icc)), uint32(iccOff))
	}
	b = le.AppendUint32(b, 0) // no next IFD
	for range 4 {
		b = le.AppendUint16(b, 8)
	}
	b = append(b, icc...)
	if len(icc)&1 == 1 {
		b = append(b, 0)
	}
	if len(b) != hdr {
		return fmt.Errorf("tiff: header is %d bytes, want %d", len(b), hdr)
	}
	_, err := out.Write(b)
	return err
}
