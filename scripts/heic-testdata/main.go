// Command heic-testdata makes the sources of testdata/heic/ and patches
// heif-enc's output (scripts/make-heic-testdata.sh runs it):
//
//	heic-testdata sources DIR       write corner.png, alpha.png, big.png, iphone.jpg into DIR
//	heic-testdata irot IN OUT TURNS add an irot property (TURNS anticlockwise quarter turns) to IN's primary image
//
// Every source has a red 16×16 square in its top-left corner (as stored),
// so a test can tell from the pixels whether a decoder turned the image
// upright. iphone.jpg is what an iPhone stores: landscape pixels, EXIF
// orientation 6 (rotate 90° clockwise to display) and a Display P3 ICC
// profile; heif-enc 1.15 keeps the EXIF but writes no irot, so `irot`
// adds the one an iPhone writes (3 turns anticlockwise = 90° clockwise).
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "sources":
		err = sources(os.Args[2])
	case len(os.Args) == 5 && os.Args[1] == "irot":
		var turns int
		if turns, err = strconv.Atoi(os.Args[4]); err == nil {
			err = addIrot(os.Args[2], os.Args[3], byte(turns&3))
		}
	default:
		err = errors.New("usage: heic-testdata sources DIR | irot IN OUT TURNS")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "heic-testdata:", err)
		os.Exit(1)
	}
}

// picture is w×h: a red 16×16 top-left corner on a green/blue gradient;
// with alpha, its right half is half transparent.
func picture(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{0, uint8(60 + x*120/w), uint8(120 + y*120/h), 255}
			if x < 16 && y < 16 {
				c = color.NRGBA{255, 0, 0, 255}
			}
			if alpha && x >= w/2 {
				c.A = 128
			}
			img.Set(x, y, c)
		}
	}
	return img
}

func sources(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range []struct {
		name  string
		w, h  int
		alpha bool
	}{{"corner.png", 64, 48, false}, {"alpha.png", 48, 32, true}, {"big.png", 4096, 4096, false}} {
		img := picture(s.w, s.h, s.alpha)
		if s.name == "big.png" { // flat grey: compresses to almost nothing
			for i := range img.Pix {
				img.Pix[i] = 128
			}
		}
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, s.name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(96, 64, false), &jpeg.Options{Quality: 92}); err != nil {
		return err
	}
	j := b.Bytes()
	// EXIF (APP1): IFD0 with Orientation = 6. ICC (APP2): Display P3.
	exif := []byte("Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00")
	icc := append([]byte("ICC_PROFILE\x00\x01\x01"), displayP3()...)
	out := []byte{0xff, 0xd8}
	out = append(out, segment(0xe1, exif)...)
	out = append(out, segment(0xe2, icc)...)
	out = append(out, j[2:]...)
	return os.WriteFile(filepath.Join(dir, "iphone.jpg"), out, 0o644)
}

func segment(marker byte, payload []byte) []byte {
	n := len(payload) + 2
	return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, payload...)
}

