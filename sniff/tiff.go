package sniff

import (
	"encoding/binary"
	"math"
)

// tiffReader reads IFDs of a classic or BigTIFF structure held in d. Every
// read is bounds-checked; out-of-range offsets read as absent.
type tiffReader struct {
	d   []byte
	bo  binary.ByteOrder
	big bool
}

// TIFF field types this package reads.
const (
	tiffByte  = 1
	tiffShort = 3
	tiffLong  = 4
	tiffLong8 = 16
)

// newTIFFReader parses the TIFF header at the start of d and returns the
// reader and the offset of the first IFD.
func newTIFFReader(d []byte) (r tiffReader, first uint64, ok bool) {
	if len(d) < 8 {
		return r, 0, false
	}
	switch string(d[:2]) {
	case "II":
		r.bo = binary.LittleEndian
	case "MM":
		r.bo = binary.BigEndian
	default:
		return r, 0, false
	}
	r.d = d
	switch r.bo.Uint16(d[2:]) {
	case 42:
		return r, uint64(r.bo.Uint32(d[4:])), true
	case 43: // BigTIFF: offset size 8, reserved 0, 8-byte first offset
		if len(d) < 16 || r.bo.Uint16(d[4:]) != 8 || r.bo.Uint16(d[6:]) != 0 {
			return r, 0, false
		}
		r.big = true
		return r, r.bo.Uint64(d[8:]), true
	}
	return r, 0, false
}

func (r tiffReader) sizes() (countSize, entrySize, valueSize uint64) {
	if r.big {
		return 8, 20, 8
	}
	return 2, 12, 4
}

// header size, which is also the smallest valid IFD offset
func (r tiffReader) headerSize() uint64 {
	if r.big {
		return 16
	}
	return 8
}

// ifd reads the directory at off. It calls fn (if not nil) for each entry
// that lies inside d, and returns the declared entry count and the offset of
// the next IFD (0 if absent or unreadable). ok is false if the entry count
// itself cannot be read.
func (r tiffReader) ifd(off uint64, fn func(tag, typ uint16, count uint64, value []byte)) (n, next uint64, ok bool) {
	cs, es, vs := r.sizes()
	dl := uint64(len(r.d))
	if off < r.headerSize() || off > dl || dl-off < cs {
		return 0, 0, false
	}
	if r.big {
		n = r.bo.Uint64(r.d[off:])
	} else {
		n = uint64(r.bo.Uint16(r.d[off:]))
	}
	base := off + cs
	avail := (dl - base) / es
	if fn != nil {
		for i := uint64(0); i < min(n, avail); i++ {
			e := r.d[base+i*es : base+(i+1)*es]
			tag, typ := r.bo.Uint16(e), r.bo.Uint16(e[2:])
			var count uint64
			if r.big {
				count = r.bo.Uint64(e[4:])
			} else {
				count = uint64(r.bo.Uint32(e[4:]))
			}
			fn(tag, typ, count, e[es-vs:])
		}
	}
	if n <= avail && dl-(base+n*es) >= vs {
		p := base + n*es
		if r.big {
			next = r.bo.Uint64(r.d[p:])
		} else {
			next = uint64(r.bo.Uint32(r.d[p:]))
		}
	}
	return n, next, true
}

// uint returns the first value of an unsigned integer field, following the
// value offset when the values do not fit in the entry.
func (r tiffReader) uint(typ uint16, count uint64, value []byte) (uint64, bool) {
	return r.uintAt(typ, count, value, 0)
}

// uintAt returns value i of an unsigned integer field of count values,
// following the value offset when the values do not fit in the entry.
func (r tiffReader) uintAt(typ uint16, count uint64, value []byte, i uint64) (uint64, bool) {
	var size uint64
	switch typ {
	case tiffByte:
		size = 1
	case tiffShort:
		size = 2
	case tiffLong:
		size = 4
	case tiffLong8:
		size = 8
	default:
		return 0, false
	}
	if i >= count {
		return 0, false
	}
	b := value
	if count > uint64(len(value))/size {
		var off uint64
		if r.big {
			off = r.bo.Uint64(value)
		} else {
			off = uint64(r.bo.Uint32(value))
		}
		if off > uint64(len(r.d)) || (uint64(len(r.d))-off)/size <= i {
			return 0, false
		}
		b = r.d[off:]
	}
	b = b[i*size:]
	switch size {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(r.bo.Uint16(b)), true
	case 4:
		return uint64(r.bo.Uint32(b)), true
	}
	return r.bo.Uint64(b), true
}

// field is one IFD entry, kept to be read after the directory.
type field struct {
	typ   uint16
	count uint64
	value []byte
}

// missingData finds the first strip or tile of the image data whose
// offset lies at or past the end of the file (with a non-zero byte count):
// its data is not there at all. libtiff reads such a strip as nothing
// and libvips 8.18 renders it black without an error, so a fuzzed TIFF
// with no pixel data (Pillow's crash-*.tif) was published as a black
// image. A strip that starts inside the file and runs past its end is a
// truncation the decoder reports itself.
func (r tiffReader) missingData(offsets, counts field) (i, off uint64, missing bool) {
	for i = 0; i < offsets.count; i++ {
		off, ok := r.uintAt(offsets.typ, offsets.count, offsets.value, i)
		if !ok {
			return 0, 0, false // the array itself is outside the file
		}
		n, ok := r.uintAt(counts.typ, counts.count, counts.value, i)
		if off >= uint64(len(r.d)) && (!ok || n > 0) {
			return i, off, true
		}
	}
	return 0, 0, false
}

