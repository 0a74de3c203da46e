package worker

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/imgbatch/imgbatch/vips"
)

// grayTIFF is a little-endian w×h 8-bit grey TIFF in one strip whose
// Compression tag says compression (the pixel bytes are not compressed:
// the guard must decide from the header alone).
func grayTIFF(w, h, compression int) []byte {
	type tag struct{ id, typ, count, value int }
	tags := []tag{
		{256, 3, 1, w}, {257, 3, 1, h}, {258, 3, 1, 8}, {259, 3, 1, compression},
		{262, 3, 1, 1}, {273, 4, 1, 0}, {277, 3, 1, 1}, {278, 3, 1, h}, {279, 4, 1, w * h},
	}
	ifdLen := 2 + 12*len(tags) + 4
	data := 8 + ifdLen
	b := make([]byte, data+w*h)
	copy(b, "II*\x00")
	binary.LittleEndian.PutUint32(b[4:], 8)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(tags)))
	for i, t := range tags {
		e := b[10+12*i:]
		if t.id == 273 {
			t.value = data
		}
		binary.LittleEndian.PutUint16(e, uint16(t.id))
		binary.LittleEndian.PutUint16(e[2:], uint16(t.typ))
		binary.LittleEndian.PutUint32(e[4:], uint32(t.count))
		if t.typ == 3 {
			binary.LittleEndian.PutUint16(e[8:], uint16(t.value))
		} else {
			binary.LittleEndian.PutUint32(e[8:], uint32(t.value))
		}
	}
	for i := range w * h {
		b[data+i] = byte(100 + i%50)
	}
	return b
}

// TestGuardRefusesTIFFCodecsLibtiffLacks: a TIFF whose compression the
// build's libtiff cannot decode (LZMA, ZSTD) is UnsupportedFormat before
// libvips sees it — libvips would render it black and call it done — while
// the same image uncompressed passes the guard.
func TestGuardRefusesTIFFCodecsLibtiffLacks(t *testing.T) {
	vips.Start(vips.Config{})
	const budget = 1 << 20
	if _, err := Guard(grayTIFF(16, 8, 1), budget, budget, RenderOptions{}); err != nil {
		t.Fatalf("uncompressed TIFF refused: %v", err)
	}
	for code, name := range map[int]string{34925: "LZMA", 50000: "ZSTD", 40000: "unknown"} {
		_, err := Guard(grayTIFF(16, 8, code), budget, budget, RenderOptions{})
		var ie *ItemError
		if !errors.As(err, &ie) || ie.Code != CodeUnsupported || !strings.Contains(err.Error(), name+" compression") {
			t.Errorf("compression %d: %v, want UnsupportedFormat naming %s", code, err, name)
		}
	}
}
