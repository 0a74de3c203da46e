package vips

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := []byte("RIFF\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	return append(out, body...)
}

func chunk(fourcc string, payload []byte) []byte {
	c := []byte(fourcc + "\x00\x00\x00\x00")
	binary.LittleEndian.PutUint32(c[4:], uint32(len(payload)))
	c = append(c, payload...)
	if len(payload)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func TestStripWebPMetadata(t *testing.T) {
	vp8x := chunk("VP8X", []byte{vp8xICC | vp8xEXIF | vp8xXMP | 0x10, 0, 0, 0, 9, 0, 0, 9, 0, 0})
	image := chunk("VP8 ", []byte{1, 2, 3})
	in := riff(vp8x, chunk("ICCP", []byte("profile")), image, chunk("EXIF", []byte("Exif")), chunk("XMP ", []byte("<x/>")))
	got, err := stripWebPMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	wantVP8X := chunk("VP8X", []byte{0x10, 0, 0, 0, 9, 0, 0, 9, 0, 0}) // alpha flag kept
	if want := riff(wantVP8X, image); !bytes.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// Nothing to strip: the same bytes.
	plain := riff(image)
	if got, err := stripWebPMetadata(plain); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("plain WebP changed: %q, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"short":      []byte("RIFF"),
		"not webp":   []byte("RIFF\x04\x00\x00\x00WAVE"),
		"size":       append(riff(image), 0),
		"cut chunk":  riff([]byte("VP8 \xff\x00\x00\x00")),
		"cut header": riff([]byte("VP8")),
	} {
		if _, err := stripWebPMetadata(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzStripWebPMetadata(f *testing.F) {
	f.Add(riff(chunk("VP8X", make([]byte, 10)), chunk("EXIF", []byte("x"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := stripWebPMetadata(b)
		if err == nil && len(out) > len(b) {
			t.Fatalf("output grew: %d > %d", len(out), len(b))
		}
	})
}
