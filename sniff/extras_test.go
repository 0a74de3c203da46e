package sniff

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

// TestInspectExtras: the metadata a re-encode would drop is found in
// JPEG segments, PNG chunks (also after IDAT) and WebP chunks; a plain
// file has none; other formats are not known.
func TestInspectExtras(t *testing.T) {
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, image.NewRGBA(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	app := func(m byte, payload string) []byte { return jpegSeg(m, []byte(payload)) }
	withSeg := func(seg []byte) []byte { return cat(plain.Bytes()[:2], seg, plain.Bytes()[2:]) }
	idat := pngChunk("IDAT", []byte{1, 2, 3})
	iend := pngChunk("IEND", nil)
	vp8l := riffChunk("VP8L", []byte{0x2f, 0, 0, 0, 0})
	for _, c := range []struct {
		name string
		data []byte
		want Extras
		ok   bool
	}{
		{"plain jpeg", plain.Bytes(), Extras{Components: 3}, true},
		{"jpeg exif", withSeg(app(0xe1, "Exif\x00\x00MM")), Extras{EXIF: true, Components: 3}, true},
		{"jpeg xmp", withSeg(app(0xe1, "http://ns.adobe.com/xap/1.0/\x00<x/>")), Extras{XMP: true, Components: 3}, true},
		{"jpeg icc", withSeg(app(0xe2, "ICC_PROFILE\x00\x01\x01")), Extras{ICC: true, Components: 3}, true},
		{"jpeg comment", withSeg(app(0xfe, "hello")), Extras{Other: true, Components: 3}, true},
		{"jpeg iptc", withSeg(app(0xed, "Photoshop 3.0\x00")), Extras{Other: true, Components: 3}, true},
		{"jpeg jfif", withSeg(app(0xe0, "JFIF\x00\x01\x02")), Extras{Components: 3}, true},
		{"jpeg cut", plain.Bytes()[:40], Extras{Components: 0}, false},
		{"png plain", pngFile(ihdr(2, 2, 8, 2), idat, iend), Extras{BitDepth: 8}, true},
		{"png 16 bit", pngFile(ihdr(2, 2, 16, 2), idat, iend), Extras{BitDepth: 16}, true},
		{"png text after IDAT", pngFile(ihdr(2, 2, 8, 2), idat, pngChunk("tEXt", []byte("a\x00b")), iend), Extras{Other: true, BitDepth: 8}, true},
		{"png icc exif xmp", pngFile(ihdr(2, 2, 8, 2), pngChunk("iCCP", []byte("x")), pngChunk("eXIf", []byte("MM")),
			pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00")), idat, iend), Extras{ICC: true, EXIF: true, XMP: true, BitDepth: 8}, true},
		{"apng", pngFile(ihdr(2, 2, 8, 2), pngChunk("acTL", make([]byte, 8)), idat, iend), Extras{Other: true, BitDepth: 8}, true},
		{"png without IEND", pngFile(ihdr(2, 2, 8, 2), idat), Extras{BitDepth: 8}, false},
		{"webp plain", webpFile(vp8l), Extras{}, true},
		{"webp icc exif xmp", webpFile(riffChunk("VP8X", make([]byte, 10)), riffChunk("ICCP", []byte("x")), vp8l,
			riffChunk("EXIF", []byte("MM")), riffChunk("XMP ", []byte("<x/>"))), Extras{ICC: true, EXIF: true, XMP: true}, true},
		{"gif", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00"), Extras{}, false},
	} {
		got, ok := InspectExtras(c.data)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
		if ok && got.Any() != (c.want.EXIF || c.want.XMP || c.want.ICC || c.want.Other) {
			t.Errorf("%s: Any() = %v", c.name, got.Any())
		}
	}
	// The corpus: a camera JPEG's EXIF, a CMYK JPEG's four components.
	if e, ok := InspectExtras(readCorpus(t, "jpeg-exif-orientation-6.jpg")); !ok || !e.EXIF {
		t.Errorf("exif-orientation-6: %+v %v", e, ok)
	}
	if e, ok := InspectExtras(readCorpus(t, "jpeg-cmyk-pil-sample.jpg")); !ok || e.Components != 4 {
		t.Errorf("cmyk: %+v %v", e, ok)
	}
}