// displayP3 is an ICC v2 matrix/TRC display profile with Display P3's
// colorants (D50-adapted, as in Apple's profile) and the sRGB curve.
func displayP3() []byte {
	s15 := func(b []byte, v float64) []byte {
		return binary.BigEndian.AppendUint32(b, uint32(int32(math.Round(v*65536))))
	}
	xyz := func(x, y, z float64) []byte {
		b := []byte("XYZ \x00\x00\x00\x00")
		return s15(s15(s15(b, x), y), z)
	}
	desc := func(s string) []byte {
		b := []byte("desc\x00\x00\x00\x00")
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)+1))
		b = append(append(b, s...), 0)
		b = append(b, make([]byte, 4+4+2+1+67)...)
		return b
	}
	para := []byte("para\x00\x00\x00\x00\x00\x03\x00\x00")
	for _, v := range []float64{2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045} {
		para = s15(para, v)
	}
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", desc("Display P3 (imgbatch test profile)")},
		{"cprt", append([]byte("text\x00\x00\x00\x00"), "CC0\x00"...)},
		{"wtpt", xyz(0.964203, 1, 0.824905)},
		{"rXYZ", xyz(0.515121, 0.241196, -0.001053)},
		{"gXYZ", xyz(0.291977, 0.692245, 0.041885)},
		{"bXYZ", xyz(0.157104, 0.066574, 0.784073)},
		{"rTRC", para}, {"gTRC", para}, {"bTRC", para},
	}
	table := 4 + 12*len(tags)
	var body []byte
	var entries []byte
	entries = binary.BigEndian.AppendUint32(entries, uint32(len(tags)))
	for _, t := range tags {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		off := 128 + table + len(body)
		entries = append(entries, t.sig...)
		entries = binary.BigEndian.AppendUint32(entries, uint32(off))
		entries = binary.BigEndian.AppendUint32(entries, uint32(len(t.data)))
		body = append(body, t.data...)
	}
	size := 128 + table + len(body)
	h := make([]byte, 0, 128)
	h = binary.BigEndian.AppendUint32(h, uint32(size))
	h = append(h, "lcms"...)
	h = append(h, 0x02, 0x10, 0, 0)
	h = append(h, "mntrRGB XYZ "...)
	h = append(h, 0x07, 0xea, 0, 12, 0, 7, 0, 0, 0, 0, 0, 0) // 2026-12-07
	h = append(h, "acsp"...)
	h = append(h, make([]byte, 4+4+4+4+8+4)...) // platform, flags, manufacturer, model, attributes, intent
	h = s15(s15(s15(h, 0.9642), 1), 0.8249)
	h = append(h, make([]byte, 4+16+28)...) // creator, profile ID, reserved
	return append(append(h, entries...), body...)
}

// addIrot gives the primary item of the HEIF file in an irot property:
// the property goes at the end of ipco and is associated with the primary
// item in ipma; the enclosing box sizes grow and iloc's absolute offsets
// (mdat follows meta in heif-enc's files) move by the added bytes.
func addIrot(in, out string, turns byte) error {
	d, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	meta, ok := find(d, 0, len(d), "meta")
	if !ok {
		return errors.New("no meta box")
	}
	mb := meta.start + 12 // FullBox
	pitm, ok := find(d, mb, meta.end, "pitm")
	if !ok || d[pitm.start+8] != 0 {
		return errors.New("no version-0 pitm")
	}
	primary := uint32(binary.BigEndian.Uint16(d[pitm.start+12:]))
	iprp, ok := find(d, mb, meta.end, "iprp")
	if !ok {
		return errors.New("no iprp")
	}
	ipco, ok := find(d, iprp.start+8, iprp.end, "ipco")
	if !ok {
		return errors.New("no ipco")
	}
	ipma, ok := find(d, iprp.start+8, iprp.end, "ipma")
	if !ok {
		return errors.New("no ipma")
	}
	// The new property's 1-based index in ipco.
	index := 0
	for p := ipco.start + 8; p+8 <= ipco.end; p += int(binary.BigEndian.Uint32(d[p:])) {
		index++
	}
	index++
	irot := []byte{0, 0, 0, 9, 'i', 'r', 'o', 't', turns}

	// ipma: find the primary item's entry and append one association.
	version, flags := d[ipma.start+8], binary.BigEndian.Uint32(d[ipma.start+8:])&0xffffff
	p := ipma.start + 12
	count := int(binary.BigEndian.Uint32(d[p:]))
	p += 4
	idSize, assocSize := 2, 1
	if version >= 1 {
		idSize = 4
	}
	if flags&1 != 0 {
		assocSize = 2
	}
	insertAt, countAt := -1, -1
	for e := 0; e < count; e++ {
		var id uint32
		if idSize == 2 {
			id = uint32(binary.BigEndian.Uint16(d[p:]))
		} else {
			id = binary.BigEndian.Uint32(d[p:])
		}
		n := int(d[p+idSize])
		if id == primary {
			countAt, insertAt = p+idSize, p+idSize+1+n*assocSize
		}
		p += idSize + 1 + n*assocSize
	}
	if insertAt < 0 {
		return errors.New("primary item has no ipma entry")
	}
	var assoc []byte
	if assocSize == 1 {
		if index > 127 {
			return errors.New("too many properties")
		}
		assoc = []byte{0x80 | byte(index)} // essential
	} else {
		assoc = []byte{0x80 | byte(index>>8), byte(index)}
	}

	// Rebuild: [0, ipco.end) + irot + [ipco.end, insertAt) + assoc + rest.
	if !(ipco.end <= insertAt) {
		return errors.New("ipma before ipco: not handled")
	}
	delta := len(irot) + len(assoc)
	nd := make([]byte, 0, len(d)+delta)
	nd = append(nd, d[:ipco.end]...)
	nd = append(nd, irot...)
	nd = append(nd, d[ipco.end:insertAt]...)
	nd = append(nd, assoc...)
	nd = append(nd, d[insertAt:]...)
	grow := func(boxStart, by int) { // boxStart in the new file
		binary.BigEndian.PutUint32(nd[boxStart:], binary.BigEndian.Uint32(nd[boxStart:])+uint32(by))
	}
	grow(meta.start, delta)
	grow(iprp.start, delta)
	grow(ipco.start, len(irot))
	grow(ipma.start+len(irot), len(assoc))
	nd[countAt+len(irot)]++
	// iloc precedes iprp in heif-enc's meta; its offsets are absolute.
	iloc, ok := find(nd, mb, meta.end+delta, "iloc")
	if !ok || iloc.start > iprp.start {
		return errors.New("no iloc before iprp")
	}
	if err := shiftIloc(nd[iloc.start+8:iloc.end], uint64(delta)); err != nil {
		return err
	}
	return os.WriteFile(out, nd, 0o644)
}