// TIFF tags read here.
const (
	tagImageWidth      = 256
	tagImageLength     = 257
	tagBitsPerSample   = 258
	tagCompression     = 259
	tagOrientation     = 274
	tagSamplesPerPixel = 277
	tagStripOffsets    = 273
	tagStripByteCounts = 279
	tagTileOffsets     = 324
	tagTileByteCounts  = 325
)

// inspectTIFF reads ImageWidth and ImageLength from the first IFD, sanity
// checks the sample layout the way libvips does, and counts the IFD chain
// (at most MaxTIFFPages, stopping at a loop or an unreadable IFD).
func inspectTIFF(d []byte) (Info, *Error) {
	info := Info{Format: TIFF}
	r, first, ok := newTIFFReader(d)
	if !ok {
		return info, corrupt(TIFF, "bad TIFF header % x", d[:min(len(d), 16)])
	}
	var w, h uint64
	var haveW, haveH bool
	spp, bps := uint64(1), uint64(1) // TIFF defaults
	var offsets, counts field
	n, next, ok := r.ifd(first, func(tag, typ uint16, count uint64, value []byte) {
		switch tag {
		case tagStripOffsets, tagTileOffsets:
			offsets = field{typ, count, value}
		case tagStripByteCounts, tagTileByteCounts:
			counts = field{typ, count, value}
		}
		v, ok := r.uint(typ, count, value)
		if !ok {
			return
		}
		switch tag {
		case tagImageWidth:
			w, haveW = v, true
		case tagImageLength:
			h, haveH = v, true
		case tagBitsPerSample:
			bps = v
		case tagSamplesPerPixel:
			spp = v
		case tagOrientation:
			if v >= 1 && v <= 8 {
				info.Orientation = int(v)
			}
		}
	})
	switch {
	case !ok:
		return info, corrupt(TIFF, "first IFD offset %d invalid (file is %d bytes)", first, len(d))
	case n == 0:
		return info, corrupt(TIFF, "first IFD has no entries")
	case !haveW || !haveH:
		return info, corrupt(TIFF, "first IFD has no ImageWidth/ImageLength")
	case w == 0 || h == 0 || w > math.MaxInt32 || h > math.MaxInt32:
		return info, corrupt(TIFF, "first IFD declares %dx%d", w, h)
	case spp == 0 || spp > 10000:
		// libvips: "samples out of range"; libtiff has crashed on such files.
		return info, corrupt(TIFF, "SamplesPerPixel %d out of range", spp)
	case bps == 0 || bps > 64:
		return info, corrupt(TIFF, "BitsPerSample %d out of range", bps)
	}
	if i, off, missing := r.missingData(offsets, counts); missing {
		return info, corrupt(TIFF, "image data missing: strip or tile %d starts at byte %d, past the end of the file (%d bytes)", i, off, len(d))
	}
	info.Width, info.Height = int(w), int(h)

	// Count pages. Only each IFD's entry count and next pointer are read.
	info.Pages = 1
	var seen map[uint64]bool
	for prev := first; next != 0 && info.Pages < MaxTIFFPages; {
		if next == prev {
			break
		}
		if seen == nil {
			seen = map[uint64]bool{first: true}
		}
		if seen[next] {
			break // IFD loop
		}
		seen[next] = true
		nn, nx, ok := r.ifd(next, nil)
		if !ok || nn == 0 {
			break
		}
		info.Pages++
		prev, next = next, nx
	}
	return info, nil
}

// exifOrientation returns the Orientation tag (1..8) of IFD0 of the
// TIFF-structured EXIF block t, or 0.
func exifOrientation(t []byte) int {
	r, first, ok := newTIFFReader(t)
	if !ok {
		return 0
	}
	o := 0
	r.ifd(first, func(tag, typ uint16, count uint64, value []byte) {
		if tag != tagOrientation || o != 0 {
			return
		}
		if v, ok := r.uint(typ, count, value); ok && v >= 1 && v <= 8 {
			o = int(v)
		}
	})
	return o
}

// TIFFCompression is the Compression tag (259) of a TIFF's first IFD: 1
// (none), 5 (LZW), 7 (JPEG), 34925 (LZMA) …; 1 when the tag is absent, as
// the TIFF spec says; ok is false when d is not a readable TIFF.
func TIFFCompression(d []byte) (code int, ok bool) {
	r, first, ok := newTIFFReader(d)
	if !ok {
		return 0, false
	}
	code = 1
	_, _, ok = r.ifd(first, func(tag, typ uint16, count uint64, value []byte) {
		if tag == tagCompression {
			if v, vok := r.uint(typ, count, value); vok && v <= math.MaxUint16 {
				code = int(v)
			}
		}
	})
	return code, ok
}