type span struct{ start, end int }

// find returns the first box of type typ in d[from:to].
func find(d []byte, from, to int, typ string) (span, bool) {
	for p := from; p+8 <= to; {
		n := int(binary.BigEndian.Uint32(d[p:]))
		if n < 8 || p+n > to {
			return span{}, false
		}
		if string(d[p+4:p+8]) == typ {
			return span{p, p + n}, true
		}
		p += n
	}
	return span{}, false
}

// shiftIloc adds delta to every file offset in an iloc payload (FullBox).
func shiftIloc(b []byte, delta uint64) error {
	version := b[0]
	p := 4
	offSize, lenSize := int(b[p]>>4), int(b[p]&15)
	baseSize, idxSize := int(b[p+1]>>4), 0
	if version == 1 || version == 2 {
		idxSize = int(b[p+1] & 15)
	}
	p += 2
	var count int
	if version < 2 {
		count = int(binary.BigEndian.Uint16(b[p:]))
		p += 2
	} else {
		count = int(binary.BigEndian.Uint32(b[p:]))
		p += 4
	}
	get := func(n int) uint64 {
		var v uint64
		for i := 0; i < n; i++ {
			v = v<<8 | uint64(b[p+i])
		}
		return v
	}
	put := func(n int, v uint64) {
		for i := n - 1; i >= 0; i-- {
			b[p+i] = byte(v)
			v >>= 8
		}
	}
	for i := 0; i < count; i++ {
		if version < 2 {
			p += 2
		} else {
			p += 4
		}
		method := 0
		if version >= 1 {
			method = int(binary.BigEndian.Uint16(b[p:]) & 15)
			p += 2
		}
		p += 2 // data_reference_index
		shiftBase := baseSize > 0 && method == 0
		if shiftBase {
			put(baseSize, get(baseSize)+delta)
		}
		p += baseSize
		extents := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		for e := 0; e < extents; e++ {
			p += idxSize
			if !shiftBase && method == 0 && offSize > 0 {
				put(offSize, get(offSize)+delta)
			}
			p += offSize + lenSize
		}
	}
	return nil
}
